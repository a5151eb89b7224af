"""Fixtures for the end-to-end tests: an independent OpenID provider and the demo as a server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .demo import DemoServer, demo_env
from .provider import OpenIDProvider

AUDIENCE = "https://api.e2e.example/v1"
SECOND_AUDIENCE = "urn:e2e:second-api"

# RFC 6750 section 3 / RFC 9110 section 11.6.1: auth-scheme 1*SP auth-param *( OWS "," OWS auth-param ),
# with quoted-string values; RFC 6750 limits error_description to %x20-21 / %x23-5B / %x5D-7E.
_PARAM = r'[A-Za-z_]+="[\x20\x21\x23-\x5b\x5d-\x7e]*"'
CHALLENGE = re.compile(rf"Bearer {_PARAM}(?:, ?{_PARAM})*")


HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by -m
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e ``e2e`` (registered in pyproject.toml)."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    provider = OpenIDProvider(AUDIENCE).start()
    yield provider
    provider.stop()


def start_demo(tmp_path: Path, **variables: str) -> DemoServer:
    database = tmp_path / "demo.sqlite3"
    env = demo_env(DATABASE_URL=f"sqlite:///{database}", DJANGO_SECRET_KEY="e2e-" + "x" * 60, **variables)
    return DemoServer(env, tmp_path / "demo.log", database).start()


@pytest.fixture(scope="module")
def demo(provider: OpenIDProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo, configured for the provider only through its public environment variables."""
    server = start_demo(
        tmp_path_factory.mktemp("demo"),
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1, localhost",
        AUTH0_ISSUER=provider.issuer,
        # Written the way people write lists: with a space after the comma.
        AUTH0_AUDIENCE=f"{AUDIENCE}, {SECOND_AUDIENCE}",
        AUTH0_JWKS_URI=provider.jwks_uri,
        AUTH0_ALGORITHMS="RS256, ES256",
    )
    yield server
    server.stop()


def assert_challenge(response: requests.Response, error: str | None) -> str:
    """Assert exactly one well-formed RFC 6750 challenge with ``error`` (or none) and return it."""
    values = response.raw.headers.getlist("WWW-Authenticate")
    assert len(values) == 1, values
    challenge = values[0]
    assert CHALLENGE.fullmatch(challenge), challenge
    names = re.findall(r'([A-Za-z_]+)="', challenge)
    assert len(names) == len(set(names)), challenge  # realm, error... at most once each
    assert "realm" in names
    if error is None:
        assert "error" not in names, challenge
    else:
        assert f'error="{error}"' in challenge
    return challenge


def assert_rejected(response: requests.Response, status: int, code: str, error: str | None = "invalid_token",
                    secrets: tuple[str, ...] = ()) -> dict:
    """Assert a deliberate rejection: status, one challenge, JSON body with ``code``, nothing echoed."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    if status == 401 or error is not None:
        assert_challenge(response, error)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    everything = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for secret in secrets:
        assert secret not in everything
    return body
