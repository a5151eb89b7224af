"""The provider is down when the demo starts (503 with Retry-After, then recovery without a
restart of the demo), and later restarts with new keys under the same kid."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.helpers import free_port

from .demo import DemoServer
from .provider import OpenIDProvider, ProviderKey


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    """A provider that is not running yet (its port is chosen, nothing listens on it)."""
    provider = OpenIDProvider("https://api.e2e.example/v1")
    provider.port = free_port()
    yield provider
    provider.stop()


def test_provider_down_from_the_start_then_recovery(demo: DemoServer, provider: OpenIDProvider):
    # The demo started (checks, migrations, server) while the provider was unreachable.
    token = provider.access_token()
    for _ in range(5):
        response = demo.get("/api/private", token)
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "jwks_unavailable"
        assert token not in response.text
        retry_after = int(response.headers["Retry-After"])
        assert 1 <= retry_after <= 30
    provider.start()
    give_up = time.monotonic() + retry_after + 3
    while (response := demo.get("/api/private", token)).status_code == 503 and time.monotonic() < give_up:
        time.sleep(0.2)
    assert response.status_code == 200, response.text
    assert provider.key_requests() == 1


def test_a_restart_with_new_key_material_under_the_same_kid_is_picked_up(demo, provider):
    # Some providers keep one kid ("default", "1") and generate new keys when they restart.
    if not provider.running:  # when this test runs on its own
        provider.start()
    assert demo.get("/api/private", provider.access_token()).status_code == 200
    fetches = provider.key_requests()
    provider.stop()
    provider.current = ProviderKey("RSA", provider.current.kid)
    provider.start()
    response = demo.get("/api/private", provider.access_token())
    assert response.status_code == 200, response.text
    assert provider.key_requests() == fetches + 1
    # A token signed by nobody's key still costs no further fetch (the cooldown holds).
    forged = ProviderKey("RSA", provider.current.kid).sign(provider.claims(), {"typ": "JWT"})
    assert demo.get("/api/private", forged).json()["code"] == "invalid_signature"
    assert provider.key_requests() == fetches + 1


def test_no_request_ever_got_a_500(demo: DemoServer):
    assert '" 500 ' not in demo.log()
