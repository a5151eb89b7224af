"""Test issuers: signing keys and an access-token factory auth0_drf trusts, published on loopback or in-process."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.test import override_settings

from auth0_drf.keysources import register_static_keys, unregister_static_keys
from auth0_drf.signing import LocalKey, access_token_claims, jwks_document

from .loopback import LoopbackServer, json_response

if TYPE_CHECKING:
    import ssl

    from typing_extensions import Self  # typing.Self from Python 3.11


class TestIssuer:
    """Signing keys and a token factory trusted by auth0_drf; subclasses publish the keys.

    ``token()`` mints Auth0-shaped access tokens signed by the current key; ``settings()`` and
    ``override_settings()`` point auth0_drf at this issuer.
    """

    __test__ = False  # a helper, not a test class, whatever pytest makes of its name

    issuer: str
    jwks_uri: str

    def __init__(
        self,
        *,
        audience: str = "https://api.example.test/",
        keys: Iterable[LocalKey] | None = None,
        alg: str = "RS256",
    ) -> None:
        self.audience = audience
        self.keys: list[LocalKey] = list(keys) if keys is not None else [LocalKey.generate(alg)]
        self.signing_key = self.keys[0]
        #: Raw JWKs published after the keys (tests use them for keys the verifier must ignore).
        self.extra_jwks: list[dict[str, Any]] = []

    def start(self) -> Self:
        """Publish the keys; return self."""
        return self

    def stop(self) -> None:
        """Stop publishing the keys."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def jwks(self) -> dict[str, Any]:
        """Return the JWKS currently published."""
        document = jwks_document(self.keys)
        document["keys"].extend(self.extra_jwks)
        return document

    def rotate(self, alg: str | None = None, *, keep_old: bool = True) -> LocalKey:
        """Publish a new key and sign with it from now on; return it."""
        key = LocalKey.generate(alg or self.signing_key.alg)
        self.keys = (self.keys if keep_old else []) + [key]
        self.signing_key = key
        return key

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Return an ``AUTH0_DRF`` dict that trusts this issuer (``overrides`` win)."""
        values: dict[str, Any] = {
            "ISSUER": self.issuer,
            "AUDIENCE": self.audience,
            "JWKS_URI": self.jwks_uri,
            "ALGORITHMS": sorted({key.alg for key in self.keys}),
        }
        values.update(overrides)
        return values

    def override_settings(self, **overrides: Any) -> override_settings:
        """Return Django's ``override_settings`` pointing auth0_drf at this issuer."""
        return override_settings(AUTH0_DRF=self.settings(**overrides))

    def claims(self, **kwargs: Any) -> dict[str, Any]:
        """Return the claims ``token()`` would sign (same keyword arguments)."""
        kwargs.setdefault("issuer", self.issuer)
        kwargs.setdefault("audience", self.audience)
        return access_token_claims(**kwargs)

    def token(
        self,
        *,
        headers: Mapping[str, Any] | None = None,
        key: LocalKey | None = None,
        drop: Iterable[str] = (),
        **kwargs: Any,
    ) -> str:
        """Return a signed access token.

        Keyword arguments: ``sub``, ``scope`` (a string or a list), ``permissions``, ``lifetime``
        (seconds, negative for an expired token), ``claims`` (extra or replaced claims, custom
        ones included), ``audience``, ``issuer``, ``now``; ``headers`` adds or replaces header
        parameters; ``drop`` removes claims.
        """
        payload = self.claims(**kwargs)
        for name in drop:
            payload.pop(name, None)
        return (key or self.signing_key).sign(payload, headers)


class LocalIssuer(LoopbackServer, TestIssuer):
    """An OpenID provider in miniature: keys, a JWKS and discovery on loopback HTTP, and tokens.

    ``issuer`` is ``http://127.0.0.1:<port>/``; ``jwks_uri`` is its ``.well-known/jwks.json``.
    auth0_drf fetches the keys exactly as it fetches a tenant's, so caching, rotation and
    outages can be tested for real.
    """

    JWKS_PATH = "/.well-known/jwks.json"

    def __init__(
        self,
        *,
        audience: str = "https://api.example.test/",
        keys: Iterable[LocalKey] | None = None,
        alg: str = "RS256",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        LoopbackServer.__init__(self, port=port, ssl_context=ssl_context)
        TestIssuer.__init__(self, audience=audience, keys=keys, alg=alg)
        self.jwks_headers: dict[str, str] = {}
        self.routes[self.JWKS_PATH] = lambda: json_response(self.jwks(), headers=self.jwks_headers)
        self.routes["/.well-known/openid-configuration"] = lambda: json_response(
            {"issuer": self.issuer, "jwks_uri": self.jwks_uri}
        )
        #: The ``/userinfo`` answers by subject (``sub`` is added): set ``profiles["auth0|ada"] = {...}``.
        self.profiles: dict[str, dict[str, Any]] = {}
        self._issued: dict[str, str] = {}
        self.header_routes[self.USERINFO_PATH] = self._userinfo

    USERINFO_PATH = "/userinfo"

    @property
    def userinfo_url(self) -> str:
        """The issuer's ``/userinfo``: put it in a token's ``aud`` for auth0_drf to fetch it (``USERINFO``)."""
        return self.url + self.USERINFO_PATH

    def token(self, **kwargs: Any) -> str:
        """Return a signed access token, as ``TestIssuer.token``; ``/userinfo`` answers for it."""
        token = super().token(**kwargs)
        segment = token.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        if isinstance(payload.get("sub"), str):
            self._issued[token] = payload["sub"]
        return token

    def userinfo_hits(self) -> int:
        """Return how many times ``/userinfo`` was asked."""
        return self.hits(self.USERINFO_PATH)

    def _userinfo(self, headers: Mapping[str, str]) -> Any:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        sub = self._issued.get(token) if scheme == "Bearer" else None
        if sub is None:
            return json_response(
                {"error": "invalid_token"}, 401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return json_response({"sub": sub, **self.profiles.get(sub, {})})

    @property
    def issuer(self) -> str:  # type: ignore[override]  # read-only here: it follows the server's port
        return self.url + "/"

    @property
    def jwks_uri(self) -> str:  # type: ignore[override]  # read-only here: it follows the server's port
        return self.url + self.JWKS_PATH

    def jwks_hits(self) -> int:
        """Return how many times the JWKS was fetched."""
        return self.hits(self.JWKS_PATH)


class InProcessIssuer(TestIssuer):
    """A test issuer whose keys are handed straight to auth0_drf: no server, no socket.

    Between ``start()`` and ``stop()``, its keys are registered as the static keys of
    ``issuer`` (``auth0_drf.keysources.register_static_keys``), so nothing is ever fetched for
    it; ``rotate()`` registers the new set. Faster than ``LocalIssuer``; use ``LocalIssuer`` to
    test fetching itself.
    """

    def __init__(
        self,
        *,
        issuer: str = "https://in-process-issuer.test/",
        audience: str = "https://api.example.test/",
        keys: Iterable[LocalKey] | None = None,
        alg: str = "RS256",
    ) -> None:
        super().__init__(audience=audience, keys=keys, alg=alg)
        self.issuer = issuer
        # Never fetched (the keys are static); an https URL keeps the system checks quiet.
        self.jwks_uri = issuer.rstrip("/") + "/.well-known/jwks.json"
        self.started = False

    def start(self) -> Self:
        self.started = True
        register_static_keys(self.issuer, self.jwks)  # the next verifier is built with our keys
        return self

    def stop(self) -> None:
        self.started = False
        unregister_static_keys(self.issuer)

    def rotate(self, alg: str | None = None, *, keep_old: bool = True) -> LocalKey:
        key = super().rotate(alg, keep_old=keep_old)
        if self.started:
            register_static_keys(self.issuer, self.jwks)
        return key


def make_issuer(mode: str = "loopback", **kwargs: Any) -> TestIssuer:
    """Return an unstarted ``LocalIssuer`` (``mode="loopback"``) or ``InProcessIssuer`` (``"in-process"``)."""
    if mode == "loopback":
        return LocalIssuer(**kwargs)
    if mode == "in-process":
        return InProcessIssuer(**kwargs)
    raise ValueError(f"mode must be 'loopback' or 'in-process', not {mode!r}")
