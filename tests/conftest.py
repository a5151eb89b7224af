"""Shared fixtures: every test gets clean auth0_drf caches; the issuer comes from auth0_drf's plugin."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from rest_framework.test import APIClient

from auth0_drf.jwks import JWKSCache
from auth0_drf.testing import reset_caches


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by -m
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of a module that drives Chromium ``browser`` (registered in pyproject.toml).

    By what the module uses, not by its file name: a module that imports ``headless_chromium``
    (defined in the admin's browser test) is a browser test wherever it lives. tests/e2e/conftest.py
    marks its tests ``e2e``. ``pytest -m "not e2e and not browser"`` is the quick local loop.
    """
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "headless_chromium"):
            item.add_marker(pytest.mark.browser)


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
