"""The demo configured the Auth0 way: AUTH0_DOMAIN (no scheme) and the API identifier.

The issuer is then ``https://<domain>/``; the keys come from AUTH0_JWKS_URI on loopback, so
no tenant is needed. Tokens mimic a tenant's: default profile (azp, gty for machines) with
``aud`` as a list including /userinfo.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hostile import assert_rejected

from .conftest import AUDIENCE, serve_demo
from .demo import DemoServer, manage
from .provider import OpenIDProvider

DOMAIN = "tenant-e2e.eu.auth0.com"
ISSUER = f"https://{DOMAIN}/"


@pytest.fixture(scope="module")
def demo(provider: OpenIDProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    yield from serve_demo(
        tmp_path_factory,
        "domain",
        AUTH0_DOMAIN=DOMAIN,
        AUTH0_AUDIENCE=AUDIENCE,
        AUTH0_JWKS_URI=provider.jwks_uri,
    )


def test_a_tenant_style_token_is_accepted(demo, provider):
    token = provider.access_token(
        iss=ISSUER,
        sub="auth0|64a1b2c3",
        aud=[AUDIENCE, f"https://{DOMAIN}/userinfo"],
        scope="openid profile read:messages",
        permissions=["read:messages"],
    )
    response = demo.get("/api/claims", token)
    assert response.status_code == 200, response.text
    assert response.json()["claims"]["iss"] == ISSUER
    assert demo.get("/api/private-scoped", token).status_code == 200


def test_a_userinfo_only_token_says_to_request_the_audience(demo, provider):
    token = provider.access_token(iss=ISSUER, aud=f"https://{DOMAIN}/userinfo", scope="openid profile")
    body = assert_rejected(demo.get("/api/private", token), status=401, code="invalid_audience")
    assert f"audience={AUDIENCE}" in body["detail"]


def test_the_provider_own_issuer_is_not_accepted(demo, provider):
    assert_rejected(demo.get("/api/private", provider.access_token()), status=401, code="invalid_issuer")


def test_auth0_check_reports_the_keys(demo):
    result = manage(demo.env, "auth0_check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ISSUER in result.stdout
