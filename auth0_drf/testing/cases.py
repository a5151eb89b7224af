"""Trust a test issuer in ``unittest`` test cases (``Auth0TestMixin``), and forget cached state between tests."""

from __future__ import annotations

from typing import Any

from django.test import override_settings

from auth0_drf.conf import auth0_settings

from .issuers import TestIssuer, make_issuer


class Auth0TestMixin:
    """A ``unittest`` mixin: a test issuer per test class, trusted by auth0_drf.

    Set ``auth0_issuer_mode = "in-process"`` for keys installed in-process (no server), and
    ``auth0_settings_overrides`` for more ``AUTH0_DRF`` settings. Then::

        class MessagesTests(Auth0TestMixin, APITestCase):
            def test_list(self):
                self.auth0_authenticate(scope="read:messages")  # self.client sends a token
                self.assertEqual(self.client.get("/api/messages/").status_code, 200)
    """

    auth0_issuer: TestIssuer
    auth0_issuer_mode: str = "loopback"
    auth0_audience: str = "https://api.example.test/"
    auth0_settings_overrides: dict[str, Any] = {}
    _auth0_override: override_settings

    @classmethod
    def setUpClass(cls) -> None:
        cls.auth0_issuer = make_issuer(cls.auth0_issuer_mode, audience=cls.auth0_audience).start()
        cls._auth0_override = cls.auth0_issuer.override_settings(**cls.auth0_settings_overrides)
        cls._auth0_override.enable()
        reset_caches()
        super().setUpClass()  # type: ignore[misc]  # a mixin: the TestCase after it in the MRO has it

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()  # type: ignore[misc]  # a mixin: the TestCase after it in the MRO has it
        cls._auth0_override.disable()
        cls.auth0_issuer.stop()
        reset_caches()

    def auth0_token(self, **token_kwargs: Any) -> str:
        """Return a fresh access token (``TestIssuer.token`` arguments)."""
        return self.auth0_issuer.token(**token_kwargs)

    def auth0_credentials(self, **token_kwargs: Any) -> dict[str, str]:
        """Return ``client.credentials()`` keyword arguments for a fresh token."""
        return {"HTTP_AUTHORIZATION": f"Bearer {self.auth0_token(**token_kwargs)}"}

    def auth0_authenticate(self, client: Any = None, **token_kwargs: Any) -> str:
        """Make ``client`` (default ``self.client``) send a fresh token from now on; return the token."""
        token = self.auth0_token(**token_kwargs)
        # A mixin: self.client is the APIClient of the DRF test case it is mixed into.
        (client or self.client).credentials(HTTP_AUTHORIZATION=f"Bearer {token}")  # type: ignore[attr-defined]
        return token


def reset_caches() -> None:
    """Forget keys, verified tokens and cached users (between tests)."""
    auth0_settings.reload()
