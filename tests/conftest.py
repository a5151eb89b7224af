"""Shared fixtures: every test gets clean auth0_drf caches; the issuer comes from auth0_drf's plugin."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from rest_framework.test import APIClient

from auth0_drf.jwks import JWKSCache
from auth0_drf.testing import reset_caches


@pytest.fixture(autouse=True)
def _clean_auth0_caches() -> Any:
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def client_for() -> Callable[[str], APIClient]:
    """Return a function giving an APIClient that sends ``Authorization: Bearer <token>``."""

    def make(token: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture
def get_with(client_for: Callable[[str], APIClient]) -> Callable[..., Any]:
    """GET ``path`` with a raw Authorization header value (or none)."""

    def get(path: str, authorization: str | None = None, **extra: Any) -> Any:
        client = APIClient()
        if authorization is not None:
            extra["HTTP_AUTHORIZATION"] = authorization
        return client.get(path, **extra)

    return get


class Clock:
    """A monotonic clock that only moves when the test says so (``JWKSCache.timer`` is the swap point)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Make every JWKS cache read time from a ``Clock`` the test moves by hand."""
    fake = Clock()
    monkeypatch.setattr(JWKSCache, "timer", staticmethod(fake))
    return fake
