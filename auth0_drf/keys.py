"""Turn JWKS documents into the signing keys auth0_drf may verify with (pure: no I/O, no state)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

from .fetch import FetchError
from .jose import too_deep

MIN_RSA_BITS = 2048
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
OKP_CURVES = frozenset({"Ed25519", "Ed448"})
#: The algorithms auth0_drf can verify: asymmetric only, by design (RFC 8725 section 3.1).
SUPPORTED_ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_ALGORITHMS.values()) | {"EdDSA"}
_PUBLIC_MEMBERS = ("kty", "n", "e", "crv", "x", "y")
#: RFC 7638 section 3.2: the members a thumbprint covers, per key type.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
#: A JWKS nested deeper than this is refused like a failed fetch. Real ones nest four levels
#: (the set, its keys list, a key, its x5c list); hundreds of levels parse, but exhaust the
#: stack when the set is fingerprinted or pickled for the shared cache.
MAX_JWKS_DEPTH = 32


@dataclass(frozen=True)
class SigningKey:
    """A public key from a JWKS, with the algorithms it may verify."""

    kid: str | None
    kty: str
    algorithms: frozenset[str]
    key: Any = field(repr=False)


class KeySet:
    """An immutable set of signing keys, looked up by ``kid`` and algorithm."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = tuple(keys)
        self._by_kid: dict[str | None, tuple[SigningKey, ...]] = {}
        for key in keys:
            self._by_kid[key.kid] = self._by_kid.get(key.kid, ()) + (key,)

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, kid: str | None, alg: str) -> SigningKey | None:
        """Return the key for ``kid`` that may verify ``alg``.

        Without a ``kid``, a key is returned only when exactly one key in the set fits ``alg``:
        an unambiguous choice, never "the first key".
        """
        if kid is None:
            candidates = [k for k in self.keys if alg in k.algorithms]
            return candidates[0] if len(candidates) == 1 else None
        for key in self._by_kid.get(kid, ()):
            if alg in key.algorithms:
                return key
        return None


# One small reader per key type: each returns the public key and the algorithms it may verify,
# or None when the key is unusable. They may raise on malformed members (parse_jwk catches it).
_Reader = Callable[[Mapping[str, Any], dict[str, Any]], tuple[Any, frozenset[str]] | None]


def _rsa_key(jwk: Mapping[str, Any], public: dict[str, Any]) -> tuple[Any, frozenset[str]] | None:
    key = RSAAlgorithm.from_jwk(public)
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        return None
    return key, RSA_ALGORITHMS


def _ec_key(jwk: Mapping[str, Any], public: dict[str, Any]) -> tuple[Any, frozenset[str]] | None:
    crv = jwk.get("crv")
    alg = EC_ALGORITHMS.get(crv) if isinstance(crv, str) else None
    if alg is None:
        return None
    key = ECAlgorithm.from_jwk(public)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return None
    return key, frozenset({alg})


def _okp_key(jwk: Mapping[str, Any], public: dict[str, Any]) -> tuple[Any, frozenset[str]] | None:
    if jwk.get("crv") not in OKP_CURVES:
        return None
    key = OKPAlgorithm.from_jwk(public)
    if not isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return None
    return key, frozenset({"EdDSA"})


_READERS: dict[str, _Reader] = {"RSA": _rsa_key, "EC": _ec_key, "OKP": _okp_key}


def parse_jwk(jwk: object) -> SigningKey | None:
    """Return a ``SigningKey`` for one JWK, or None when the key is unusable for signatures.

    Ignored: symmetric (``oct``) keys, encryption keys (``use: enc``), keys whose ``key_ops``
    exclude ``verify``, RSA keys under 2048 bits, unknown key types, and malformed keys.
    A key's own ``alg``, when present, limits it to that one algorithm.
    """
    if not isinstance(jwk, Mapping):
        return None
    kty, kid, use, alg = jwk.get("kty"), jwk.get("kid"), jwk.get("use"), jwk.get("alg")
    if kid is not None and not isinstance(kid, str):
        return None
    if use is not None and use != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if alg is not None and not isinstance(alg, str):
        return None
    if not isinstance(kty, str) or kty not in _READERS:
        return None
    public = {name: jwk[name] for name in _PUBLIC_MEMBERS if name in jwk}
    try:
        read = _READERS[kty](jwk, public)
    except Exception:  # malformed members raise many types; one bad key must not spoil the rest
        return None
    if read is None:
        return None
    key, algorithms = read
    if alg is not None:
        algorithms = algorithms & {alg}
        if not algorithms:
            return None
    return SigningKey(kid=kid, kty=kty, algorithms=algorithms, key=key)


def parse_jwks(data: Mapping[str, Any]) -> KeySet:
    """Return the usable signing keys of a JWKS document (malformed keys are skipped)."""
    keys = data.get("keys")
    if not isinstance(keys, list):
        return KeySet([])
    return KeySet([key for key in map(parse_jwk, keys) if key is not None])


def fingerprint(data: Mapping[str, Any]) -> str:
    """Return a digest that changes whenever the published keys change."""
    return hashlib.sha256(json.dumps(data.get("keys"), sort_keys=True, default=str).encode()).hexdigest()


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of a public JWK (a stable ``kid``; what ``cnf.jkt`` holds).

    Raises ``ValueError`` when ``jwk`` is not an RSA, EC or OKP key with its required members.
    """
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise ValueError("not a public JWK with the members RFC 7638 requires")
    # The required members only, in lexicographic order, no whitespace.
    canonical = json.dumps({name: jwk[name] for name in members}, sort_keys=True, separators=(",", ":"))
    return base64url_encode(hashlib.sha256(canonical.encode()).digest()).decode()


@dataclass(frozen=True)
class FetchedKeys:
    """A JWKS document turned into keys, with how long they may be used and how old they are."""

    keys: KeySet
    fingerprint: str
    lifetime: float
    age: float = 0.0  # seconds since the document was fetched (a shared copy may be older than ours)


def checked_keys(data: object, source: str) -> tuple[KeySet, str]:
    """Return the usable keys of a fetched JWKS document and its fingerprint, or raise ``FetchError``.

    Refused: anything but an object with a ``keys`` list, nesting deeper than ``MAX_JWKS_DEPTH``,
    and a set without one usable signing key (garbage never replaces keys that still work; with
    none cached it is an outage, a 503, not a reason to call tokens invalid).
    """
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise FetchError(f"the JWKS from {source} has no 'keys' list")
    if too_deep(data, MAX_JWKS_DEPTH):
        raise FetchError(f"the JWKS from {source} is nested more than {MAX_JWKS_DEPTH} levels deep")
    keys = parse_jwks(data)
    if not len(keys):
        raise FetchError(f"the JWKS from {source} has no usable signing keys")
    return keys, fingerprint(data)
