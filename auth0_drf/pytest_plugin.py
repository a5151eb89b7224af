"""pytest fixtures for testing an API protected by auth0_drf, without Auth0.

- ``auth0_issuer``: a running test issuer that auth0_drf trusts for the test's duration: a
  ``LocalIssuer`` (JWKS over loopback HTTP), or an ``InProcessIssuer`` when the
  ``auth0_issuer_mode`` fixture returns ``"in-process"`` (override it in your conftest.py).
- ``auth0_token``: a function minting tokens from it: ``auth0_token(scope="read:messages")``.
- ``auth0_api_client``: a DRF ``APIClient`` sending a fresh token (``sub="auth0|test-user"``);
  call ``auth0_api_client.use_token(scope=...)`` to switch to another.
- ``auth0_settings_overrides``: override it to add ``AUTH0_DRF`` settings.

The fixtures run under pytest-django (``pip install "auth0-drf[test]"``), which configures Django
from your settings (``DJANGO_SETTINGS_MODULE``); without it they fail saying so.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings  # only the lazy settings object: nothing is configured or read here

if TYPE_CHECKING:
    from auth0_drf.signing import LocalKey
    from auth0_drf.testing import TestIssuer

# pytest imports this plugin at startup, in every project that installs auth0_drf, before
# pytest-django configures Django: the fixtures import auth0_drf and DRF when they run, not here.


def require_pytest_django(config: pytest.Config) -> None:
    """Fail the test, saying what to install or set, when Django is not set up for it.

    Checked by the fixtures rather than when pytest starts: this plugin is loaded into every pytest
    run of an environment where auth0-drf is installed, test suites that never use it included.
    """
    # By module, not by name: "django" when loaded through its entry point, else the module's name.
    loaded = {getattr(plugin, "__name__", None) for plugin in config.pluginmanager.get_plugins()}
    if "pytest_django.plugin" not in loaded:
        if importlib.util.find_spec("pytest_django") is None:
            why = 'pytest-django is not installed: pip install "auth0-drf[test]" (pytest and pytest-django)'
        else:
            why = (
                "pytest-django is installed but not loaded (-p no:django, or PYTEST_DISABLE_PLUGIN_AUTOLOAD): "
                "load it with -p pytest_django.plugin"
            )
        pytest.fail(f"auth0_drf's pytest fixtures need pytest-django to set Django up; {why}.", pytrace=False)
    if not settings.configured:
        pytest.fail(
            "auth0_drf's pytest fixtures need Django's settings: set DJANGO_SETTINGS_MODULE (or --ds, or "
            "DJANGO_SETTINGS_MODULE in pytest's configuration), as pytest-django's documentation says.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def auth0_signing_key(request: pytest.FixtureRequest) -> LocalKey:
    """One RSA key for the whole session: generating keys is the slow part of a test issuer."""
    require_pytest_django(request.config)
    from auth0_drf.signing import LocalKey  # noqa: PLC0415

    return LocalKey.generate("RS256")


@pytest.fixture
def auth0_settings_overrides() -> dict[str, Any]:
    """Override to change the ``AUTH0_DRF`` settings ``auth0_issuer`` installs."""
    return {}


@pytest.fixture
def auth0_issuer_mode() -> str:
    """Override to return ``"in-process"`` for keys installed in-process instead of served on loopback."""
    return "loopback"


@pytest.fixture
def auth0_issuer(
    auth0_signing_key: LocalKey, auth0_settings_overrides: dict[str, Any], auth0_issuer_mode: str
) -> Iterator[TestIssuer]:
    """Start a test issuer and point auth0_drf at it."""
    from auth0_drf.testing import make_issuer, reset_caches  # noqa: PLC0415

    issuer = make_issuer(auth0_issuer_mode, keys=[auth0_signing_key]).start()
    override = issuer.override_settings(**auth0_settings_overrides)
    override.enable()
    reset_caches()
    try:
        yield issuer
    finally:
        override.disable()
        issuer.stop()
        reset_caches()


@pytest.fixture
def auth0_token(auth0_issuer: TestIssuer) -> Callable[..., str]:
    """Return a function that mints access tokens from ``auth0_issuer``."""
    return auth0_issuer.token


@pytest.fixture
def auth0_api_client(auth0_issuer: TestIssuer) -> Any:
    """Return an ``APIClient`` that sends an access token from ``auth0_issuer``."""
    from rest_framework.test import APIClient  # noqa: PLC0415

    class Auth0APIClient(APIClient):
        def use_token(self, **token_kwargs: Any) -> str:
            token_kwargs.setdefault("sub", "auth0|test-user")
            token = auth0_issuer.token(**token_kwargs)
            self.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            return token

    client = Auth0APIClient()
    client.use_token()
    return client
