"""When keys are (re)fetched: unknown kids after a scheduled fetch, and backoff after failures.

The key cache's clock is swapped for one the test moves (``JWKSCache.timer`` is an attribute
for this), so nothing here sleeps or depends on the machine's speed.
"""

from __future__ import annotations

import json

import pytest

from .helpers import get

pytestmark = pytest.mark.django_db


def test_a_key_added_just_after_the_first_fetch_is_accepted_with_the_default_cooldown(auth0_issuer, clock):
    # The default JWKS_REFETCH_COOLDOWN (30 s) limits refetches caused by unknown kids, not the
    # first one after an ordinary fetch: a rotation right after startup must not give 401s.
    assert get(auth0_issuer.token()).status_code == 200
    clock.now += 1
    auth0_issuer.rotate()
    assert get(auth0_issuer.token()).status_code == 200
    assert auth0_issuer.jwks_hits() == 2


def test_unknown_kids_refetch_at_most_once_per_cooldown(auth0_issuer, clock):
    assert get(auth0_issuer.token()).status_code == 200
    for i in range(5):
        assert get(auth0_issuer.token(headers={"kid": f"random-{i}"})).status_code == 401
    assert auth0_issuer.jwks_hits() == 2
    clock.now += 29
    auth0_issuer.rotate()
    assert get(auth0_issuer.token()).status_code == 401  # still cooling down
    assert auth0_issuer.jwks_hits() == 2
    clock.now += 2
    assert get(auth0_issuer.token()).status_code == 200
    assert auth0_issuer.jwks_hits() == 3


def test_an_issuer_down_at_startup_is_retried_with_a_growing_backoff(auth0_issuer, clock):
    auth0_issuer.override = lambda path: (503, {}, b"")
    token = auth0_issuer.token()
    response = get(token)
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert get(token).status_code == 503  # within the backoff: no fetch
    assert auth0_issuer.jwks_hits() == 1
    waits = []
    for _ in range(7):
        clock.now += int(get(token)["Retry-After"])
        assert get(token).status_code == 503
        waits.append(int(get(token)["Retry-After"]))
    assert waits == [2, 4, 8, 16, 30, 30, 30]  # doubling, capped at JWKS_REFETCH_COOLDOWN
    assert auth0_issuer.jwks_hits() == 8
    auth0_issuer.override = None
    clock.now += 30
    assert get(token).status_code == 200
    # Recovered: the next failure starts the backoff from 1 s again.
    assert auth0_issuer.jwks_hits() == 9


def test_a_flood_during_an_outage_is_bounded_by_the_backoff(auth0_issuer, clock):
    auth0_issuer.override = lambda path: (500, {}, b"down")
    token = auth0_issuer.token()
    for _ in range(20):
        assert get(token).status_code == 503
    assert auth0_issuer.jwks_hits() == 1


@pytest.mark.parametrize(
    "unusable",
    [
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]},
        {"keys": [{"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"}]},
    ],
)
def test_a_first_jwks_with_no_usable_key_is_an_outage_not_an_invalid_token(auth0_issuer, clock, unusable):
    # No key to verify anything with is the server's problem: 503 and a retry, not a 401 that
    # tells clients their (good) token is bad.
    auth0_issuer.override = lambda path: (200, {"Content-Type": "application/json"}, json.dumps(unusable).encode())
    response = get(auth0_issuer.token())
    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"
    auth0_issuer.override = None
    clock.now += int(response["Retry-After"])
    assert get(auth0_issuer.token()).status_code == 200


def test_new_key_material_under_the_same_kid_is_used_after_one_refetch(auth0_issuer, clock):
    from auth0_drf.signing import LocalKey

    assert get(auth0_issuer.token()).status_code == 200
    clock.now += 1
    # The issuer restarts with a new key under the old kid.
    replacement = LocalKey.generate(kid=auth0_issuer.signing_key.kid)
    auth0_issuer.keys = [replacement]
    auth0_issuer.signing_key = replacement
    assert get(auth0_issuer.token()).status_code == 200
    assert auth0_issuer.jwks_hits() == 2


def test_bad_signatures_refetch_at_most_once_per_cooldown(auth0_issuer, clock):
    from auth0_drf.signing import LocalKey

    assert get(auth0_issuer.token()).status_code == 200
    forger = LocalKey.generate(kid=auth0_issuer.signing_key.kid)
    for _ in range(10):
        response = get(auth0_issuer.token(key=forger))
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_signature"
    assert auth0_issuer.jwks_hits() == 2
    clock.now += 31
    assert get(auth0_issuer.token(key=forger)).status_code == 401
    assert auth0_issuer.jwks_hits() == 3


# --- keys live as long as their lifetime says, even when it is shorter than the cooldown --------


@pytest.mark.parametrize(
    ("overrides", "headers"),
    [({"JWKS_MIN_TTL": 5}, {"Cache-Control": "max-age=10"}), ({"JWKS_CACHE_TTL": 10}, {})],
    ids=["cache-control", "jwks-cache-ttl"],
)
def test_a_removed_key_stops_working_after_a_lifetime_shorter_than_the_cooldown(
    auth0_issuer, clock, settings, overrides, headers
):
    # JWKS_REFETCH_COOLDOWN (30 s by default) spaces out unknown-kid refetches and retries after
    # failures; it must not stretch a 10 s key lifetime to 30 s.
    settings.AUTH0_DRF = auth0_issuer.settings(**overrides)
    auth0_issuer.jwks_headers = headers
    old = auth0_issuer.token()
    assert get(old).status_code == 200
    auth0_issuer.rotate(keep_old=False)
    clock.now += 9
    assert get(old).status_code == 200  # within its lifetime
    assert auth0_issuer.jwks_hits() == 1
    clock.now += 2
    response = get(old)
    assert response.status_code == 401
    assert response.json()["code"] == "unknown_key"
    hits = auth0_issuer.jwks_hits()
    assert hits >= 2  # the refresh (and the unknown kid's one refetch)
    clock.now += 11
    assert get(auth0_issuer.token()).status_code == 200
    assert auth0_issuer.jwks_hits() == hits + 1  # the next lifetime ended too: refreshed again


def test_a_short_lifetime_does_not_let_unknown_kids_refetch_more_than_once_per_cooldown(auth0_issuer, clock, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=10)
    assert get(auth0_issuer.token()).status_code == 200
    for i in range(5):
        clock.now += 1
        assert get(auth0_issuer.token(headers={"kid": f"random-{i}"})).status_code == 401
    assert auth0_issuer.jwks_hits() == 2  # one refetch for the first unknown kid, none after
