"""Verify DPoP proofs (RFC 9449): sender-constrained access tokens, opt-in with ``DPOP``.

A DPoP-bound token carries ``cnf.jkt``, the thumbprint of a key its client holds, and arrives as
``Authorization: DPoP <token>`` with a ``DPoP`` header: a fresh JWT signed by that key, naming
the request's method and URL and the hash of the token. ``DPoPVerifier.verify_request`` checks
everything section 4.3 of the RFC lists (nonces excepted: this API never issues one), in this
order: one well-formed proof, ``typ: dpop+jwt``, an allowed asymmetric ``alg``, a public
``jwk`` (no private members) that fits the algorithm, the signature, ``htm``, ``htu``, ``iat``
within ``DPOP_PROOF_MAX_AGE`` (and not ahead of the clock beyond ``LEEWAY``), ``ath``, the key
binding (``cnf.jkt``), and last, so that a bad proof cannot use up anything, ``jti`` replay.

The replay cache holds each proof's ``jti`` for as long as the proof could be accepted. It is
in-process and bounded by default (each worker process has its own: a proof replayed to another
worker is caught only with a shared cache); name a Django cache alias in ``DPOP_REPLAY_CACHE``
to share it across processes (``cache.add`` is atomic in Redis, Memcached and the database cache).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from django.core.cache import caches
from django.utils.encoding import escape_uri_path
from jwt.algorithms import get_default_algorithms
from jwt.utils import base64url_encode

from .conf import Auth0Settings, BuiltFromSettings, auth0_settings
from .errors import DPoPError, NotAJWT, ReplayCacheUnavailable
from .i18n import gettext_lazy as _
from .i18n import interpolate
from .jose import b64url_decode, decode_segment, is_number
from .keys import SUPPORTED_ALGORITHMS, parse_jwk, thumbprint

if TYPE_CHECKING:
    from django.core.cache.backends.base import BaseCache

logger = logging.getLogger("auth0_drf")

#: The algorithms a proof may use by default: asymmetric only (RFC 9449 section 4.2).
DEFAULT_ALGORITHMS = tuple(Auth0Settings.DPOP_ALGORITHMS.default)
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of a proof's public JWK (what ``cnf.jkt`` holds)."""
    try:
        return thumbprint(jwk)
    except ValueError:
        raise DPoPError(_("The DPoP proof's jwk is not a usable public key.")) from None


def access_token_hash(token: str) -> str:
    """Return ``ath``: base64url(SHA-256(access token)) without padding."""
    return base64url_encode(hashlib.sha256(token.encode("ascii")).digest()).decode()


def normalize_htu(url: str) -> str:
    """Return ``url`` as ``htu`` is compared: no query or fragment, scheme and host in lower case,
    default port dropped, an empty path as ``/``, percent-encoding normalised (RFC 3986 section 6.2.2).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port  # raises ValueError for a malformed port
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"

    def normalise(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    path = _PERCENT.sub(normalise, parts.path or "/")
    return f"{scheme}://{netloc}{path}"


class ReplayCache(Protocol):
    """Where ``DPoPVerifier`` remembers the proofs it has accepted: ``MemoryReplayCache``, ``DjangoReplayCache``."""

    def add(self, key: str, timeout: float) -> bool:
        """Remember ``key`` for ``timeout`` seconds; return False if it was already there."""
        ...


class MemoryReplayCache:
    """A bounded, thread-safe set of recently seen proof identifiers, each kept for ``timeout``.

    When full, the oldest entry is dropped (it is the closest to expiring anyway) and a warning
    is logged: size it above the number of proofs one process sees in ``DPOP_PROOF_MAX_AGE``.
    """

    timer: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Return how many identifiers are held (``max_entries`` bounds it; expired ones go at the next ``add``)."""
        return len(self._seen)

    def add(self, key: str, timeout: float) -> bool:
        """Remember ``key``; return False if it was already there (a replay)."""
        now = self.timer()
        with self._lock:
            # Every entry gets the same timeout, so insertion order is expiry order.
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            if len(self._seen) >= self.max_entries:
                self._seen.popitem(last=False)
                logger.warning("auth0_drf: the DPoP replay cache is full; set DPOP_REPLAY_CACHE to a shared cache")
            self._seen[key] = now + timeout
            return True


class DjangoReplayCache:
    """Proof identifiers in a Django cache, shared by every process that uses it."""

    def __init__(self, cache: BaseCache) -> None:
        self.cache = cache

    def add(self, key: str, timeout: float) -> bool:
        """Remember ``key``; return False if it was already there. ``cache.add`` is the atomic step."""
        try:
            return bool(self.cache.add(key, 1, timeout=math.ceil(timeout)))
        except Exception:  # backends raise their own connection errors
            logger.warning("auth0_drf: the DPoP replay cache could not be used", exc_info=True)
            raise ReplayCacheUnavailable() from None


class DPoPVerifier:
    """Check a request's DPoP proof against the access token it came with."""

    timer: Callable[[], float] = staticmethod(time.time)

    def __init__(
        self,
        *,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        max_age: float = Auth0Settings.DPOP_PROOF_MAX_AGE.default,
        leeway: float = Auth0Settings.LEEWAY.default,
        replay_cache: ReplayCache | None = None,
    ) -> None:
        available = get_default_algorithms()
        # HMAC and none are dropped even if configured: the proof key is public by design.
        self.algorithms = {
            alg: available[alg] for alg in algorithms if alg in SUPPORTED_ALGORITHMS and alg in available
        }
        self.max_age = max_age
        self.leeway = leeway
        self.replay_cache: ReplayCache = replay_cache if replay_cache is not None else MemoryReplayCache()

    def verify_request(self, request: Any, access_token: str, jkt: str) -> dict[str, Any]:
        """Verify the ``DPoP`` header of a Django or DRF ``request``; return the proof's claims."""
        proof = request.META.get("HTTP_DPOP")
        return self.verify_proof(
            proof,
            method=request.method,
            url=request.build_absolute_uri(escape_uri_path(request.path)),
            access_token=access_token,
            jkt=jkt,
        )

    def verify_proof(self, proof: str | None, *, method: str, url: str, access_token: str, jkt: str) -> dict[str, Any]:
        """Return the claims of a valid ``proof`` for this method, URL and token, or raise ``DPoPError``."""
        if proof is None:
            raise DPoPError(_("The request has no DPoP proof: send a 'DPoP' header with a proof for this request."))
        # Several DPoP headers arrive joined by commas, which a compact JWS never contains.
        if len(proof) > MAX_PROOF_LENGTH or proof.count(".") != 2 or "," in proof:
            raise DPoPError(_("The DPoP header must hold exactly one proof JWT."))
        header_segment, payload_segment, signature_segment = proof.strip().split(".")
        try:
            header = decode_segment(header_segment, "header")
            payload = decode_segment(payload_segment, "payload")
        except NotAJWT:
            raise DPoPError(_("The DPoP proof is not a well-formed JWT.")) from None
        alg, key = self.check_header(header)
        self.check_signature(f"{header_segment}.{payload_segment}", signature_segment, alg, key)
        self.check_claims(payload, method=method, url=url, access_token=access_token)
        if not hmac.compare_digest(jwk_thumbprint(header["jwk"]), jkt):
            raise DPoPError(_("The DPoP proof is signed by another key than the one the access token is bound to."))
        self.check_replay(payload["jti"], jkt)
        return payload

    def check_header(self, header: Mapping[str, Any]) -> tuple[str, Any]:
        """Check ``typ``, ``alg`` and ``jwk``; return the algorithm and the public key."""
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != "dpop+jwt":
            raise DPoPError(_("The DPoP proof's typ must be 'dpop+jwt'."))
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise DPoPError(
                interpolate(
                    _("The DPoP proof must be signed with one of: %(algorithms)s."),
                    algorithms=" ".join(self.algorithms),
                )
            )
        if "crit" in header:
            raise DPoPError(_("The DPoP proof's header lists critical extensions this API does not support."))
        jwk = header.get("jwk")
        if not isinstance(jwk, Mapping):
            raise DPoPError(_("The DPoP proof's header has no jwk."))
        if _PRIVATE_MEMBERS & set(jwk):
            raise DPoPError(_("The DPoP proof's jwk contains a private key."))
        key = parse_jwk(jwk)
        if key is None or alg not in key.algorithms:
            raise DPoPError(_("The DPoP proof's jwk is not a usable public key for its alg."))
        return alg, key.key

    def check_signature(self, signing_input: str, signature_segment: str, alg: str, key: Any) -> None:
        """Verify the proof's signature with its own ``jwk``."""
        signature = b64url_decode(signature_segment)  # the access token's strict decoder
        try:
            valid = signature is not None and self.algorithms[alg].verify(signing_input.encode("ascii"), key, signature)
        except (ValueError, UnicodeEncodeError):
            valid = False
        if not valid:
            raise DPoPError(_("The DPoP proof's signature is invalid."))

    def check_claims(self, payload: Mapping[str, Any], *, method: str, url: str, access_token: str) -> None:
        """Check ``jti``, ``htm``, ``htu``, ``iat`` and ``ath`` against the request."""
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise DPoPError(_("The DPoP proof needs a jti (a unique string)."))
        if payload.get("htm") != method:
            raise DPoPError(_("The DPoP proof was made for another HTTP method (htm)."))
        htu = payload.get("htu")
        try:
            matches = isinstance(htu, str) and normalize_htu(htu) == normalize_htu(url)
        except ValueError:
            matches = False
        if not matches:
            raise DPoPError(_("The DPoP proof was made for another URL (htu)."))
        iat = payload.get("iat")
        if not is_number(iat):
            raise DPoPError(_("The DPoP proof needs an iat (a number)."))
        now = self.timer()
        if iat > now + self.leeway:
            raise DPoPError(_("The DPoP proof is dated in the future: check the client's clock."))
        if now > iat + self.max_age + self.leeway:
            raise DPoPError(_("The DPoP proof is too old: make a fresh proof for each request."))
        ath = payload.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath.encode(), access_token_hash(access_token).encode()):
            raise DPoPError(_("The DPoP proof's ath does not match the access token."))

    def check_replay(self, jti: str, jkt: str) -> None:
        """Refuse a proof whose ``jti`` this key already used within the proof lifetime."""
        key = "auth0_drf:dpop:" + hashlib.sha256(f"{jkt}\x00{jti}".encode()).hexdigest()
        # A proof is acceptable from iat - leeway to iat + max_age + leeway: remember it that long.
        if not self.replay_cache.add(key, self.max_age + 2 * self.leeway + 1):
            raise DPoPError(_("The DPoP proof was already used: make a fresh proof for each request."))


def build_dpop_verifier() -> DPoPVerifier:
    """Return a new ``DPoPVerifier`` configured from ``AUTH0_DRF``."""
    s = auth0_settings
    replay_cache: ReplayCache | None = None
    if s.DPOP_REPLAY_CACHE:
        replay_cache = DjangoReplayCache(caches[s.DPOP_REPLAY_CACHE])
    return DPoPVerifier(
        algorithms=tuple(s.DPOP_ALGORITHMS),
        max_age=s.DPOP_PROOF_MAX_AGE,
        leeway=s.LEEWAY,
        replay_cache=replay_cache,
    )


#: Return the process-wide DPoP verifier (and its replay cache), built on first use.
get_dpop_verifier = BuiltFromSettings(build_dpop_verifier).get
