"""Fixtures for the end-to-end tests: an independent OpenID provider and the demo as a server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .demo import DemoServer, demo_env
from .provider import OpenIDProvider

AUDIENCE = "https://api.e2e.example/v1"
SECOND_AUDIENCE = "urn:e2e:second-api"


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


def serve_demo(tmp_path_factory: pytest.TempPathFactory, name: str, **variables: str) -> Iterator[DemoServer]:
    """Yield the demo served as in production (DEBUG off, host 127.0.0.1) and configured by ``variables``."""
    production = {"DJANGO_DEBUG": "false", "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    server = start_demo(tmp_path_factory.mktemp(name), **{**production, **variables})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def demo(provider: OpenIDProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo, configured for the provider only through its public environment variables."""
    yield from serve_demo(
        tmp_path_factory,
        "demo",
        DJANGO_ALLOWED_HOSTS="127.0.0.1, localhost",
        AUTH0_ISSUER=provider.issuer,
        # Written the way people write lists: with a space after the comma.
        AUTH0_AUDIENCE=f"{AUDIENCE}, {SECOND_AUDIENCE}",
        AUTH0_JWKS_URI=provider.jwks_uri,
        AUTH0_ALGORITHMS="RS256, ES256",
    )
