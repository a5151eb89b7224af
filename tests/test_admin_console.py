"""The admin's debugging pages: the history of claim changes and the token inspector, with real permissions and CSRF."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from auth0_drf.diagnosis import diagnose
from auth0_drf.models import ClaimRecord
from auth0_drf.rules import ClaimEquals
from auth0_drf.signing import LocalKey

pytestmark = pytest.mark.django_db

User = get_user_model()
PLAN = "https://myapp.example/plan"
SECRET = "https://myapp.example/national_id"
INSPECTOR = reverse("admin:auth0_drf_tokeninspector_changelist")
CHANGES = reverse("admin:auth0_drf_claimchange_changelist")
RECORDS = reverse("admin:auth0_drf_claimrecord_changelist")


def staff_client(*perms: str, staff: bool = True, superuser: bool = False) -> Client:
    name = f"user{User.objects.count()}"
    if superuser:
        user = User.objects.create_superuser(name, f"{name}@example.test", "pw")
    else:
        user = User.objects.create_user(name, f"{name}@example.test", "pw", is_staff=staff)
        user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def inspector() -> Client:
    return staff_client("use_token_inspector")


def record_url(sub: str) -> str:
    return reverse("admin:auth0_drf_claimrecord_change", args=[ClaimRecord.objects.get(subject=sub).pk])


# --- permissions of every page -------------------------------------------------------------------


PAGES = {
    "inspector": (INSPECTOR, "use_token_inspector"),
    "recent changes": (CHANGES, "view_claimrecord"),
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_anonymous_and_non_staff_users_are_sent_to_the_login_page(page):
    url, _perm = PAGES[page]
    for client in (Client(), staff_client(PAGES[page][1], staff=False)):
        for response in (client.get(url), client.post(url, {"token": "x"})):
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("page", sorted(PAGES))
def test_staff_without_the_permission_are_refused(page):
    url, perm = PAGES[page]
    other = next(p for _u, p in PAGES.values() if p != perm)
    client = staff_client(other, "view_user")
    assert client.get(url).status_code == 403
    assert client.post(url, {"token": "x"}).status_code in (403, 405)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_staff_with_the_permission_and_superusers_see_the_page(page):
    url, perm = PAGES[page]
    assert staff_client(perm).get(url).status_code == 200
    assert staff_client(superuser=True).get(url).status_code == 200


def test_a_records_page_with_its_history_needs_the_view_permission(see):
    see("auth0|perm", **{PLAN: "a"})
    url = record_url("auth0|perm")
    assert Client().get(url).status_code == 302
    assert staff_client("use_token_inspector").get(url).status_code == 403
    assert staff_client("view_claimrecord").get(url).status_code == 200


def test_the_admin_index_links_the_inspector_only_for_those_who_may_use_it():
    assert f'href="{INSPECTOR}"' in staff_client("use_token_inspector").get(reverse("admin:index")).content.decode()
    html = staff_client("view_claimrecord").get(reverse("admin:index")).content.decode()
    assert f'href="{INSPECTOR}"' not in html
    assert f'href="{CHANGES}"' in html


# --- the history in the admin ---------------------------------------------------------------------


def test_a_records_page_shows_its_changes_escaped_and_redacted(see, settings, auth0_issuer):
    settings.AUTH0_DRF = auth0_issuer.settings(REDACTED_CLAIMS=[SECRET])
    see("auth0|page", **{PLAN: "free", SECRET: "AB-1"})
    see("auth0|page", **{PLAN: "<b>pro</b>", SECRET: "CD-2"})
    html = staff_client("view_claimrecord").get(record_url("auth0|page")).content.decode()
    assert '<table class="auth0-drf-changes">' in html
    assert '<td class="change-claim">https://myapp.example/plan</td>' in html
    assert "<code>&quot;free&quot;</code>" in html
    assert "<code>&quot;&lt;b&gt;pro&lt;/b&gt;&quot;</code>" in html
    assert '<td class="change-claim">https://myapp.example/national_id</td>' in html
    assert "<code>&quot;[redacted]&quot;</code>" not in html and "<code>[redacted]</code>" in html
    assert "AB-1" not in html and "CD-2" not in html and "<b>pro" not in html


def test_recent_changes_groups_identical_changes_across_subjects(see):
    for sub in ("auth0|r1", "auth0|r2", "auth0|r3"):
        see(sub, **{PLAN: "free"})
        see(sub, **{PLAN: "pro"})
    see("auth0|r4", **{PLAN: "free"})
    see("auth0|r4", **{PLAN: "y" * 400})
    viewer = staff_client("view_claimrecord")
    response = viewer.get(CHANGES, {"hours": "1"})
    assert response.status_code == 200
    text = " ".join(response.content.decode().split())
    assert (
        '<code class="change-claim">https://myapp.example/plan</code></a> changed for 3 subjects in the last hour: '
        '<code class="change-old">&quot;free&quot;</code> &rarr; <code class="change-new">&quot;pro&quot;</code>'
    ) in text
    assert "changed for 1 subject in the last hour:" in text
    assert "y" * 400 not in text and "y" * 100 + "…" in text
    # The records list links to it.
    assert f'href="{CHANGES}"' in viewer.get(RECORDS).content.decode()


def test_recent_changes_of_an_earlier_period_are_filtered_out(see):
    from datetime import timedelta

    from django.utils import timezone

    from auth0_drf.models import ClaimChange

    see("auth0|old", **{PLAN: 1})
    see("auth0|old", **{PLAN: 2})
    ClaimChange.objects.update(changed_at=timezone.now() - timedelta(hours=3))
    viewer = staff_client("view_claimrecord")
    assert "No claim changed in the last hour." in viewer.get(CHANGES, {"hours": "1"}).content.decode()
    assert "changed for 1 subject in the last 24 hours" in " ".join(viewer.get(CHANGES).content.decode().split())


# --- the inspector ---------------------------------------------------------------------------------


def test_get_shows_the_empty_form_and_is_never_cached(inspector):
    response = inspector.get(INSPECTOR)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<textarea name="token" id="auth0-drf-token"' in html and "></textarea>" in html
    assert 'method="post"' in html and "csrfmiddlewaretoken" in html
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"


def test_the_form_is_csrf_protected(auth0_issuer):
    user = User.objects.create_superuser("csrf", "csrf@example.test", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    token = auth0_issuer.token()
    assert client.post(INSPECTOR, {"token": token}).status_code == 403
    client.get(INSPECTOR)
    csrf = client.cookies["csrftoken"].value
    response = client.post(INSPECTOR, {"token": token, "csrfmiddlewaretoken": csrf})
    assert response.status_code == 200
    assert "this API would accept the token" in response.content.decode()


def inspect(client: Client, token: str):
    response = client.post(INSPECTOR, {"token": token})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"
    return response, " ".join(response.content.decode().split())


def test_a_good_token_is_explained_with_its_key_dates_and_the_views_it_opens(inspector, auth0_issuer):
    token = auth0_issuer.token(sub="auth0|good", scope="read:messages", claims={PLAN: "pro"})
    response, html = inspect(inspector, token)
    assert "Verdict: this API would accept the token." in html
    assert (
        f'Signature: <span class="auth0-drf-signature">valid (key &quot;{auth0_issuer.signing_key.kid}&quot;)' in html
    )
    assert "(expires in 60 min)" in html and " s ago)" in html
    assert '<th scope="row">https://myapp.example/plan</th><td><code>&quot;pro&quot;</code>' in html
    assert "Unverified" not in html
    assert f"<code>{escape(auth0_issuer.issuer)}</code>" in html  # the configuration it was checked against
    views = response.context["inspection"].views
    scoped = {(v.route, v.method): v for v in views}
    assert scoped[("^api/private-scoped/?$", "GET")].satisfied
    writes = [v for v in views if v.required == ("write:messages",)]
    assert writes and all(v.missing == ("write:messages",) for v in writes)
    assert "missing <code>write:messages</code>" in html


def bad_tokens(issuer) -> dict[str, str]:
    stranger = LocalKey.generate("RS256", kid="stranger")
    impostor = LocalKey.generate("RS256", kid=issuer.signing_key.kid)
    return {
        "not a JWT": "bm90IGpzb24.bm90IGpzb24.c2lnbmF0dXJlX2hlcmU",  # three segments, no JSON in them
        "opaque": "8f3kd9QmZx_opaque",
        "ID token": issuer.token(audience="client-id-123", claims={"nonce": "n"}, drop=["azp"]),
        "wrong audience": issuer.token(audience="https://other.example/"),
        "expired": issuer.token(lifetime=-7200),
        "unknown key": stranger.sign(issuer.claims()),
        "bad signature": impostor.sign(issuer.claims()),
    }


CODES = {
    "not a JWT": "not_a_jwt",
    "opaque": "not_a_jwt",
    "ID token": "id_token_not_accepted",
    "wrong audience": "invalid_audience",
    "expired": "token_expired",
    "unknown key": "unknown_key",
    "bad signature": "invalid_signature",
}


@pytest.mark.parametrize("kind", sorted(CODES))
def test_each_kind_of_bad_token_is_explained_in_the_words_of_auth0_inspect(inspector, auth0_issuer, kind):
    token = bad_tokens(auth0_issuer)[kind]
    expected = diagnose(token).problems
    assert CODES[kind] in [p.code for p in expected]
    response, html = inspect(inspector, token)
    assert "this API would reject the token" in html
    for problem in expected:  # one explanation: the command's, word for word
        assert f'<code class="problem-code">{problem.code}</code>: <span class="problem-message">' in html
        assert " ".join(escape(problem.message).split()) in html
    if response.context["inspection"].claims:
        assert "Unverified: the header and claims below are what the token says" in html
    assert token not in html and token.rsplit(".", 1)[-1] not in html
    # The text area is never refilled.
    assert "></textarea>" in html


def test_a_failing_claim_rule_is_a_problem_of_a_verified_token(inspector, auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=[ClaimEquals(PLAN, "pro")])
    _response, html = inspect(inspector, auth0_issuer.token(claims={PLAN: "free"}))
    assert "this API would reject the token: 1 problem" in html
    assert "claim_rule_failed" in html


@pytest.mark.parametrize(
    "pasted, message",
    [
        ("", "Paste an access token into the box to inspect it."),
        ("   \n ", "Paste an access token into the box to inspect it."),
        ("x" * (8192 * 4 + 1), "The pasted text is 32769 characters long; this API refuses tokens longer than 8192"),
    ],
)
def test_empty_and_huge_pastes_get_a_clear_message(inspector, pasted, message):
    _response, html = inspect(inspector, pasted)
    assert message in html


@pytest.mark.parametrize(
    "pasted", ["Bearer ", "\x00\x01.\x02.\x03", "é.ü.ß", "a" * 9000, "e30.e30.", "W10.W10.e30", "....", "e30." * 3000]
)
def test_garbage_is_explained_never_a_500(inspector, pasted):
    _response, html = inspect(inspector, pasted)
    assert "this API would reject the token" in html or "Paste an access token" in html


@pytest.mark.django_db(transaction=True)
def test_the_token_is_nowhere_in_the_database_file_nor_the_logs_afterwards(auth0_issuer, caplog):
    caplog.set_level(logging.DEBUG)
    client = staff_client(superuser=True)
    tokens = [auth0_issuer.token(sub="auth0|inspected", claims={PLAN: "pro"}), auth0_issuer.token(lifetime=-60)]
    for token in tokens:
        inspect(client, token)
    time.sleep(0.1)
    assert not ClaimRecord.objects.filter(subject="auth0|inspected").exists()  # inspecting records nothing
    name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite" or not Path(name).exists():
        pytest.skip("the database is not a SQLite file")
    stored = b"".join(Path(path).read_bytes() for path in (name, f"{name}-wal") if Path(path).exists())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for token in tokens:
        for secret in (token, token.rsplit(".", 1)[-1], token.split(".")[1]):
            assert secret.encode() not in stored
            assert secret not in logged
