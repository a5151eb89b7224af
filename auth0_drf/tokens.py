"""Verify an access token: pinned algorithm, key by ``kid``, ``iss``/``aud``/``exp``/``nbf``/``iat``.

This module does not depend on DRF. ``get_verifier().verify(token)`` returns the verified
``Claims`` or raises a ``TokenError`` subclass that says exactly what is wrong.

Security notes (RFC 8725):

- The algorithm comes from ``ALGORITHMS``, never from the token. ``none`` and HMAC algorithms are
  never accepted, even if configured, so a public key can never be used as an HMAC secret.
- The issuer is looked up in the configured allow-list before anything else is done with the
  token; an attacker's ``iss`` can never make us fetch anything. ``jku``, ``x5u``, ``jwk`` and
  ``x5c`` headers are ignored: keys come only from the issuer's configured JWKS.
- The token is parsed once; header, payload and signature are checked from that one parse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Callable

from jwt.algorithms import get_default_algorithms

from .claims import Claims
from .conf import Auth0Settings, BuiltFromSettings, IssuerConfig, auth0_settings
from .errors import (
    ClaimError,
    IDTokenNotAccepted,
    InvalidAudience,
    InvalidClaim,
    InvalidHeader,
    InvalidIssuer,
    InvalidSignature,
    MissingClaim,
    NotAJWT,
    TokenExpired,
    TokenNotYetValid,
    TokenTooLarge,
    TokenTooOld,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongTokenType,
)
from .jwks import JWKSCache
from .keys import SUPPORTED_ALGORITHMS, KeySet
from .keysources import key_source_for, on_static_keys_change
from .rejections import verified_context

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_ACCESS_TOKEN_TYPES = frozenset({"jwt", "at+jwt"})
_ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")
_PROFILE_CLAIMS = ("email", "name", "nickname", "picture", "given_name", "family_name", "auth_time", "sid")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
MAX_SUB_LENGTH = 255
MAX_KID_LENGTH = 256
#: The latest NumericDate accepted (9999-12-31T23:59:59Z): a later one is never meant seriously,
#: and could not be a datetime (``Claims.expires_at``) or even a float (``10**400``).
MAX_NUMERIC_DATE = 253402300799
#: Marks a claim that is not in the payload at all (``None`` is JSON's null, a present value).
_ABSENT: Any = object()

_AUDIENCE_HINT = (
    "Auth0 issues an opaque or encrypted token when no audience is requested: request the token "
    "with audience=<your API identifier>."
)
_JWE_MESSAGE = (
    "The access token is encrypted (a JWE with 5 parts), which is what Auth0 issues when no "
    "audience is requested: request the token with audience=<your API identifier>."
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON number {name}")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _finite_float(text: str) -> float:
    # "1e400" is valid JSON that Python reads as inf; strict JSON renderers then fail on it.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


_decoder = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_reject_constant, parse_float=_finite_float)
#: Deeper JSON is refused: claims nest a few levels, while hundreds of levels can exhaust the
#: stack later, when an application renders or stores the claims.
MAX_JSON_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _check_json(text: str, value: Any) -> None:
    # Cheap counts first: ordinary tokens never reach the full walks below.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _too_deep(value, MAX_JSON_DEPTH):
        raise ValueError("JSON nested too deeply")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        # A lone surrogate escape decodes to a str that cannot be encoded again (RFC 7493 2.1):
        # databases, loggers and JSON renderers would all fail on it later.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("lone surrogate in a JSON string") from None
_scan_once = _decoder.scan_once

# base64url to the standard alphabet for binascii. "+", "/" and "=" become "!", which no
# base64 decoder accepts, so a segment must be unpadded base64url and nothing else.
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_+/=", b"+/!!!")

if sys.version_info >= (3, 11):

    def b64url_decode(segment: str) -> bytes | None:
        """Return the bytes of an unpadded base64url segment, or None when it is not one."""
        # One C call checks the alphabet, the length and decodes (strict mode rejects any
        # character outside the alphabet, where a regex plus base64.urlsafe_b64decode took two).
        if not segment:
            return None
        try:
            data = segment.encode("ascii").translate(_TO_STANDARD_ALPHABET)
            return binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)
        except (UnicodeEncodeError, binascii.Error):
            return None

else:  # pragma: no cover (Python 3.10 has no strict mode)

    def b64url_decode(segment: str) -> bytes | None:
        """Return the bytes of an unpadded base64url segment, or None when it is not one."""
        if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
            return None
        data = segment.encode("ascii").translate(_TO_STANDARD_ALPHABET)
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def _json_object(text: str) -> Any:
    # The C scanner directly: JSONDecoder.decode() adds two Python calls. Anything it does not
    # consume whole (surrounding whitespace, trailing data) takes the full, equally strict path.
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        return _decoder.decode(text)
    if end != len(text):
        return _decoder.decode(text)
    return value


def decode_segment(segment: str, what: str) -> dict[str, Any]:
    """Decode one base64url JSON segment into a dict, strictly.

    Rejected: characters outside base64url, impossible lengths, bytes that are not UTF-8,
    duplicate member names, ``NaN``/``Infinity`` (and numbers that overflow to them, ``1e400``),
    nesting deeper than ``MAX_JSON_DEPTH``,
    lone surrogate escapes (``"\\ud800"``), and anything but a JSON object.
    """
    raw = b64url_decode(segment)
    if raw is None:
        raise NotAJWT(f"The access token is not a signed JWT (its {what} is not base64url). " + _AUDIENCE_HINT)
    try:
        text = raw.decode("utf-8")
        value = _json_object(text)
        _check_json(text, value)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotAJWT(f"The access token's {what} is not valid JSON; it is not a JWT.") from None
    if not isinstance(value, dict):
        raise NotAJWT(f"The access token's {what} is not a JSON object; it is not a JWT.")
    return value


def _is_number(value: Any) -> bool:
    # Exact types (JSON gives only int and float): this excludes bool without a second check.
    # A comparison, not math.isfinite (which overflows on 10**400); NaN and infinities fail it.
    kind = type(value)
    return (kind is int or kind is float) and -MAX_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE


def _string_list(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    for item in value:  # a loop, not all(<generator>): this runs on every first sight
        if not isinstance(item, str):
            return False
    return True


class TokenVerifier:
    """Verify access tokens against a fixed set of issuers, audiences and algorithms.

    A bounded cache of verified tokens (keyed by SHA-256 of the whole token, each entry valid
    no longer than the token itself, emptied whenever an issuer's keys change) makes a token
    that was already verified cost a hash and a dictionary lookup.
    """

    timer: Callable[[], float] = staticmethod(time.time)
    #: The class of each issuer's key cache, built over ``key_source_for(config)``: swappable, as DRF's ``cache``.
    key_cache_class: type[JWKSCache] = JWKSCache

    def __init__(
        self,
        issuers: Sequence[IssuerConfig],
        *,
        algorithms: Sequence[str] = Auth0Settings.ALGORITHMS.default,
        leeway: float = Auth0Settings.LEEWAY.default,
        max_length: int = Auth0Settings.MAX_TOKEN_LENGTH.default,
        profile: str = Auth0Settings.TOKEN_PROFILE.default,
        require_kid: bool = Auth0Settings.REQUIRE_KID.default,
        max_token_age: float | None = Auth0Settings.MAX_TOKEN_AGE.default,
        cache_size: int = Auth0Settings.TOKEN_CACHE_SIZE.default,
        jwks_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.issuers = {config.issuer: config for config in issuers}
        available = get_default_algorithms()
        # Anything outside SUPPORTED_ALGORITHMS (none, HS*) is dropped even if configured.
        self.algorithms = {alg: available[alg] for alg in algorithms if alg in SUPPORTED_ALGORITHMS and alg in available}
        self.leeway = leeway
        self.max_length = max_length
        self.profile = profile
        self.require_kid = require_kid
        self.max_token_age = max_token_age
        self.cache_size = cache_size
        # digest -> (claims, valid until, the issuer's key cache, the key set that verified them)
        self._cache: dict[bytes, tuple[Claims, float, JWKSCache, KeySet]] = {}
        self._cache_lock = threading.Lock()
        # Checked headers by their base64url text: one issuer's tokens share a handful of
        # headers (alg, typ, kid), so a new token's header is usually decoded and checked already.
        self._headers: dict[str, tuple[Mapping[str, Any], str]] = {}
        options = dict(jwks_options or {})
        self.jwks: dict[str, JWKSCache] = {
            config.issuer: self.key_cache_class(key_source_for(config), on_change=self.clear_cache, **options)
            for config in issuers
        }

    def clear_cache(self) -> None:
        """Forget every verified token (called when any issuer's key set changes)."""
        with self._cache_lock:
            self._cache.clear()

    def verify(self, token: str) -> Claims:
        """Return the verified claims of ``token`` or raise a ``TokenError``."""
        if len(token) > self.max_length:
            raise TokenTooLarge()
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        cached = self._cache.get(digest)
        # A cached token is reused only while its issuer's keys are fresh: once they are due for
        # a refresh, the full check runs (and refreshes them), so a revoked key stops working.
        # It is also tied to the key set that verified it: clear_cache empties the cache when the
        # keys change, but a thread that verified just before the change may store its verdict
        # just after; that entry is dead on arrival, since the issuer's keys are a new KeySet.
        if cached is not None and self.timer() < cached[1] and cached[2].keys is cached[3] and cached[2].is_fresh():
            return cached[0]
        claims, jwks, key_set = self._verify(token)
        if key_set is not None:
            self._remember(digest, claims, jwks, key_set)
        return claims

    def _remember(self, digest: bytes, claims: Claims, jwks: JWKSCache, key_set: KeySet) -> None:
        if self.cache_size <= 0:
            return
        valid_until = claims["exp"] + self.leeway
        if self.max_token_age is not None and "iat" in claims:
            valid_until = min(valid_until, claims["iat"] + self.max_token_age + self.leeway)
        with self._cache_lock:
            while len(self._cache) >= self.cache_size:
                del self._cache[next(iter(self._cache))]  # oldest first
            self._cache[digest] = (claims, valid_until, jwks, key_set)

    # --- the checks, in order -------------------------------------------------------------

    def _verify(self, token: str) -> tuple[Claims, JWKSCache, KeySet | None]:
        """Verify ``token`` in full; return its claims, its issuer's key cache, and the key set
        (still the current one) that holds the verifying key, or None when the keys changed meanwhile."""
        segments = token.split(".")
        if len(segments) == 5:
            raise NotAJWT(_JWE_MESSAGE)
        if len(segments) != 3:
            raise NotAJWT()
        header_segment, payload_segment, signature_segment = segments
        header, alg = self.checked_header(header_segment)
        payload = decode_segment(payload_segment, "payload")
        config = self.select_issuer(payload)
        jwks = self.jwks[config.issuer]
        # One deadline for every fetch this token may need (refresh, refetch, renewed key):
        # a request waits for keys at most JWKS_TIMEOUT in all.
        deadline = jwks.lookup_deadline()
        key = jwks.get_signing_key(header.get("kid"), alg, deadline=deadline)
        if not signature_segment:
            raise InvalidSignature("The access token is not signed.")
        signature = b64url_decode(signature_segment)
        if signature is None:
            raise InvalidSignature()
        if base64.urlsafe_b64encode(signature).rstrip(b"=") != signature_segment.encode():
            # Unused low bits set in the last character decode to the same bytes: refuse such
            # variants, so that only the exact text the issuer produced is ever accepted.
            raise InvalidSignature()
        signing_input = token[: len(header_segment) + len(payload_segment) + 1].encode("ascii")
        if not self.algorithms[alg].verify(signing_input, key.key, signature):
            # The issuer may have replaced the key under the same kid (some regenerate keys on
            # restart): look once more, within the same cooldown as an unknown kid.
            renewed = jwks.renewed_key(key, alg, deadline=deadline)
            if renewed is None or not self.algorithms[alg].verify(signing_input, renewed.key, signature):
                raise InvalidSignature()
            key = renewed
        if header_segment not in self._headers and len(self._headers) < self.max_headers:
            self._headers[header_segment] = (header, alg)
        key_set = jwks.keys
        if key_set is not None and key_set.find(header.get("kid"), alg) is not key:
            key_set = None  # the keys changed while this token was checked: do not cache it
        try:
            self.check_claims(payload, header, config)
        except ClaimError as exc:
            exc.data["verified"] = verified_context(header, payload)
            raise
        return Claims(payload, header=header, token=token), jwks, key_set

    def checked_header(self, segment: str) -> tuple[Mapping[str, Any], str]:
        """Return the decoded header (read-only) and its algorithm, decoding and checking it once.

        The result is a pure function of the segment's text and this verifier's settings, so
        ``_verify`` keeps it (up to ``max_headers`` segments) once a token with this header has
        passed the signature check: headers of forged tokens never take the places.
        """
        known = self._headers.get(segment)
        if known is not None:
            return known
        header = decode_segment(segment, "header")
        return MappingProxyType(header), self.check_header(header)

    #: Distinct checked headers remembered; beyond that, new ones are decoded each time.
    max_headers = 64

    def check_header(self, header: Mapping[str, Any]) -> str:
        """Check the JOSE header and return its (allowed) algorithm."""
        if "enc" in header:
            raise NotAJWT(_JWE_MESSAGE)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise UnsupportedAlgorithm(
                "The access token is signed with an algorithm this API does not accept "
                f"(accepted: {', '.join(self.algorithms) or 'none configured'})."
            )
        if "crit" in header:
            # We implement no JWS extensions, so any critical one must be refused (RFC 7515 4.1.11).
            raise InvalidHeader("The access token's header lists critical extensions this API does not support.")
        if "b64" in header or "zip" in header:
            raise InvalidHeader("The access token's header uses an unsupported JWS option (b64 or zip).")
        if "cty" in header and (not isinstance(cty := header["cty"], str) or cty.lower() in ("jwt", "application/jwt")):
            raise InvalidHeader("Nested JWTs are not accepted as access tokens.")
        if "typ" in header:  # present, even as null: it must then be a string naming an access token
            typ = header["typ"]
            if not isinstance(typ, str):
                raise WrongTokenType()
            kind = typ.lower().removeprefix("application/")
            if kind not in _ACCESS_TOKEN_TYPES or (self.profile == "rfc9068" and kind != "at+jwt"):
                raise WrongTokenType()
        elif self.profile == "rfc9068":
            raise WrongTokenType("RFC 9068 access tokens must have typ 'at+jwt'.")
        if "kid" not in header:
            if self.require_kid:
                raise UnknownKey("The access token's header has no kid.")
        elif not isinstance(kid := header["kid"], str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise InvalidHeader("The access token's kid is not a valid key id.")
        return alg

    def select_issuer(self, payload: Mapping[str, Any]) -> IssuerConfig:
        """Return the configured issuer named by ``iss``; nothing is fetched for others."""
        iss = payload.get("iss")
        if iss is None:
            raise MissingClaim(claim="iss")
        config = self.issuers.get(iss) if isinstance(iss, str) else None
        if config is None:
            raise InvalidIssuer()
        return config

    def check_claims(self, payload: Mapping[str, Any], header: Mapping[str, Any], config: IssuerConfig) -> None:
        """Check the time claims, the audience, the subject and the shape of scope claims."""
        now = self.timer()
        leeway = self.leeway
        # A time claim that is present must be a number: "exp": null is not a missing exp, and
        # "nbf": null or "iat": null must not pass as absent (RFC 7519 4.1.4-4.1.6: NumericDate).
        exp = payload.get("exp", _ABSENT)
        if exp is _ABSENT:
            raise MissingClaim(claim="exp")
        if not _is_number(exp):
            raise InvalidClaim("The access token's 'exp' claim is not a number.", claim="exp")
        if now >= exp + leeway:
            raise TokenExpired()
        for name in ("nbf", "iat"):
            value = payload.get(name, _ABSENT)
            if value is _ABSENT:
                continue
            if not _is_number(value):
                raise InvalidClaim(f"The access token's '{name}' claim is not a number.", claim=name)
            if value > now + leeway:
                raise TokenNotYetValid(claim=name)
        if self.max_token_age is not None:
            iat = payload.get("iat")
            if iat is None:
                raise MissingClaim(claim="iat")
            if now > iat + self.max_token_age + leeway:
                raise TokenTooOld()
        self.check_audience(payload, config)
        sub = payload.get("sub")
        if sub is None:
            raise MissingClaim(claim="sub")
        if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_LENGTH or _CONTROL_CHARS.search(sub):
            raise InvalidClaim("The access token's 'sub' claim is not a valid subject.", claim="sub")
        self.check_claim_shapes(payload)
        if self.profile == "rfc9068":
            for name in ("client_id", "jti", "iat"):
                if name not in payload:
                    raise MissingClaim(f"RFC 9068 access tokens must have a '{name}' claim.", claim=name)

    def check_audience(self, payload: Mapping[str, Any], config: IssuerConfig) -> None:
        """Check that ``aud`` names this API, and explain ID tokens and /userinfo-only tokens."""
        aud = payload.get("aud")
        if aud is None:
            raise MissingClaim(claim="aud")
        if isinstance(aud, str):
            audiences = [aud]
        elif _string_list(aud) and aud:
            audiences = aud
        else:
            raise InvalidClaim("The access token's 'aud' claim is not a string or a list of strings.", claim="aud")
        accepted = config.audiences
        for audience in audiences:
            if audience in accepted:
                return
        expected = config.audiences[0] if config.audiences else "<your API identifier>"
        if self.looks_like_id_token(payload):
            raise IDTokenNotAccepted(
                "This is an ID token. APIs accept access tokens only: send the access token, "
                f"requested with audience={expected}, not the ID token."
            )
        if all(audience.endswith("/userinfo") for audience in audiences):
            raise InvalidAudience(
                "The access token is only meant for Auth0's /userinfo endpoint: request it with "
                f"audience={expected}."
            )
        raise InvalidAudience(f"The access token is not meant for this API: request it with audience={expected}.")

    @staticmethod
    def looks_like_id_token(payload: Mapping[str, Any]) -> bool:
        """Return whether a token with the wrong audience has the marks of an OIDC ID token."""
        if payload.get("gty") == "client-credentials":
            return False
        if any(name in payload for name in _ID_TOKEN_CLAIMS):
            return True
        if any(name in payload for name in ("scope", "permissions", "scp")):
            return False
        # No scopes, and either profile claims or no client claim (access tokens carry azp or client_id).
        return any(name in payload for name in _PROFILE_CLAIMS) or not ("azp" in payload or "client_id" in payload)

    @staticmethod
    def check_claim_shapes(payload: Mapping[str, Any]) -> None:
        """Reject scope-bearing and client claims of the wrong JSON type."""
        if "scope" in payload and not isinstance(payload["scope"], str):
            raise InvalidClaim("The access token's 'scope' claim must be a space-delimited string.", claim="scope")
        if "permissions" in payload and not _string_list(payload["permissions"]):
            raise InvalidClaim("The access token's 'permissions' claim must be a list of strings.", claim="permissions")
        if "scp" in payload and not (_string_list(payload["scp"]) or isinstance(payload["scp"], str)):
            raise InvalidClaim("The access token's 'scp' claim must be a list of strings.", claim="scp")
        for name in ("azp", "client_id", "gty", "jti"):
            if name in payload and not isinstance(payload[name], str):
                raise InvalidClaim(f"The access token's '{name}' claim must be a string.", claim=name)


def build_verifier() -> TokenVerifier:
    """Return a new ``TokenVerifier`` configured from ``AUTH0_DRF``."""
    s = auth0_settings
    shared_cache = None
    if s.JWKS_SHARED_CACHE:
        from django.core.cache import caches

        shared_cache = caches[s.JWKS_SHARED_CACHE]
    verifier = TokenVerifier(
        s.issuers,
        algorithms=tuple(s.ALGORITHMS),
        leeway=s.LEEWAY,
        max_length=s.MAX_TOKEN_LENGTH,
        profile=s.TOKEN_PROFILE,
        require_kid=s.REQUIRE_KID,
        max_token_age=s.MAX_TOKEN_AGE,
        cache_size=s.TOKEN_CACHE_SIZE,
        jwks_options={
            "ttl": s.JWKS_CACHE_TTL,
            "min_ttl": s.JWKS_MIN_TTL,
            "max_ttl": s.JWKS_MAX_TTL,
            "max_staleness": s.JWKS_MAX_STALENESS,
            "refetch_cooldown": s.JWKS_REFETCH_COOLDOWN,
            "timeout": s.JWKS_TIMEOUT,
            "max_bytes": s.JWKS_MAX_BYTES,
            "shared_cache": shared_cache,
        },
    )
    return verifier


_verifier = BuiltFromSettings(build_verifier)
#: Return the process-wide verifier, built from the settings on first use.
get_verifier = _verifier.get
#: Drop the process-wide verifier, its key caches and its token cache.
reset_verifier = _verifier.reset
# Keys registered for in-process issuers (the development issuer, InProcessIssuer) or removed:
# the next verifier is built with them.
on_static_keys_change(reset_verifier)
