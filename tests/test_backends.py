"""Users for verified tokens (``Auth0UserBackend``): created once, machines kept out of the database, the user cache."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from auth0_drf.backends import Auth0UserBackend, user_cache
from auth0_drf.models import Auth0Identity
from auth0_drf.signing import LocalKey
from auth0_drf.testing import LocalIssuer

from .helpers import claims_of, get, issuer_entry, run_together, warm_up
from .hostile import assert_rejected

pytestmark = pytest.mark.django_db

User = get_user_model()


# --- users: created once, machines kept out of the database ---------------------------------------


def test_machine_to_machine_token_gets_a_stateless_user(auth0_issuer, client_for):
    token = auth0_issuer.token(sub="abc123@clients", claims={"gty": "client-credentials", "azp": "abc123"})
    body = client_for(token).get("/api/claims").json()
    assert body["user"] == {
        "id": "abc123@clients",
        "username": "abc123@clients",
        "is_machine": True,
        "stored_in_database": False,
    }
    assert User.objects.count() == 0


def test_a_person_whose_enterprise_sub_ends_in_at_clients_gets_a_database_user_that_can_be_blocked(
    auth0_issuer, client_for
):
    # A SAML connection's user "bob@clients": Auth0 makes the sub "samlp|acme|bob@clients".
    client = client_for(auth0_issuer.token(sub="samlp|acme|bob@clients"))
    body = client.get("/api/claims").json()
    assert body["user"]["is_machine"] is False and body["user"]["stored_in_database"] is True
    identity = Auth0Identity.objects.get(subject="samlp|acme|bob@clients")
    User.objects.filter(pk=identity.user_id).update(is_active=False)
    from auth0_drf.testing import reset_caches

    reset_caches()  # forget the cached user, as another worker would after USER_CACHE_TTL
    assert_rejected(client.get("/api/claims"), code="user_inactive")


def test_inactive_user_is_rejected(auth0_issuer, client_for):
    client = client_for(auth0_issuer.token(sub="auth0|blocked"))
    assert client.get("/api/private").status_code == 200
    User.objects.filter(username="auth0|blocked").update(is_active=False)
    user = User.objects.get(username="auth0|blocked")
    user.save()  # the save signal drops the cached user at once
    assert_rejected(client.get("/api/private"), code="user_inactive")


def test_sub_equal_to_an_existing_username_gets_its_own_user(auth0_issuer, client_for):
    admin = User.objects.create_superuser("admin", "admin@example.com", "pw")
    body = client_for(auth0_issuer.token(sub="admin")).get("/api/claims").json()
    assert body["user"]["id"] != admin.pk
    assert body["user"]["username"].startswith("auth0-")


def test_same_sub_from_two_issuers_maps_to_two_users(auth0_issuer, client_for, settings):
    with LocalIssuer(audience=auth0_issuer.audience, keys=[LocalKey.generate()]) as other:
        settings.AUTH0_DRF = auth0_issuer.settings(ISSUERS=[issuer_entry(other)])
        first = client_for(auth0_issuer.token(sub="auth0|same")).get("/api/claims").json()["user"]["id"]
        second = client_for(other.token(sub="auth0|same")).get("/api/claims").json()["user"]["id"]
    assert first != second


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_for_a_new_sub_create_one_user(auth0_issuer):
    token = auth0_issuer.token(sub="auth0|racer")
    statuses = run_together([lambda: get(token).status_code] * 8)
    assert statuses == [200] * 8
    assert User.objects.filter(auth0_identities__subject="auth0|racer").count() == 1
    assert Auth0Identity.objects.count() == 1


class StaleCheckBackend(Auth0UserBackend):
    """clean_username() answers as if it had looked just before a local account took the name."""

    def clean_username(self, claims):
        return claims.sub


def test_username_taken_between_check_and_insert_falls_back_to_the_digest(auth0_issuer, client_for, settings):
    local = User.objects.create_user("auth0|late-comer", password="pw")
    settings.AUTH0_DRF = auth0_issuer.settings(USER_BACKEND="tests.test_backends.StaleCheckBackend")
    response = client_for(auth0_issuer.token(sub="auth0|late-comer")).get("/api/claims")
    assert response.status_code == 200
    assert response.json()["user"]["id"] != local.pk
    assert response.json()["user"]["username"].startswith("auth0-")


# --- the user cache -------------------------------------------------------------------------------


def test_user_created_on_first_sight_is_cached_once_committed(
    auth0_issuer, client_for, django_capture_on_commit_callbacks, django_assert_num_queries
):
    client = client_for(auth0_issuer.token(sub="auth0|fresh"))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get("/api/private").status_code == 200
    with django_assert_num_queries(0):
        assert client.get("/api/private").status_code == 200


def test_a_rolled_back_user_is_never_cached(auth0_issuer, client_for, django_capture_on_commit_callbacks):
    client = client_for(auth0_issuer.token(sub="auth0|rolled-back"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.get("/api/private").status_code == 200
    assert len(callbacks) == 1  # the cache fill waits for the commit
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/private").status_code == 200
    assert len(queries) > 0  # not cached: looked up again


def test_deactivated_user_is_rejected_at_once(auth0_issuer, client_for):
    client = client_for(auth0_issuer.token(sub="auth0|dave"))
    warm_up(client)
    user = User.objects.get(username="auth0|dave")
    user.is_active = False
    user.save()
    assert client.get("/api/private").status_code == 401


def test_deleted_user_is_not_served_from_the_cache(auth0_issuer, client_for):
    client = client_for(auth0_issuer.token(sub="auth0|erin"))
    warm_up(client)
    old_pk = User.objects.get(username="auth0|erin").pk
    User.objects.filter(pk=old_pk).delete()  # a queryset delete still sends post_delete per row
    assert client.get("/api/private").status_code == 200
    assert User.objects.get(username="auth0|erin").pk != old_pk  # a new user, not the cached one


def test_deleted_identity_link_is_not_served_from_the_cache(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(CREATE_USERS=False)
    client = client_for(auth0_issuer.token(sub="auth0|frank"))
    user = User.objects.create(username="frank")
    Auth0Identity.objects.create(issuer=auth0_issuer.issuer, subject="auth0|frank", user=user)
    warm_up(client)
    Auth0Identity.objects.get(subject="auth0|frank").delete()
    response = client.get("/api/private")
    assert response.status_code == 401
    assert response.json()["code"] == "unknown_subject"


def test_user_cache_ttl_zero_looks_the_user_up_every_time(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(USER_CACHE_TTL=0)
    client = client_for(auth0_issuer.token(sub="auth0|gina"))
    warm_up(client)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/private").status_code == 200
    assert len(queries) == 1


# --- identity links and users changed by an admin -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_identity_moved_to_another_user_is_not_served_from_the_user_cache(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(USER_CACHE_TTL=300)
    token = auth0_issuer.token(sub="auth0|moved")
    first = claims_of(token)["user"]["id"]
    other = User.objects.create(username="the-right-account")
    identity = Auth0Identity.objects.get(subject="auth0|moved")
    identity.user = other  # an admin re-links the identity (e.g. the first account was compromised)
    identity.save()
    assert claims_of(token)["user"]["id"] == other.pk != first


class AdminActsDuringLookup(Auth0UserBackend):
    """Plays an admin who deactivates the user right after the lookup read it (another thread)."""

    def find_identity(self, claims: Any) -> Any:
        identity = super().find_identity(claims)
        if identity is not None and claims.get("deactivate_during_lookup"):
            fresh = User.objects.get(pk=identity.user_id)
            fresh.is_active = False
            fresh.save()
        return identity


@pytest.mark.django_db(transaction=True)
def test_a_user_deactivated_during_the_lookup_is_not_cached_as_active(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(
        USER_CACHE_TTL=300, USER_BACKEND="tests.test_backends.AdminActsDuringLookup"
    )
    assert get(auth0_issuer.token(sub="auth0|racer"), "/api/claims").status_code == 200  # created
    user_cache.clear()  # the next request looks the user up again
    racing = auth0_issuer.token(sub="auth0|racer", claims={"deactivate_during_lookup": True})
    get(racing, "/api/claims")  # this request read the user before the change: it may pass
    assert_rejected(get(auth0_issuer.token(sub="auth0|racer"), "/api/claims"), code="user_inactive")
