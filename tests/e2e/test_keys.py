"""Key rotation, unknown kids and provider outages, against the real demo server.

This module has its own demo server (and provider), so the unknown-kid refetches of the
rejection matrix elsewhere do not hold this one's refetch cooldown. Only the first test here
may use the one unknown-kid refetch a cooldown allows (pytest runs them in file order).
"""

from __future__ import annotations

import uuid

import jwt

from tests.hostile import assert_rejected

from .provider import ProviderKey


def test_a_key_published_after_the_first_fetch_is_picked_up_with_one_refetch(demo, provider):
    assert demo.get("/api/private", provider.access_token()).status_code == 200
    fetches = provider.key_requests()
    fresh = provider.add_key()  # not announced in advance: only a refetch finds it
    response = demo.get("/api/private", provider.access_token(key=fresh))
    assert response.status_code == 200, response.text
    assert provider.key_requests() == fetches + 1


def test_rotation_to_the_announced_next_key_needs_no_fetch(demo, provider):
    assert demo.get("/api/private", provider.access_token()).status_code == 200
    fetches = provider.key_requests()
    promoted = provider.rotate()
    assert demo.get("/api/private", provider.access_token(key=promoted)).status_code == 200
    assert provider.key_requests() == fetches


def test_a_flood_of_random_kids_causes_at_most_one_fetch(demo, provider):
    fetches = provider.key_requests()
    stranger = ProviderKey("RSA", "x")
    for _ in range(25):
        kid = uuid.uuid4().hex
        token = jwt.encode(provider.claims(azp="c"), stranger.private, "RS256", headers={"kid": kid})
        assert_rejected(demo.get("/api/private", token), status=401, code="unknown_key", secrets=(kid,))
    assert provider.key_requests() <= fetches + 1


def test_cached_keys_keep_working_when_the_provider_goes_down(demo, provider):
    assert demo.get("/api/private", provider.access_token()).status_code == 200
    provider.stop()
    try:
        assert demo.get("/api/private", provider.access_token(sub="e2e|while-down")).status_code == 200
        assert demo.get("/api/private", provider.access_token(key=provider.ec)).status_code == 200
        # An unknown kid while the provider is down: a 401, not a 503 or a 500.
        token = jwt.encode(provider.claims(), ProviderKey("RSA", "y").private, "RS256", headers={"kid": "gone"})
        assert_rejected(demo.get("/api/private", token), status=401, code="unknown_key")
    finally:
        provider.start()


def test_no_request_ever_got_a_500(demo):
    assert '" 500 ' not in demo.log()
