"""The steady state costs nothing but CPU: no queries, no writes, no fetches; and the caches behind it stay safe.

These tests count; they never time anything (benchmarks/bench.py does that).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from auth0_drf.keyshare import fetching_key
from auth0_drf.models import Auth0Identity
from auth0_drf.tokens import build_verifier, get_verifier

from .helpers import run_together, warm_up

pytestmark = pytest.mark.django_db

User = get_user_model()
N = 25


def test_steady_state_makes_no_queries_and_no_fetches(auth0_issuer, client_for, django_assert_num_queries):
    client = client_for(auth0_issuer.token(sub="auth0|steady", scope="read:messages"))
    warm_up(client)
    fetches = auth0_issuer.jwks_hits()
    assert fetches == 1
    with django_assert_num_queries(0):
        for _ in range(N):
            assert client.get("/api/private").status_code == 200
            assert client.get("/api/private-scoped").status_code == 200
    assert auth0_issuer.jwks_hits() == fetches


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


def test_many_users_each_cost_queries_only_until_cached(auth0_issuer, client_for, django_assert_num_queries):
    clients = [client_for(auth0_issuer.token(sub=f"auth0|user-{i}")) for i in range(5)]
    for client in clients:
        warm_up(client)
    with django_assert_num_queries(0):
        for client in clients * 3:
            assert client.get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() == 1


# --- the verified-token cache ------------------------------------------------------------


def test_token_cache_is_bounded_by_token_cache_size(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_CACHE_SIZE=3)
    verifier = get_verifier()
    tokens = [auth0_issuer.token(claims={"jti": f"t{i}"}) for i in range(7)]
    for token in tokens:
        verifier.verify(token)
        assert verifier.cache_info().tokens <= 3
    assert verifier.cache_info().tokens == 3


def test_token_cache_size_zero_turns_it_off(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_CACHE_SIZE=0)
    verifier = get_verifier()
    token = auth0_issuer.token()
    assert verifier.verify(token) is not verifier.verify(token)  # verified afresh each time
    assert verifier.cache_info().tokens == 0


def test_repeat_token_is_served_from_the_cache(auth0_issuer):
    verifier = get_verifier()
    token = auth0_issuer.token()
    assert verifier.verify(token) is verifier.verify(token)


def test_cached_token_expires_with_the_token(auth0_issuer, settings, get_with):
    settings.AUTH0_DRF = auth0_issuer.settings(LEEWAY=0)
    verifier = get_verifier()
    token = auth0_issuer.token(lifetime=60)
    assert get_with("/api/private", f"Bearer {token}").status_code == 200
    assert verifier.cache_info().tokens == 1
    later = time.time() + 61
    verifier.timer = lambda: later  # the clock moves past exp; keys stay fresh (monotonic clock)
    response = get_with("/api/private", f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_cached_token_does_not_outlive_max_token_age(auth0_issuer, settings):
    from auth0_drf.errors import TokenTooOld

    settings.AUTH0_DRF = auth0_issuer.settings(LEEWAY=0, MAX_TOKEN_AGE=30)
    verifier = get_verifier()
    token = auth0_issuer.token(lifetime=3600)
    verifier.verify(token)
    later = time.time() + 31
    verifier.timer = lambda: later
    with pytest.raises(TokenTooOld):
        verifier.verify(token)


def test_token_cache_is_emptied_when_the_keys_change(auth0_issuer, settings, get_with):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0)
    verifier = get_verifier()
    old = auth0_issuer.token()
    assert get_with("/api/private", f"Bearer {old}").status_code == 200
    assert verifier.cache_info().tokens == 1
    auth0_issuer.rotate(keep_old=False)  # the old key is revoked
    new = auth0_issuer.token()
    assert get_with("/api/private", f"Bearer {new}").status_code == 200  # unknown kid: refetch
    assert auth0_issuer.jwks_hits() == 2
    assert verifier.cache_info().tokens == 1  # the old entry is gone: the one left is the new token's
    assert verifier.verify(new) is verifier.verify(new)
    response = get_with("/api/private", f"Bearer {old}")
    assert response.status_code == 401  # the cached verdict did not survive the revocation


def test_token_cache_is_not_used_once_keys_are_due_for_refresh(auth0_issuer, settings, get_with):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0)
    verifier = get_verifier()
    token = auth0_issuer.token()
    assert get_with("/api/private", f"Bearer {token}").status_code == 200
    jwks = next(iter(verifier.jwks.values()))
    auth0_issuer.rotate(keep_old=False)
    jwks.expire()  # the keys' lifetime is over: the next use must refresh them
    assert get_with("/api/private", f"Bearer {token}").status_code == 401
    assert auth0_issuer.jwks_hits() == 3  # the due refresh, then one refetch for the unknown kid


def test_token_cache_is_emptied_when_settings_change(auth0_issuer, settings, get_with):
    token = auth0_issuer.token()
    assert get_with("/api/private", f"Bearer {token}").status_code == 200
    settings.AUTH0_DRF = auth0_issuer.settings(AUDIENCE="https://another-api.example.test/")
    response = get_with("/api/private", f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_audience"


# --- the user cache ----------------------------------------------------------------------


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


# --- sharing keys between workers through the Django cache --------------------------------

SHARED_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
    "jwks": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "auth0-drf-jwks-test"},
}


def test_two_workers_share_one_jwks_fetch_through_the_django_cache(auth0_issuer, settings):
    from django.core.cache import caches

    with override_settings(CACHES=SHARED_CACHES):
        caches["jwks"].clear()
        settings.AUTH0_DRF = auth0_issuer.settings(JWKS_SHARED_CACHE="jwks", JWKS_REFETCH_COOLDOWN=0)
        # Two verifiers stand for two worker processes: separate key and token caches, one
        # shared Django cache (in production a cross-process backend such as Redis).
        worker_a, worker_b = build_verifier(), build_verifier()
        token = auth0_issuer.token()
        worker_a.verify(token)
        worker_b.verify(token)
        assert auth0_issuer.jwks_hits() == 1

        auth0_issuer.rotate()
        rotated = auth0_issuer.token()
        worker_a.verify(rotated)  # unknown kid: worker A fetches the new JWKS and shares it
        assert auth0_issuer.jwks_hits() == 2
        worker_b.verify(rotated)  # worker B finds the newer copy in the shared cache
        assert auth0_issuer.jwks_hits() == 2
        caches["jwks"].clear()


def test_without_a_shared_cache_each_worker_fetches(auth0_issuer):
    worker_a, worker_b = build_verifier(), build_verifier()
    token = auth0_issuer.token()
    worker_a.verify(token)
    worker_b.verify(token)
    assert auth0_issuer.jwks_hits() == 2


def test_workers_needing_keys_at_once_make_one_fetch(auth0_issuer, settings):
    from django.core.cache import caches

    with override_settings(CACHES=SHARED_CACHES):
        caches["jwks"].clear()
        settings.AUTH0_DRF = auth0_issuer.settings(JWKS_SHARED_CACHE="jwks")
        workers = [build_verifier() for _ in range(3)]
        token = auth0_issuer.token()
        # A slow JWKS makes the cold starts overlap: the first worker fetches, the others wait.
        auth0_issuer.override = lambda path: time.sleep(0.3)
        run_together([lambda worker=worker: worker.verify(token) for worker in workers], timeout=10)
        assert auth0_issuer.jwks_hits() == 1
        caches["jwks"].clear()


def test_a_failed_shared_fetch_lets_the_waiting_worker_fetch(auth0_issuer, settings):
    from django.core.cache import caches

    with override_settings(CACHES=SHARED_CACHES):
        caches["jwks"].clear()
        settings.AUTH0_DRF = auth0_issuer.settings(JWKS_SHARED_CACHE="jwks")
        worker = build_verifier()
        marker = fetching_key(auth0_issuer.jwks_uri)
        caches["jwks"].set(marker, 1, timeout=1)  # another worker is fetching...
        gives_up = threading.Timer(0.2, lambda: caches["jwks"].delete(marker))
        gives_up.start()  # ...and gives up without a copy
        worker.verify(auth0_issuer.token())
        gives_up.join()
        assert auth0_issuer.jwks_hits() == 1
        caches["jwks"].clear()


# --- the claims recorder's steady state ---------------------------------------------------


def test_recorder_steady_state_reuses_its_description_but_sees_changes(auth0_issuer, settings):
    from auth0_drf.models import ClaimRecord
    from auth0_drf.recorder import REDACTED, claim_recorder

    secret = "https://myapp.example/national_id"
    claims = get_verifier().verify(auth0_issuer.token(sub="auth0|hana", claims={secret: "123"}))
    alice, bob = User.objects.create(username="alice"), User.objects.create(username="bob")
    first = claim_recorder.describe(claims, alice)
    assert claim_recorder.describe(claims, alice) is first  # steady state: reused
    assert first[3] == alice.pk and first[1] == {secret: "123"}

    other_user = claim_recorder.describe(claims, bob)  # another user: described afresh
    assert other_user[3] == bob.pk and other_user[4] != first[4]

    settings.AUTH0_DRF = {**settings.AUTH0_DRF, "REDACTED_CLAIMS": [secret]}
    redacted = claim_recorder.describe(claims, bob)  # new settings: described afresh
    assert redacted[1] == {secret: REDACTED}

    claim_recorder.clear()
    claim_recorder.record(claims, bob)
    assert ClaimRecord.objects.get(subject="auth0|hana").claims == {secret: REDACTED}
