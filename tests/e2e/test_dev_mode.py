"""The demo's zero-configuration mode (DEBUG on, no AUTH0_* variables), and its refusal without DEBUG."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest
import requests

from .conftest import start_demo
from .demo import DemoServer, demo_env, manage


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = start_demo(tmp_path_factory.mktemp("dev"), DJANGO_DEBUG="true")
    yield server
    server.stop()


def mint(demo: DemoServer, *args: str) -> str:
    result = manage(demo.env, "auth0_mint", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def token(demo: DemoServer) -> str:
    return mint(
        demo, "--sub", "auth0|e2e-dev", "--scope", "read:messages", "--claim", 'https://auth0-drf-demo/plan="pro"'
    )


def test_a_minted_token_opens_the_private_endpoints(demo, token):
    response = demo.get("/api/private", token)
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == "auth0|e2e-dev"
    assert demo.get("/api/private-scoped", token).status_code == 200
    claims = demo.get("/api/claims", token).json()
    assert claims["custom_claims"] == {"https://auth0-drf-demo/plan": "pro"}


def test_the_published_jwks_verifies_minted_tokens_for_an_outsider(demo, token):
    jwks = requests.get(demo.url + "/.well-known/jwks.json", timeout=5).json()
    header = jwt.get_unverified_header(token)
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience="https://auth0-drf-demo/api")
    discovery = requests.get(demo.url + "/.well-known/openid-configuration", timeout=5).json()
    assert discovery["issuer"] == claims["iss"]


def test_without_debug_and_without_configuration_nothing_starts(tmp_path):
    env = demo_env(DJANGO_DEBUG="false", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    check = manage(env, "check", "--deploy")
    assert check.returncode != 0
    assert "auth0_drf.E001" in check.stderr
    assert "AUTH0_DRF['DOMAIN']" in check.stderr
    server = manage(env, "runserver", "--noreload", "127.0.0.1:9", timeout=30)
    assert server.returncode != 0
    assert "auth0_drf.E001" in server.stderr + server.stdout
