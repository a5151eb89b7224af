"""The demo configured with an issuer alone: keys are found through OpenID discovery.

The provider's issuer ends with a slash here (as Auth0's does) and its keys are not at Auth0's
path, so only the discovery document can say where they are.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hostile import assert_rejected

from .conftest import AUDIENCE, serve_demo
from .demo import DemoServer
from .provider import DISCOVERY_PATH, OpenIDProvider


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    provider = OpenIDProvider(AUDIENCE, trailing_slash=True).start()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def demo(provider: OpenIDProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    yield from serve_demo(tmp_path_factory, "demo", AUTH0_ISSUER=provider.issuer, AUTH0_AUDIENCE=AUDIENCE)


def test_keys_are_found_through_discovery_once_for_concurrent_first_requests(demo, provider):
    from concurrent.futures import ThreadPoolExecutor

    assert provider.issuer.endswith("/")
    tokens = [provider.access_token(style="at+jwt") for _ in range(12)]
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda token: demo.get("/api/private", token), tokens))
    assert [response.status_code for response in responses] == [200] * 12
    assert provider.requests.count(DISCOVERY_PATH) == 1
    assert provider.key_requests() == 1


def test_the_issuer_must_match_exactly(demo, provider):
    token = provider.access_token(iss=provider.issuer.rstrip("/"))
    assert_rejected(demo.get("/api/private", token), status=401, code="invalid_issuer")


def test_es256_is_refused_when_not_configured(demo, provider):
    token = provider.access_token(key=provider.ec)
    assert_rejected(demo.get("/api/private", token), status=401, code="unsupported_algorithm")
