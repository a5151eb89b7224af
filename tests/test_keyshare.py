"""Key sets shared by worker processes through ``JWKS_SHARED_CACHE``: one fetch for all, each copy checked, not trusted.

Two verifiers built from the settings stand for two worker processes (separate key and token
caches) sharing one Django cache (a ``LocMemCache`` here, Redis or Memcached in production).
Both clocks of the key cache are moved by hand: the monotonic one (``JWKSCache.timer``) and the
wall clock that dates shared copies across processes (``JWKSCache.wall_clock``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.test import override_settings

from auth0_drf.exceptions import KeysUnavailable, UnknownKey
from auth0_drf.jwks import JWKSCache
from auth0_drf.keyshare import fetching_key
from auth0_drf.testing import LocalIssuer
from auth0_drf.tokens import build_verifier

from .helpers import m2m_token, run_together

SHARED_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
    "jwks": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "auth0-drf-shared-jwks-test"},
}


@pytest.fixture
def shared(
    auth0_issuer: LocalIssuer, settings: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., None]]:
    """Point auth0_drf at an empty shared cache; return a function that changes the settings."""
    monkeypatch.setattr(JWKSCache, "wall_clock", staticmethod(clock))
    with override_settings(CACHES=SHARED_CACHES):
        caches["jwks"].clear()

        def configure(**overrides: Any) -> None:
            settings.AUTH0_DRF = auth0_issuer.settings(JWKS_SHARED_CACHE="jwks", JWKS_REFETCH_COOLDOWN=10, **overrides)

        configure(JWKS_CACHE_TTL=60)
        yield configure
        caches["jwks"].clear()


def shared_key(issuer: LocalIssuer) -> str:
    """The entry's name, as the README documents it."""
    return "auth0_drf:jwks:" + hashlib.sha256(issuer.jwks_uri.encode()).hexdigest()


# --- the copy's age -------------------------------------------------------------------------


def test_a_key_removed_upstream_stops_working_one_lifetime_after_the_shared_fetch(auth0_issuer, shared, clock):
    worker_a, worker_b = build_verifier(), build_verifier()
    old = m2m_token(auth0_issuer)
    worker_a.verify(old)  # fetched at t=0 and shared
    auth0_issuer.rotate(keep_old=False)  # the key is removed upstream just after
    clock.advance(50)
    worker_b.verify(old)  # adopts the 50 s old copy: the old key is still in it
    assert auth0_issuer.jwks_hits() == 1
    clock.advance(11)  # 61 s after the fetch: the copy's lifetime (JWKS_CACHE_TTL=60) is over
    with pytest.raises(UnknownKey):
        worker_b.verify(old)
    assert auth0_issuer.jwks_hits() >= 2  # refreshed from the issuer (and refetched once for the kid)


def test_cached_keys_from_a_shared_copy_outlive_an_outage_only_up_to_max_staleness_from_its_fetch(
    auth0_issuer, shared, clock
):
    shared(JWKS_CACHE_TTL=60, JWKS_MAX_STALENESS=100)
    worker_a, worker_b = build_verifier(), build_verifier()
    worker_a.verify(m2m_token(auth0_issuer))  # fetched at t=0 and shared
    clock.advance(50)
    worker_b.verify(m2m_token(auth0_issuer, claims={"n": 1}))  # adopts it
    auth0_issuer.override = lambda path: (503, {}, b"")
    clock.advance(45)
    worker_b.verify(m2m_token(auth0_issuer, claims={"n": 2}))  # t=95: refresh fails, kept keys still within bounds
    clock.advance(10)
    with pytest.raises(KeysUnavailable):  # t=105: more than JWKS_MAX_STALENESS after the fetch
        worker_b.verify(m2m_token(auth0_issuer, claims={"n": 3}))


def test_a_shared_copy_past_its_lifetime_is_not_adopted(auth0_issuer, shared, clock):
    # A backend that keeps entries past their timeout (or a copy written by hand) cannot extend it.
    entry = {"data": auth0_issuer.jwks(), "max_age": None, "fetched": clock.now - 61}
    caches["jwks"].set(shared_key(auth0_issuer), entry)
    build_verifier().verify(m2m_token(auth0_issuer))
    assert auth0_issuer.jwks_hits() == 1


def test_a_shared_copy_dated_in_the_future_lives_one_lifetime_from_now(auth0_issuer, shared, clock):
    # A clock ahead on the writer's host (or a forged date) cannot make keys live longer.
    entry = {"data": auth0_issuer.jwks(), "max_age": None, "fetched": clock.now + 100_000}
    caches["jwks"].set(shared_key(auth0_issuer), entry)
    worker = build_verifier()
    worker.verify(m2m_token(auth0_issuer))
    assert auth0_issuer.jwks_hits() == 0  # adopted
    clock.advance(61)
    worker.verify(m2m_token(auth0_issuer, claims={"n": 1}))
    assert auth0_issuer.jwks_hits() == 1


def test_a_fresh_shared_copy_still_saves_the_fetch(auth0_issuer, shared, clock):
    worker_a, worker_b = build_verifier(), build_verifier()
    worker_a.verify(m2m_token(auth0_issuer))
    clock.advance(30)
    worker_b.verify(m2m_token(auth0_issuer, claims={"n": 1}))
    clock.advance(29)
    worker_b.verify(m2m_token(auth0_issuer, claims={"n": 2}))
    assert auth0_issuer.jwks_hits() == 1


# --- garbled entries ------------------------------------------------------------------------


def _deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


GARBLED: dict[str, Callable[[LocalIssuer, float], Any]] = {
    "text": lambda issuer, now: "garbage",
    "bytes": lambda issuer, now: b"\x80\x04junk",
    "list": lambda issuer, now: [issuer.jwks()],
    "empty-dict": lambda issuer, now: {},
    "no-data": lambda issuer, now: {"fetched": now, "max_age": None},
    "data-text": lambda issuer, now: {"data": "keys", "fetched": now, "max_age": None},
    "keys-not-a-list": lambda issuer, now: {"data": {"keys": "[]"}, "fetched": now, "max_age": None},
    "no-usable-key": lambda issuer, now: {
        "data": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
        "fetched": now,
        "max_age": None,
    },
    "deep-junk-beside-a-good-key": lambda issuer, now: {
        "data": {"keys": [issuer.signing_key.public_jwk(), _deep(100)]},
        "fetched": now,
        "max_age": None,
    },
    "no-fetch-time": lambda issuer, now: {"data": issuer.jwks(), "max_age": None},
    "fetch-time-text": lambda issuer, now: {"data": issuer.jwks(), "fetched": "now", "max_age": None},
    "fetch-time-nan": lambda issuer, now: {"data": issuer.jwks(), "fetched": float("nan"), "max_age": None},
    "fetch-time-infinite": lambda issuer, now: {"data": issuer.jwks(), "fetched": float("inf"), "max_age": None},
    "fetch-time-bool": lambda issuer, now: {"data": issuer.jwks(), "fetched": True, "max_age": None},
    "max-age-text": lambda issuer, now: {"data": issuer.jwks(), "fetched": now, "max_age": "60"},
    "max-age-negative": lambda issuer, now: {"data": issuer.jwks(), "fetched": now, "max_age": -5},
}


@pytest.mark.parametrize("name", sorted(GARBLED))
def test_a_garbled_shared_entry_is_ignored_and_the_keys_fetched(auth0_issuer, shared, clock, name):
    caches["jwks"].set(shared_key(auth0_issuer), GARBLED[name](auth0_issuer, clock.now))
    build_verifier().verify(m2m_token(auth0_issuer))
    assert auth0_issuer.jwks_hits() == 1


@pytest.mark.parametrize("name", sorted(GARBLED))
def test_a_garbled_shared_entry_on_a_scheduled_refresh_is_ignored_and_the_keys_fetched(
    auth0_issuer, shared, clock, name
):
    worker = build_verifier()
    worker.verify(m2m_token(auth0_issuer))
    clock.advance(61)
    caches["jwks"].set(shared_key(auth0_issuer), GARBLED[name](auth0_issuer, clock.now))
    worker.verify(m2m_token(auth0_issuer, claims={"n": 1}))
    assert auth0_issuer.jwks_hits() == 2


@pytest.mark.parametrize("name", sorted(GARBLED))
def test_a_garbled_shared_entry_while_the_issuer_is_down_is_a_503(auth0_issuer, shared, clock, name, client_for):
    caches["jwks"].set(shared_key(auth0_issuer), GARBLED[name](auth0_issuer, clock.now))
    auth0_issuer.override = lambda path: (503, {}, b"")
    response = client_for(m2m_token(auth0_issuer)).get("/api/private")
    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"
    assert int(response["Retry-After"]) >= 1


# --- one fetch for every worker -------------------------------------------------------------------


@pytest.mark.django_db
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


@pytest.mark.django_db
def test_without_a_shared_cache_each_worker_fetches(auth0_issuer):
    worker_a, worker_b = build_verifier(), build_verifier()
    token = auth0_issuer.token()
    worker_a.verify(token)
    worker_b.verify(token)
    assert auth0_issuer.jwks_hits() == 2


@pytest.mark.django_db
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


@pytest.mark.django_db
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
