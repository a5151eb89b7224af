"""Sign access tokens with local keys: the demo's development issuer and the test issuer share this."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

from .keys import thumbprint

#: The private keys ``LocalKey`` signs with, and their public halves.
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class LocalKey:
    """A private signing key with its ``kid`` and algorithm, publishable as a JWK."""

    def __init__(self, private_key: PrivateKey, *, alg: str = "RS256", kid: str | None = None) -> None:
        self.private_key = private_key
        self.alg = alg
        self.kid = kid or self.thumbprint()

    @classmethod
    def generate(cls, alg: str = "RS256", *, kid: str | None = None, bits: int = 2048) -> LocalKey:
        """Generate a fresh key for ``alg`` (RS*/PS* -> RSA, ES256/384/512 -> EC, EdDSA -> Ed25519)."""
        if alg.startswith(("RS", "PS")):
            key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        elif alg in ("ES256", "ES384", "ES512"):
            curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
            key = ec.generate_private_key(curve)
        elif alg == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(f"cannot generate a key for {alg}")
        return cls(key, alg=alg, kid=kid)

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def public_jwk(self, **extra: Any) -> dict[str, Any]:
        """Return the public JWK, with ``kid``, ``alg`` and ``use: sig`` (``extra`` overrides)."""
        jwk = self._public_members()
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        jwk.update(extra)
        return jwk

    def thumbprint(self) -> str:
        """Return the RFC 7638 thumbprint of the public key: a stable ``kid``."""
        return thumbprint(self._public_members())

    def _public_members(self) -> dict[str, Any]:
        public = self.public_key
        if isinstance(public, rsa.RSAPublicKey):
            return RSAAlgorithm.to_jwk(public, as_dict=True)
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk: dict[str, Any] = ECAlgorithm.to_jwk(public, as_dict=True)
            # RFC 7518 section 6.2.1.2: x and y have the full size of the curve's coordinates.
            # PyJWT before 2.10 drops their leading zero bytes (one key in 128 on P-256, one in
            # two on P-521), which strict readers, auth0_drf's own included, refuse.
            size = (public.curve.key_size + 7) // 8
            numbers = public.public_numbers()
            jwk["x"] = base64url_encode(numbers.x.to_bytes(size, "big")).decode()
            jwk["y"] = base64url_encode(numbers.y.to_bytes(size, "big")).decode()
            return jwk
        return OKPAlgorithm.to_jwk(public, as_dict=True)

    def sign(self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        """Return a compact JWS of ``claims`` with ``alg``, ``typ: JWT`` and ``kid`` (``headers`` override)."""
        header = {"typ": "JWT", "kid": self.kid}
        header.update(headers or {})
        return jwt.encode(dict(claims), self.private_key, algorithm=self.alg, headers=header)


def jwks_document(keys: Iterable[LocalKey]) -> dict[str, Any]:
    """Return the JWKS that publishes ``keys``."""
    return {"keys": [key.public_jwk() for key in keys]}


def access_token_claims(
    *,
    issuer: str,
    audience: str | list[str],
    sub: str = "auth0|user-1",
    scope: str | Iterable[str] | None = None,
    permissions: Iterable[str] | None = None,
    lifetime: int = 3600,
    claims: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the claims of an Auth0-shaped access token (the default profile)."""
    issued = int(now if now is not None else time.time())
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "azp": "test-client-id",
    }
    if scope is not None:
        payload["scope"] = scope if isinstance(scope, str) else " ".join(scope)
    if permissions is not None:
        payload["permissions"] = list(permissions)
    payload.update(claims or {})
    return payload
