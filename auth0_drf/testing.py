"""Test your API without Auth0: a local issuer (JWKS over loopback HTTP, or installed in-process) and tokens.

With pytest, the fixtures ``auth0_issuer``, ``auth0_token`` and ``auth0_api_client`` come from
the plugin ``auth0_drf.pytest_plugin`` (registered automatically when auth0_drf is installed).
With unittest, mix ``Auth0TestMixin`` into your ``TestCase``. See README, "Testing your API".
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import jwt
from django.test import override_settings

from .conf import auth0_settings
from .dpop import access_token_hash
from .keysources import register_static_keys, unregister_static_keys
from .signing import LocalKey, access_token_claims, jwks_document

#: A response a test can make the loopback server give: (status, headers, body).
Response = tuple[int, Mapping[str, str], bytes]


class HandWrittenResponse(Protocol):
    """A response that writes its own status line, headers and body, to stall, trickle or break off."""

    def write_to(self, wfile: io.BufferedIOBase) -> None:
        """Send the response on ``wfile`` (the connection's output stream)."""


Answer = Response | HandWrittenResponse


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 in a background thread that counts the requests it gets.

    ``routes`` maps paths to responses (or callables returning one); ``override``, when set,
    answers every request instead, so tests can make the server fail, stall or redirect. A
    ``HandWrittenResponse`` writes the bytes itself. ``port`` picks the port (default: any free one);
    ``ssl_context`` (a server-side ``ssl.SSLContext``) serves HTTPS instead of HTTP.
    """

    def __init__(self, *, port: int = 0, ssl_context: Any = None) -> None:
        self.routes: dict[str, Answer | Callable[[], Answer]] = {}
        self.override: Callable[[str], Answer | None] | None = None
        self.requests: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    server.requests.append(self.path)
                response = server.override(self.path) if server.override else None
                if response is None:
                    route = server.routes.get(self.path.split("?")[0])
                    response = route() if callable(route) else route
                if response is None:
                    response = (404, {"Content-Type": "text/plain"}, b"not found")
                if not isinstance(response, tuple):
                    # The client may hang up first: a test's hand-written response breaks off on purpose.
                    with contextlib.suppress(OSError):
                        response.write_to(self.wfile)
                    return
                status, headers, body = response
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.tls = ssl_context is not None
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def hits(self, path: str | None = None) -> int:
        """Return how many requests arrived (for ``path`` only, if given)."""
        with self._lock:
            return sum(1 for p in self.requests if path is None or p.split("?")[0] == path)

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="auth0-drf-loopback", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def json_response(data: Any, status: int = 200, *, headers: Mapping[str, str] | None = None, **more: str) -> Response:
    """Return a JSON response for ``LoopbackServer``, with ``headers`` (or header keyword arguments) added."""
    return status, {"Content-Type": "application/json", **(headers or {}), **more}, json.dumps(data).encode()


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

    def start(self) -> Any:
        """Publish the keys; return self."""
        return self

    def stop(self) -> None:
        """Stop publishing the keys."""

    def __enter__(self) -> Any:
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
        ssl_context: Any = None,
    ) -> None:
        LoopbackServer.__init__(self, port=port, ssl_context=ssl_context)
        TestIssuer.__init__(self, audience=audience, keys=keys, alg=alg)
        self.jwks_headers: dict[str, str] = {}
        self.routes[self.JWKS_PATH] = lambda: json_response(self.jwks(), headers=self.jwks_headers)
        self.routes["/.well-known/openid-configuration"] = lambda: json_response(
            {"issuer": self.issuer, "jwks_uri": self.jwks_uri}
        )

    @property
    def issuer(self) -> str:  # type: ignore[override]
        return self.url + "/"

    @property
    def jwks_uri(self) -> str:  # type: ignore[override]
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

    def start(self) -> InProcessIssuer:
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
        super().setUpClass()  # type: ignore[misc]

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()  # type: ignore[misc]
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
        (client or self.client).credentials(HTTP_AUTHORIZATION=f"Bearer {token}")  # type: ignore[attr-defined]
        return token


def reset_caches() -> None:
    """Forget keys, verified tokens and cached users (between tests)."""
    auth0_settings.reload()


def dpop_proof(
    key: LocalKey,
    *,
    method: str = "GET",
    url: str = "http://testserver/",
    token: str | None = None,
    jti: str | None = None,
    iat: float | None = None,
    claims: Mapping[str, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
    drop: Iterable[str] = (),
) -> str:
    """Return a DPoP proof (RFC 9449) signed by ``key`` for ``method`` and ``url``.

    ``token`` adds its ``ath``; ``claims`` and ``headers`` add or replace members; ``drop``
    removes claims. Bind a token to the key with ``issuer.token(claims={"cnf": {"jkt": key.thumbprint()}})``.
    """
    payload: dict[str, Any] = {
        "jti": jti or uuid.uuid4().hex,
        "htm": method,
        "htu": url,
        "iat": int(iat if iat is not None else time.time()),
    }
    if token is not None:
        payload["ath"] = access_token_hash(token)
    payload.update(claims or {})
    for name in drop:
        payload.pop(name, None)
    public = {k: v for k, v in key.public_jwk().items() if k not in ("kid", "alg", "use")}
    header: dict[str, Any] = {"typ": "dpop+jwt", "alg": key.alg, "jwk": public}
    header.update(headers or {})
    return jwt.api_jws.encode(json.dumps(payload).encode(), key.private_key, algorithm=header["alg"], headers=header)
