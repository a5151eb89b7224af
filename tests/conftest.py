"""Shared fixtures: every test gets clean auth0_drf caches; the issuer comes from auth0_drf's plugin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from auth0_drf.jwks import JWKSCache
from auth0_drf.signing import LocalKey
from auth0_drf.testing import LocalIssuer, reset_caches

from .helpers import Clock, bearer_client, send


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
    return bearer_client


@pytest.fixture
def get_with() -> Callable[..., Any]:
    """GET ``path`` with a raw Authorization header value (or none)."""

    def get(path: str, authorization: str | None = None, **extra: Any) -> Any:
        return send(authorization, path, **extra)

    return get


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Make every JWKS cache read time from a ``Clock`` the test moves by hand."""
    fake = Clock()
    monkeypatch.setattr(JWKSCache, "timer", staticmethod(fake))
    return fake


@pytest.fixture(scope="module")
def local_keys() -> dict[str, LocalKey]:
    """One key per algorithm (and a second RS256 one) for the module: key generation is the slow part."""
    keys = {alg: LocalKey.generate(alg) for alg in ("RS256", "PS256", "ES256", "EdDSA")}
    keys["RS256-b"] = LocalKey.generate("RS256")
    return keys


@pytest.fixture
def issuer_a(local_keys: dict[str, LocalKey]) -> Iterator[LocalIssuer]:
    """A second local issuer, beside ``auth0_issuer``, for the API ``https://a.api.test/``."""
    with LocalIssuer(audience="https://a.api.test/", keys=[local_keys["RS256"]]) as issuer:
        yield issuer


@pytest.fixture
def issuer_b(local_keys: dict[str, LocalKey]) -> Iterator[LocalIssuer]:
    """A third local issuer, with its own key, for the API ``https://b.api.test/``."""
    with LocalIssuer(audience="https://b.api.test/", keys=[local_keys["RS256-b"]]) as issuer:
        yield issuer


# --- the claim recorder ----------------------------------------------------------------------


@pytest.fixture
def timer(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Move the claim recorder's clock (its ``timer`` extension point) by hand."""
    from auth0_drf.recorder import claim_recorder

    fake = Clock()
    monkeypatch.setattr(claim_recorder, "timer", fake)
    return fake


@pytest.fixture
def see(auth0_issuer: Any, client_for: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Return ``send(sub, **claims)``: one request of ``sub`` with ``claims``, committed as in production.

    The claim recorder starts with an empty memory, so the first request of each subject is written.
    """
    from auth0_drf.recorder import claim_recorder

    claim_recorder.clear()

    def send(sub: str, **claims: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(auth0_issuer.token(sub=sub, claims=claims)).get("/api/private")
        assert response.status_code == 200, response.content
        return response

    return send
