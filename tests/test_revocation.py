"""Revoking an identity's tokens (``revoke_tokens()``, the admin actions): older tokens refused, newer accepted."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from auth0_drf.backends import UserCache
from auth0_drf.models import Auth0Identity

from .helpers import Clock, get, warm_up
from .hostile import assert_rejected

pytestmark = pytest.mark.django_db

User = get_user_model()


def identity_of(sub: str) -> Auth0Identity:
    return Auth0Identity.objects.get(subject=sub)


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


@pytest.fixture
def user_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Make the user cache read time from a ``Clock`` the test moves by hand."""
    fake = Clock()
    monkeypatch.setattr(UserCache, "timer", staticmethod(fake))
    return fake


# --- older tokens refused, newer ones accepted ---------------------------------------------------


def test_a_token_issued_before_the_revocation_is_refused_with_token_revoked(auth0_issuer, client_for):
    token = auth0_issuer.token(sub="auth0|stolen", now=time.time() - 60)
    assert get(token).status_code == 200
    identity_of("auth0|stolen").revoke_tokens()
    body = assert_rejected(get(token), code="token_revoked", secrets=[token])
    assert "sign in again" in body["detail"]


def test_a_token_issued_after_the_revocation_is_accepted(auth0_issuer):
    now = time.time()
    assert get(auth0_issuer.token(sub="auth0|back", now=now - 60)).status_code == 200
    identity_of("auth0|back").revoke_tokens(at=moment(now - 30))
    assert get(auth0_issuer.token(sub="auth0|back", now=now)).status_code == 200


def test_the_revocation_takes_effect_at_once_in_this_process(auth0_issuer, client_for, django_assert_num_queries):
    client = client_for(auth0_issuer.token(sub="auth0|cached", now=time.time() - 60))
    warm_up(client)
    with django_assert_num_queries(0):
        assert client.get("/api/private").status_code == 200  # served from the user cache
    Auth0Identity.objects.revoke_tokens(auth0_issuer.issuer, "auth0|cached")  # saving drops the cache entry
    assert_rejected(client.get("/api/private"), code="token_revoked")


def test_other_processes_see_the_revocation_within_the_user_cache_ttl(auth0_issuer, client_for, user_clock):
    client = client_for(auth0_issuer.token(sub="auth0|elsewhere", now=time.time() - 60))
    warm_up(client)
    # Written by another process: no signal reaches this one's cache.
    Auth0Identity.objects.filter(subject="auth0|elsewhere").update(tokens_revoked_at=moment(time.time()))
    user_clock.advance(29)
    assert client.get("/api/private").status_code == 200  # USER_CACHE_TTL (30 s) not over yet
    user_clock.advance(2)
    assert_rejected(client.get("/api/private"), code="token_revoked")


def test_a_revoked_identity_s_new_token_costs_no_query_in_the_steady_state(
    auth0_issuer, client_for, django_assert_num_queries
):
    now = time.time()
    assert get(auth0_issuer.token(sub="auth0|renewed", now=now - 60)).status_code == 200
    identity_of("auth0|renewed").revoke_tokens(at=moment(now - 30))
    client = client_for(auth0_issuer.token(sub="auth0|renewed", now=now))
    warm_up(client)
    with django_assert_num_queries(0):
        for _ in range(5):
            assert client.get("/api/private").status_code == 200


def test_a_revoked_identity_s_old_token_is_refused_without_a_query_in_the_steady_state(
    auth0_issuer, client_for, django_assert_num_queries
):
    client = client_for(auth0_issuer.token(sub="auth0|refused", now=time.time() - 60))
    assert client.get("/api/private").status_code == 200
    identity_of("auth0|refused").revoke_tokens()
    assert client.get("/api/private").status_code == 401  # looked up once more, and cached
    with django_assert_num_queries(0):
        assert_rejected(client.get("/api/private"), code="token_revoked")


# --- iat: whole seconds, compared strictly, no leeway ------------------------------------------


def test_a_token_issued_in_the_second_of_the_revocation_is_refused(auth0_issuer):
    second = int(time.time()) - 10
    assert get(auth0_issuer.token(sub="auth0|same-second", now=second - 60)).status_code == 200
    identity_of("auth0|same-second").revoke_tokens(at=moment(second + 0.5))
    # iat is rounded down: a token with this iat may have been issued before the revocation.
    assert_rejected(get(auth0_issuer.token(sub="auth0|same-second", now=second)), code="token_revoked")
    assert get(auth0_issuer.token(sub="auth0|same-second", now=second + 1)).status_code == 200


def test_a_token_whose_iat_equals_a_whole_second_revocation_is_accepted(auth0_issuer):
    second = int(time.time()) - 10
    assert get(auth0_issuer.token(sub="auth0|exact", now=second - 60)).status_code == 200
    identity_of("auth0|exact").revoke_tokens(at=moment(second))
    assert_rejected(get(auth0_issuer.token(sub="auth0|exact", now=second - 1)), code="token_revoked")
    assert get(auth0_issuer.token(sub="auth0|exact", now=second)).status_code == 200


def test_the_leeway_does_not_widen_the_revocation(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(LEEWAY=60)
    now = int(time.time())
    assert get(auth0_issuer.token(sub="auth0|lenient", now=now - 120)).status_code == 200
    identity_of("auth0|lenient").revoke_tokens(at=moment(now - 30))
    assert get(auth0_issuer.token(sub="auth0|lenient", now=now - 30)).status_code == 200
    assert_rejected(get(auth0_issuer.token(sub="auth0|lenient", now=now - 31)), code="token_revoked")


def test_a_token_without_iat_is_refused_once_its_identity_is_revoked(auth0_issuer):
    token = auth0_issuer.token(sub="auth0|ageless", drop=["iat"])
    assert get(token).status_code == 200  # never revoked: iat is optional
    identity_of("auth0|ageless").revoke_tokens(at=moment(time.time() - 3600))
    assert_rejected(get(token), code="token_revoked", secrets=[token])


def test_revoking_one_subject_leaves_the_others_alone(auth0_issuer):
    old = time.time() - 60
    assert get(auth0_issuer.token(sub="auth0|one", now=old)).status_code == 200
    assert get(auth0_issuer.token(sub="auth0|other", now=old)).status_code == 200
    Auth0Identity.objects.revoke_tokens(auth0_issuer.issuer, "auth0|one")
    assert get(auth0_issuer.token(sub="auth0|other", now=old)).status_code == 200


def test_a_machine_with_a_database_user_can_be_revoked(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(MACHINE_USERS="database")
    token = auth0_issuer.token(sub="svc@clients", claims={"gty": "client-credentials"}, now=time.time() - 60)
    assert get(token).status_code == 200
    Auth0Identity.objects.revoke_tokens(auth0_issuer.issuer, "svc@clients")
    assert_rejected(get(token), code="token_revoked")


# --- the model API ------------------------------------------------------------------------------


def test_revoking_a_subject_never_seen_records_nothing_and_says_so():
    assert Auth0Identity.objects.revoke_tokens("https://tenant.example/", "auth0|nobody") == 0
    assert Auth0Identity.objects.count() == 0


def test_revoke_tokens_wants_both_issuer_and_subject_or_neither():
    with pytest.raises(TypeError):
        Auth0Identity.objects.revoke_tokens("https://tenant.example/")


def test_revoking_a_user_s_identities_revokes_each_of_them():
    user = User.objects.create(username="multi")
    for issuer in ("https://a.example/", "https://b.example/"):
        Auth0Identity.objects.create(issuer=issuer, subject="auth0|multi", user=user)
    assert Auth0Identity.objects.filter(user=user).revoke_tokens() == 2
    assert Auth0Identity.objects.filter(tokens_revoked_at__isnull=False).count() == 2


def test_a_revocation_never_moves_back():
    user = User.objects.create(username="later")
    identity = Auth0Identity.objects.create(issuer="https://a.example/", subject="auth0|later", user=user)
    later = moment(time.time())
    identity.revoke_tokens(at=later)
    identity.revoke_tokens(at=later - timedelta(hours=1))
    identity.refresh_from_db()
    assert identity.tokens_revoked_at == later


def test_a_naive_revocation_moment_is_refused_when_time_zones_are_on():
    identity = Auth0Identity(issuer="https://a.example/", subject="auth0|naive")
    with pytest.raises(ValueError, match="aware datetime"):
        identity.revoke_tokens(at=datetime(2026, 1, 1))  # noqa: DTZ001


# --- the admin actions ----------------------------------------------------------------------------


def staff_client(*perms: str) -> Client:
    user = User.objects.create_user(f"staff-{'-'.join(perms)}", "staff@example.test", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client = Client()
    client.force_login(user)
    return client


def test_the_identity_admin_action_revokes_the_selected_identities(auth0_issuer):
    token = auth0_issuer.token(sub="auth0|fired", now=time.time() - 60)
    assert get(token).status_code == 200
    client = staff_client("view_auth0identity", "change_auth0identity")
    response = client.post(
        reverse("admin:auth0_drf_auth0identity_changelist"),
        {"action": "revoke_tokens", "_selected_action": [identity_of("auth0|fired").pk]},
        follow=True,
    )
    assert "Revoked the tokens of 1 Auth0 identity" in response.content.decode()
    assert_rejected(get(token), code="token_revoked")


def test_the_identity_admin_offers_the_action_only_with_the_change_permission():
    user = User.objects.create(username="listed")
    Auth0Identity.objects.create(issuer="https://a.example/", subject="auth0|listed", user=user)
    url = reverse("admin:auth0_drf_auth0identity_changelist")
    assert "revoke_tokens" not in staff_client("view_auth0identity").get(url).content.decode()
    assert "revoke_tokens" in staff_client("view_auth0identity", "change_auth0identity").get(url).content.decode()


def test_the_user_admin_action_revokes_the_selected_users_tokens(auth0_issuer):
    token = auth0_issuer.token(sub="auth0|gone", now=time.time() - 60)
    assert get(token).status_code == 200
    client = staff_client("view_user", "change_user")
    response = client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "revoke_user_tokens", "_selected_action": [identity_of("auth0|gone").user_id]},
        follow=True,
    )
    assert "Revoked the tokens of 1 Auth0 identity" in response.content.decode()
    assert_rejected(get(token), code="token_revoked")


def test_the_user_admin_action_is_added_to_a_custom_user_admin_instance_without_changing_its_class():
    from django.contrib import admin
    from django.contrib.auth.admin import UserAdmin

    from auth0_drf.identity_admin import attach_user_revoke_action, revoke_user_tokens

    class ProjectUserAdmin(UserAdmin):
        actions = ()

    class QuietUserAdmin(UserAdmin):
        auth0_revoke_action = False

    site = admin.AdminSite(name="project_admin")
    site.register(User, ProjectUserAdmin)
    assert attach_user_revoke_action(site) is True
    assert attach_user_revoke_action(site) is True  # idempotent
    assert list(site._registry[User].actions) == [revoke_user_tokens]
    assert ProjectUserAdmin.actions == ()
    assert site._registry[User].check() == []
    quiet = admin.AdminSite(name="quiet_admin")
    quiet.register(User, QuietUserAdmin)
    assert attach_user_revoke_action(quiet) is False
    assert revoke_user_tokens not in (quiet._registry[User].actions or ())


def test_the_identity_admin_lets_only_the_revocation_moment_be_edited(auth0_issuer):
    assert get(auth0_issuer.token(sub="auth0|edited")).status_code == 200
    identity = identity_of("auth0|edited")
    identity.revoke_tokens()
    client = staff_client("view_auth0identity", "change_auth0identity")
    url = reverse("admin:auth0_drf_auth0identity_change", args=[identity.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"tokens_revoked_at_0": "", "tokens_revoked_at_1": "", "subject": "auth0|x"})
    assert response.status_code == 302
    identity.refresh_from_db()
    assert identity.tokens_revoked_at is None  # a mistaken revocation cleared
    assert identity.subject == "auth0|edited"
    assert client.get(reverse("admin:auth0_drf_auth0identity_add")).status_code == 403
