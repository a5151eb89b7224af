"""The recorded-claims admin: real admin requests through Django's test client, real permissions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from auth0_drf.admin import ClaimRecordInline, attach_user_inline
from auth0_drf.models import ClaimRecord
from auth0_drf.recorder import REDACTED

from .helpers import staff_client

pytestmark = pytest.mark.django_db

User = get_user_model()
STATE = "https://myapp.example/state"
ROLES = "https://myapp.example/roles"
SECRET = "https://myapp.example/national_id"

LIST = reverse("admin:auth0_drf_claimrecord_changelist")
SUMMARY = reverse("admin:auth0_drf_claimrecord_summary")


def detail_url(record: ClaimRecord) -> str:
    return reverse("admin:auth0_drf_claimrecord_change", args=[record.pk])


@pytest.fixture
def records() -> dict[str, ClaimRecord]:
    now = timezone.now()
    alice = User.objects.create(username="auth0|alice")
    rows = {
        "alice": ClaimRecord.objects.create(
            issuer="https://tenant.example/",
            subject="auth0|alice",
            client_id="spa-client",
            user=alice,
            claims={STATE: {"plan": "enterprise"}, ROLES: ["editor"]},
            claim_names=f"{ROLES}\n{STATE}",
            scopes=["read:messages"],
            first_seen=now - timedelta(days=2),
            last_seen=now,
            times_seen=42,
        ),
        "bob": ClaimRecord.objects.create(
            issuer="https://tenant.example/",
            subject="auth0|bob",
            client_id="mobile-client",
            claims={STATE: {"plan": "free"}, SECRET: "AB-123456-Z"},
            claim_names=f"{SECRET}\n{STATE}",
            first_seen=now - timedelta(days=20),
            last_seen=now - timedelta(days=10),
            times_seen=3,
        ),
        "machine": ClaimRecord.objects.create(
            issuer="https://tenant.example/",
            subject="batch@clients",
            client_id="batch",
            claims={STATE: "<script>alert('x')</script>"},
            claim_names=STATE,
            first_seen=now - timedelta(hours=1),
            last_seen=now - timedelta(hours=1),
            times_seen=7,
        ),
    }
    return rows


@pytest.fixture
def viewer() -> Client:
    """Staff with exactly the view permission of recorded claims (and of users, for the inline)."""
    return staff_client("view_claimrecord", "view_user")


# --- list, search, filters -------------------------------------------------------------------


def test_list_shows_each_record_with_its_claim_names(viewer, records):
    response = viewer.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("auth0|alice", "auth0|bob", "batch@clients", "spa-client", "mobile-client", "https://tenant.example/"):
        assert text in html
    assert f"{ROLES}, {STATE}" in html
    assert ">42<" in html
    assert f'href="{SUMMARY}"' in html
    # Read-only: no "add" button.
    assert reverse("admin:auth0_drf_claimrecord_add") not in html


@pytest.mark.parametrize(
    "query, expected",
    [
        ("auth0|bob", {"auth0|bob"}),  # subject
        ("national_id", {"auth0|bob"}),  # claim name
        ("enterprise", {"auth0|alice"}),  # claim value
        ("https://myapp.example/state", {"auth0|alice", "auth0|bob", "batch@clients"}),
        ("no-such-thing", set()),
    ],
)
def test_search_by_subject_claim_name_and_value(viewer, records, query, expected):
    response = viewer.get(LIST, {"q": query})
    assert response.status_code == 200
    assert {r.subject for r in response.context["cl"].result_list} == expected


def test_filters_by_client_and_by_last_seen(viewer, records):
    by_client = viewer.get(LIST, {"client_id": "mobile-client"})
    assert [r.subject for r in by_client.context["cl"].result_list] == ["auth0|bob"]
    # The parameters of the "Past 7 days" choice, as DateFieldListFilter builds them.
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    recent = viewer.get(
        LIST, {"last_seen__gte": str(midnight - timedelta(days=7)), "last_seen__lt": str(midnight + timedelta(days=1))}
    )
    assert {r.subject for r in recent.context["cl"].result_list} == {"auth0|alice", "batch@clients"}
    html = by_client.content.decode()
    assert "By client" in html and "By last seen" in html


# --- detail ------------------------------------------------------------------------------------


def test_detail_page_shows_pretty_json_escaped(viewer, records):
    response = viewer.get(detail_url(records["alice"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        '<pre class="auth0-drf-claims">{\n  &quot;https://myapp.example/roles&quot;: [\n    &quot;editor&quot;\n  ],'
        in html
    )
    assert "read:messages" in html
    # The user links to the user's admin page; no Save button on a record.
    assert reverse("admin:auth_user_change", args=[records["alice"].user_id]) in html
    assert 'name="_save"' not in html

    machine = viewer.get(detail_url(records["machine"])).content.decode()
    assert "<script>alert" not in machine
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in machine


def test_detail_redacts_claims_named_after_they_were_recorded(viewer, records, settings):
    settings.AUTH0_DRF = {**settings.AUTH0_DRF, "REDACTED_CLAIMS": [SECRET]}
    html = viewer.get(detail_url(records["bob"])).content.decode()
    assert "AB-123456-Z" not in html
    assert REDACTED in html and SECRET in html


def test_records_cannot_be_added_or_changed(viewer, records):
    superuser = staff_client(superuser=True)
    for client in (viewer, superuser):
        assert client.get(reverse("admin:auth0_drf_claimrecord_add")).status_code == 403
        response = client.post(detail_url(records["alice"]), {"subject": "auth0|mallory", "times_seen": 1})
        assert response.status_code == 403
    records["alice"].refresh_from_db()
    assert records["alice"].subject == "auth0|alice"


def test_records_can_be_deleted_with_the_delete_permission(records):
    client = staff_client("view_claimrecord", "delete_claimrecord")
    assert "Delete" in client.get(detail_url(records["bob"])).content.decode()
    response = client.post(reverse("admin:auth0_drf_claimrecord_delete", args=[records["bob"].pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not ClaimRecord.objects.filter(pk=records["bob"].pk).exists()


def test_viewer_without_delete_permission_cannot_delete(viewer, records):
    response = viewer.post(reverse("admin:auth0_drf_claimrecord_delete", args=[records["bob"].pk]), {"post": "yes"})
    assert response.status_code == 403
    assert ClaimRecord.objects.filter(pk=records["bob"].pk).exists()


def record_texts(record: ClaimRecord) -> list[str]:
    """Return what a page must not show of ``record``: its subject, client and claim values."""
    texts = [record.subject, record.client_id]
    for name, value in record.claims.items():
        texts.append(name)
        texts.append(value if isinstance(value, str) else json.dumps(value))
    return [text for text in texts if text]


def test_delete_permission_alone_shows_nothing_of_a_record(records):
    client = staff_client("delete_claimrecord")
    pages = []
    for record in records.values():
        delete_url = reverse("admin:auth0_drf_claimrecord_delete", args=[record.pk])
        page = client.get(delete_url)
        assert page.status_code == 403, delete_url
        confirmed = client.post(delete_url, {"post": "yes"})
        assert confirmed.status_code == 403
        pages += [page, confirmed]
    # The changelist's bulk action: its confirmation page would list the records too.
    ids = [str(record.pk) for record in records.values()]
    for data in (
        {"action": "delete_selected", "_selected_action": ids},
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    ):
        response = client.post(LIST, data)
        assert response.status_code == 403
        pages.append(response)
    pages += [client.get(url) for url in all_pages(records)]
    pages.append(client.get(reverse("admin:index")))
    html = "\n".join(page.content.decode() for page in pages)
    for record in records.values():
        for text in record_texts(record):
            assert text not in html, text
    assert ClaimRecord.objects.count() == len(records)


# --- summary ------------------------------------------------------------------------------------


def test_summary_groups_claims_across_subjects(viewer, records, settings):
    settings.AUTH0_DRF = {**settings.AUTH0_DRF, "REDACTED_CLAIMS": [SECRET]}
    response = viewer.get(SUMMARY)
    assert response.status_code == 200
    summaries = {s.name: s for s in response.context["summaries"]}
    assert list(summaries) == [SECRET, ROLES, STATE]
    assert summaries[STATE].subject_count == 3
    assert summaries[STATE].last_seen == records["alice"].last_seen
    assert summaries[STATE].example == '{\n  "plan": "enterprise"\n}'  # the most recent value
    assert summaries[STATE].type_list == ["object", "string"]
    assert summaries[STATE].client_list == ["batch", "mobile-client", "spa-client"]
    assert summaries[ROLES].subject_count == 1
    assert summaries[SECRET].example == f'"{REDACTED}"'
    html = response.content.decode()
    assert "AB-123456-Z" not in html
    assert "<script>alert" not in html
    assert f'href="{LIST}?q=https%3A%2F%2Fmyapp.example%2Fstate"' in html
    assert 'id="auth0-drf-claims-summary"' in html


def test_summary_with_no_records_says_so(viewer):
    response = viewer.get(SUMMARY)
    assert response.status_code == 200
    assert "No custom claims recorded yet" in response.content.decode()


# --- who may see it -------------------------------------------------------------------------------


def all_pages(records) -> list[str]:
    return [LIST, SUMMARY, detail_url(records["alice"])]


def test_anonymous_users_are_sent_to_the_login_page(records):
    for url in all_pages(records):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_non_staff_users_are_sent_to_the_login_page(records):
    user = User.objects.create_user("plain", password="pw")
    user.user_permissions.set(Permission.objects.filter(codename="view_claimrecord"))
    client = Client()
    client.force_login(user)
    for url in all_pages(records):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("perms", [(), ("change_claimrecord",), ("delete_claimrecord",), ("view_user",)])
def test_staff_without_the_view_permission_are_refused(records, perms):
    client = staff_client(*perms)
    for url in all_pages(records):
        assert client.get(url).status_code == 403, url


def test_superusers_see_everything(records):
    client = staff_client(superuser=True)
    for url in all_pages(records):
        assert client.get(url).status_code == 200


# --- from a user's page ---------------------------------------------------------------------------


def test_user_page_links_to_the_users_recorded_claims(viewer, records):
    html = viewer.get(reverse("admin:auth_user_change", args=[records["alice"].user_id])).content.decode()
    assert "Recorded Auth0 claims" in html
    assert detail_url(records["alice"]) in html
    assert detail_url(records["bob"]) not in html


def test_user_page_hides_recorded_claims_without_the_view_permission(records):
    client = staff_client("view_user", "change_user")
    html = client.get(reverse("admin:auth_user_change", args=[records["alice"].user_id])).content.decode()
    assert "Recorded Auth0 claims" not in html
    assert detail_url(records["alice"]) not in html


def test_add_user_page_has_no_recorded_claims():
    html = staff_client(superuser=True).get(reverse("admin:auth_user_add")).content.decode()
    assert "Recorded Auth0 claims" not in html


def test_the_inline_is_added_to_a_custom_user_admin_instance_without_changing_its_class():
    class ProjectUserAdmin(UserAdmin):
        inlines = ()

    site = admin.AdminSite(name="project_admin")
    site.register(User, ProjectUserAdmin)
    assert attach_user_inline(site) is True
    assert attach_user_inline(site) is True  # idempotent
    assert list(site._registry[User].inlines) == [ClaimRecordInline]
    assert type(site._registry[User]) is ProjectUserAdmin
    assert ProjectUserAdmin.inlines == ()
    assert site._registry[User].check() == []


def test_a_user_admin_can_opt_out_of_the_inline():
    class QuietUserAdmin(UserAdmin):
        auth0_claims_inline = False

    site = admin.AdminSite(name="quiet_admin")
    site.register(User, QuietUserAdmin)
    assert attach_user_inline(site) is False
    assert ClaimRecordInline not in site._registry[User].inlines
    assert attach_user_inline(admin.AdminSite(name="no_users")) is False
