"""Findings of the pre-release adversarial review: each test failed before its fix.

Real requests through DRF against a real loopback issuer; the key cache's clock is moved by the
test where minutes must pass (``JWKSCache.timer``), as in test_jwks_faults.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.test import override_settings

from auth0_drf.checks import check_settings
from auth0_drf.fetch import MAX_PENDING_PER_HOST, FetchError, fetch_json
from auth0_drf.rules import ClaimIncludes
from auth0_drf.testing import LoopbackServer
from auth0_drf.tokens import TokenVerifier, get_verifier

from .helpers import RawResponse, claims_of, get, m2m_token, wait_until
from .hostile import assert_rejected

pytestmark = pytest.mark.django_db(transaction=True)


# --- JWKS_MAX_STALENESS is a bound, also between two failed refreshes ---------------------------


def test_keys_beyond_max_staleness_are_not_used_during_the_retry_backoff(auth0_issuer, settings, clock):
    # A failed refresh used to mark the stale keys fresh for the backoff delay: the request that
    # tried the fetch got 503, and every request in the next seconds got 200 with those keys.
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_MAX_STALENESS=120, JWKS_REFETCH_COOLDOWN=10)
    cached = m2m_token(auth0_issuer)
    assert get(cached).status_code == 200
    auth0_issuer.override = lambda path: (503, {}, b"")
    clock.advance(200)
    assert_rejected(get(m2m_token(auth0_issuer, claims={"n": 1})), status=503, code="jwks_unavailable", error=None)
    fetches = auth0_issuer.jwks_hits()
    # Same instant, inside the backoff: the keys are still 200 s old.
    assert_rejected(get(m2m_token(auth0_issuer, claims={"n": 2})), status=503, code="jwks_unavailable", error=None)
    assert_rejected(get(cached), status=503, code="jwks_unavailable", error=None)
    assert auth0_issuer.jwks_hits() == fetches  # and still no fetch storm


# --- a verified token is not cached across a key-set change ------------------------------------


def test_a_token_verified_under_a_removed_key_is_not_cached_after_the_change(auth0_issuer, settings, monkeypatch):
    # The interleaving of two threads, step by step: A verifies a token under key K; B refetches
    # the JWKS, which no longer has K, and empties the token cache; only then does A store its
    # verdict. The stored verdict must not outlive the key it was made with.
    settings.AUTH0_DRF = auth0_issuer.settings()
    old_token = m2m_token(auth0_issuer, claims={"thread": "A"})
    steps: list[str] = []

    def thread_b_meanwhile(payload: Any, context: Any) -> None:
        # The last claim check of A's token: its signature is checked under K, its verdict not yet stored.
        if payload.get("thread") == "A" and not steps:
            steps.append("B")
            auth0_issuer.rotate(keep_old=False)
            assert get(m2m_token(auth0_issuer)).status_code == 200  # thread B: unknown kid, refetch, K gone

    monkeypatch.setattr(TokenVerifier, "claim_validators", (*TokenVerifier.claim_validators, thread_b_meanwhile))
    get_verifier().verify(old_token)  # thread A, with thread B's steps run before it stores its verdict
    assert steps == ["B"]
    assert_rejected(get(old_token), code="unknown_key")


# --- a refresh of keys that still work does not stall every request ----------------------------


def test_requests_with_good_keys_do_not_wait_for_a_slow_refresh(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_TIMEOUT=20)
    token = m2m_token(auth0_issuer)
    assert get(token).status_code == 200
    release = threading.Event()
    fetch_started = threading.Event()
    jwks = auth0_issuer.jwks()

    def slow(path: str) -> Any:
        fetch_started.set()
        release.wait(15)
        from auth0_drf.testing import json_response

        return json_response(jwks)

    auth0_issuer.override = slow
    clock.advance(61)  # the keys are due for a refresh
    results: dict[str, int] = {}

    def request(name: str, tok: str) -> None:
        results[name] = get(tok).status_code

    first = threading.Thread(target=request, args=("refreshing", m2m_token(auth0_issuer, claims={"n": 1})))
    first.start()
    assert fetch_started.wait(10)
    second = threading.Thread(target=request, args=("waiting", token))
    second.start()
    second.join(10)
    finished_during_fetch = not second.is_alive()
    release.set()
    first.join(20)
    second.join(20)
    assert finished_during_fetch, "a request with a token and keys that still work waited for the JWKS fetch"
    assert results == {"refreshing": 200, "waiting": 200}


# --- the header cache cannot be filled by unauthenticated requests ------------------------------


def test_forged_headers_do_not_take_the_header_cache(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings()
    good = m2m_token(auth0_issuer)
    verifier = get_verifier()
    for n in range(100):  # distinct, well-formed headers, with signatures that do not verify
        forged = m2m_token(auth0_issuer, headers={"x-junk": n})
        head, payload, signature = forged.split(".")
        assert_rejected(get(f"{head}.{payload}.{signature[:-4]}AAAA"), code="invalid_signature")
    assert verifier.cache_info().headers == 0  # no forged header took a place
    assert get(good).status_code == 200
    assert verifier.cache_info().headers == 1


# --- ClaimIncludes splits a string claim on spaces only, as scopes are ---------------------------


@pytest.mark.parametrize("separator", ["\t", "\n", "\u00a0", "\u3000"])
def test_claim_includes_does_not_split_on_other_whitespace(auth0_issuer, settings, separator):
    rule = ClaimIncludes("https://example.test/roles", "admin")
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=[rule])
    token = m2m_token(auth0_issuer, claims={"https://example.test/roles": f"user{separator}admin"})
    assert_rejected(get(token), status=403, code="claim_rule_failed")
    assert get(m2m_token(auth0_issuer, claims={"https://example.test/roles": "user admin"})).status_code == 200


# --- fetch helper threads are bounded -----------------------------------------------------------


def test_fetches_stuck_on_a_trickling_server_do_not_pile_up_threads():
    stop = threading.Event()

    def trickle(wfile: Any) -> None:
        wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
        while not stop.is_set():  # one header line, a byte at a time: each read is quick
            wfile.write(b"a")
            wfile.flush()
            time.sleep(0.02)
        wfile.write(b"\r\n\r\n{}")

    def stuck() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "auth0-drf-fetch")

    server = LoopbackServer().start()
    server.override = lambda path: RawResponse(trickle)
    before = stuck()
    try:
        for _ in range(30):
            with pytest.raises(FetchError):
                fetch_json(server.url + "/jwks", timeout=0.1, max_bytes=1000)
        assert stuck() - before <= MAX_PENDING_PER_HOST
    finally:
        stop.set()
        wait_until(lambda: stuck() <= before)
        server.stop()


# --- settings whose wrong values would make every request a 500 are system-check errors ---------


@pytest.mark.parametrize(
    "overrides",
    [
        {"JWKS_SHARED_CACHE": "no-such-cache"},
        {"MAX_TOKEN_AGE": "3600"},
        {"MAX_TOKEN_AGE": -1},
        {"USER_BACKEND": "no.such.Backend"},
        {"REALM": 1},
        {"CREATE_USERS": "false"},
    ],
)
def test_settings_that_break_every_request_fail_the_checks(auth0_issuer, overrides):
    with override_settings(AUTH0_DRF=auth0_issuer.settings(**overrides)):
        errors = check_settings()
    assert any(name in error.msg for error in errors for name in overrides), errors


# --- re-linking an identity to another user takes effect at once --------------------------------


def test_an_identity_moved_to_another_user_is_not_served_from_the_user_cache(auth0_issuer, settings):
    from django.contrib.auth import get_user_model

    from auth0_drf.models import Auth0Identity

    settings.AUTH0_DRF = auth0_issuer.settings(USER_CACHE_TTL=300)
    token = auth0_issuer.token(sub="auth0|moved")
    first = claims_of(token)["user"]["id"]
    other = get_user_model().objects.create(username="the-right-account")
    identity = Auth0Identity.objects.get(subject="auth0|moved")
    identity.user = other  # an admin re-links the identity (e.g. the first account was compromised)
    identity.save()
    assert claims_of(token)["user"]["id"] == other.pk != first


# --- a user changed while it was being looked up is not cached in its old state ------------------

from auth0_drf.backends import Auth0UserBackend  # noqa: E402


class AdminActsDuringLookup(Auth0UserBackend):
    """Plays an admin who deactivates the user right after the lookup read it (another thread)."""

    def find_identity(self, claims: Any) -> Any:
        identity = super().find_identity(claims)
        if identity is not None and claims.get("deactivate_during_lookup"):
            from django.contrib.auth import get_user_model

            fresh = get_user_model().objects.get(pk=identity.user_id)
            fresh.is_active = False
            fresh.save()
        return identity


def test_a_user_deactivated_during_the_lookup_is_not_cached_as_active(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(
        USER_CACHE_TTL=300, USER_BACKEND="tests.test_review.AdminActsDuringLookup"
    )
    assert get(auth0_issuer.token(sub="auth0|racer"), "/api/claims").status_code == 200  # created
    from auth0_drf.backends import user_cache

    user_cache.clear()  # the next request looks the user up again
    racing = auth0_issuer.token(sub="auth0|racer", claims={"deactivate_during_lookup": True})
    get(racing, "/api/claims")  # this request read the user before the change: it may pass
    assert_rejected(get(auth0_issuer.token(sub="auth0|racer"), "/api/claims"), code="user_inactive")
