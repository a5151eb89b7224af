"""An independent OpenID provider for end-to-end tests, written as an outsider would.

It uses only ``cryptography``, PyJWT and the standard library (never ``auth0_drf.testing`` or
``auth0_drf.signing``), so the demo is tested against tokens and key sets it did not make
itself. It serves an OpenID configuration and a JWKS at a non-Auth0 path (``/oauth/keys``)
on 127.0.0.1 from a background thread, publishes several kinds of keys (current and next RSA
signing keys, an EC key, an RSA encryption key and a symmetric key), and issues access tokens
in several styles (RFC 9068 ``at+jwt``, plain ``JWT``, ES256, no ``kid``) and ID tokens.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

KEYS_PATH = "/oauth/keys"
DISCOVERY_PATH = "/.well-known/openid-configuration"


def b64url(data: bytes) -> str:
    """Return unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


class ProviderKey:
    """A private key with the JWK the provider publishes for it."""

    def __init__(self, kind: str, kid: str, use: str = "sig") -> None:
        self.kind, self.kid, self.use = kind, kid, use
        if kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256" if use == "sig" else "RSA-OAEP"
        elif kind == "EC":
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
        elif kind == "oct":
            self.private = uuid.uuid4().bytes + uuid.uuid4().bytes
            self.alg = "HS256"
        else:
            raise ValueError(kind)

    @property
    def public(self) -> Any:
        return self.private if self.kind == "oct" else self.private.public_key()

    def jwk(self) -> dict[str, Any]:
        """Return the published JWK (x5c-free, as many non-Auth0 providers publish)."""
        base = {"kid": self.kid, "use": self.use, "alg": self.alg}
        if self.kind == "EC":
            base = {"kid": self.kid}  # minimal, as some providers publish: no use, no alg
        if self.kind == "RSA":
            numbers = self.private.public_key().public_numbers()
            return {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e), **base}
        if self.kind == "EC":
            numbers = self.private.public_key().public_numbers()
            return {
                "kty": "EC",
                "crv": "P-256",
                **base,
                "x": b64url(numbers.x.to_bytes(32, "big")),
                "y": b64url(numbers.y.to_bytes(32, "big")),
            }
        return {"kty": "oct", "k": b64url(self.private), **base}

    def sign(self, payload: dict[str, Any], headers: dict[str, Any] | None = None, kid: bool = True) -> str:
        """Sign ``payload`` with this key; ``kid=False`` leaves the kid out of the header."""
        header = {"kid": self.kid} if kid else {}
        header.update(headers or {})
        # PyJWS, not jwt.encode: a hostile test may need claims PyJWT would refuse to encode.
        return jwt.api_jws.encode(json.dumps(payload).encode(), self.private, algorithm=self.alg, headers=header)


def sign_raw(key: ProviderKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """Sign exactly ``header`` and ``payload`` with an RSA key, RS256, no library checks in the way."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


class OpenIDProvider:
    """A small OpenID provider on 127.0.0.1; ``start()``/``stop()`` bring it up and down."""

    client_id = "e2e-client-7f3a"

    def __init__(self, audience: str, trailing_slash: bool = False) -> None:
        self.audience = audience
        self.trailing_slash = trailing_slash
        self.current = ProviderKey("RSA", "rsa-" + uuid.uuid4().hex[:8])
        self.next = ProviderKey("RSA", "rsa-" + uuid.uuid4().hex[:8])
        self.ec = ProviderKey("EC", "ec-" + uuid.uuid4().hex[:8])
        self.enc = ProviderKey("RSA", "enc-" + uuid.uuid4().hex[:8], use="enc")
        self.oct = ProviderKey("oct", "oct-" + uuid.uuid4().hex[:8])
        self.requests: list[str] = []
        self.status = 200  # set to 5xx to make the provider answer errors
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # --- the HTTP side --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.url + ("/" if self.trailing_slash else "")

    @property
    def jwks_uri(self) -> str:
        return self.url + KEYS_PATH

    def published(self) -> list[ProviderKey]:
        return [self.current, self.next, self.ec, self.enc, self.oct]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.published()]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "authorization_endpoint": self.url + "/oauth/authorize",
            "token_endpoint": self.url + "/oauth/token",
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }

    def start(self) -> OpenIDProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                provider.requests.append(self.path)
                routes = {KEYS_PATH: provider.jwks, DISCOVERY_PATH: provider.discovery}
                if provider.status != 200:
                    self._send(provider.status, b'{"error":"unavailable"}')
                elif self.path in routes:
                    # Like most providers behind a CDN: compressed when asked, cacheable, and
                    # the key set under its own media type (RFC 7517 section 8.5).
                    body = json.dumps(routes[self.path]()).encode()
                    kind = "application/jwk-set+json" if self.path == KEYS_PATH else "application/json"
                    extra = {"Cache-Control": "public, max-age=300"}
                    if "gzip" in self.headers.get("Accept-Encoding", ""):
                        body, extra["Content-Encoding"] = gzip.compress(body), "gzip"
                    self._send(200, body, kind, extra)
                else:
                    self._send(404, b'{"error":"not_found"}')

            def _send(
                self, status: int, body: bytes, kind: str = "application/json", extra: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        """Stop answering (connections are refused); ``start()`` brings it back on the same port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def key_requests(self) -> int:
        return self.requests.count(KEYS_PATH)

    # --- keys -----------------------------------------------------------------------------

    def rotate(self) -> ProviderKey:
        """Promote the next key, publish a brand-new next key, and drop the old current one."""
        self.current, self.next = self.next, ProviderKey("RSA", "rsa-" + uuid.uuid4().hex[:8])
        return self.current

    def add_key(self) -> ProviderKey:
        """Publish a brand-new signing key beside the others (a rotation not announced in advance)."""
        fresh = ProviderKey("RSA", "rsa-" + uuid.uuid4().hex[:8])
        self.next = fresh
        return fresh

    # --- tokens ---------------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "e2e|" + uuid.uuid4().hex[:12],
            "aud": self.audience,
            "iat": now,
            "exp": now + 600,
            "scope": "openid profile",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def access_token(
        self,
        style: str = "JWT",
        key: ProviderKey | None = None,
        kid: bool = True,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """Issue an access token: ``style`` "JWT" (Auth0-like, azp) or "at+jwt" (RFC 9068)."""
        payload = self.claims(**claims)
        if style == "at+jwt":
            payload.setdefault("client_id", self.client_id)
            payload.setdefault("jti", uuid.uuid4().hex)
        else:
            payload.setdefault("azp", self.client_id)
        header = {"typ": style}
        header.update(headers or {})
        return (key or self.current).sign(payload, header, kid=kid)

    def id_token(self, access_token: str | None = None, nonce: str = "n-0S6_WzA2Mj") -> str:
        """Issue an OIDC ID token for the client: aud = client id, nonce, at_hash."""
        payload = self.claims(aud=self.client_id, nonce=nonce, scope=None, email="jane@example.com", name="Jane")
        if access_token:
            digest = hashlib.sha256(access_token.encode()).digest()
            payload["at_hash"] = b64url(digest[: len(digest) // 2])
        return self.current.sign(payload, {"typ": "JWT"})
