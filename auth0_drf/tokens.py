"""Verify an access token: header, then issuer, key and signature, then the claims; keep what was verified.

This module does not depend on DRF. ``get_verifier().verify(token)`` returns the verified
``Claims`` or raises a ``TokenError`` subclass that says exactly what is wrong. Segments are
decoded by ``auth0_drf.jose``, the claims checked by ``auth0_drf.validators``, ``typ`` and the
required claims set by the ``TOKEN_PROFILE`` (``auth0_drf.profiles``).

Security notes (RFC 8725):

- The algorithm comes from ``ALGORITHMS``, never from the token. ``none`` and HMAC algorithms are
  never accepted, even if configured, so a public key can never be used as an HMAC secret.
- The issuer is looked up in the configured allow-list before anything else is done with the
  token; an attacker's ``iss`` can never make us fetch anything. ``jku``, ``x5u``, ``jwk`` and
  ``x5c`` headers are ignored: keys come only from the issuer's configured JWKS.
- The token is parsed once; header, payload and signature are checked from that one parse.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from django.core.cache import caches
from jwt.algorithms import get_default_algorithms

from .claims import Claims
from .conf import Auth0Settings, BuiltFromSettings, IssuerConfig, auth0_settings
from .errors import (
    DEV_TOKEN_EXPIRED,
    JWE_MESSAGE,
    AudienceNotConfigured,
    ClaimError,
    InvalidHeader,
    InvalidIssuer,
    InvalidSignature,
    MissingClaim,
    NotAJWT,
    TokenExpired,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
    trusted_issuers_text,
)
from .i18n import gettext_lazy as _
from .i18n import interpolate
from .jose import b64url_decode, b64url_encode, decode_segment
from .jwks import JWKSCache
from .keys import SUPPORTED_ALGORITHMS, KeySet
from .keysources import key_source_for, on_static_keys_change
from .profiles import TokenProfile, get_profile
from .rejections import verified_context
from .validators import CLAIM_VALIDATORS, ClaimContext, ClaimValidator, validate_audience, validate_claim_types

MAX_KID_LENGTH = 256


class CacheInfo(NamedTuple):
    """How many entries a verifier's caches hold (``TokenVerifier.cache_info()``)."""

    #: Verified tokens, at most ``TokenVerifier.cache_size``.
    tokens: int
    #: Checked headers, at most ``TokenVerifier.max_headers``.
    headers: int


class TokenVerifier:
    """Verify access tokens against a fixed set of issuers, audiences and algorithms.

    A bounded cache of verified tokens (keyed by SHA-256 of the whole token, each entry valid
    no longer than the token itself, emptied whenever an issuer's keys change) makes a token
    that was already verified cost a hash and a dictionary lookup.

    The claims are checked by ``claim_validators``, in order: a subclass may add its own.
    """

    timer: Callable[[], float] = staticmethod(time.time)
    #: The class of each issuer's key cache, built over ``key_source_for(config)``: swappable, as DRF's ``cache``.
    key_cache_class: type[JWKSCache] = JWKSCache
    #: The claim checks, in the order they run (``auth0_drf.validators``).
    claim_validators: tuple[ClaimValidator, ...] = CLAIM_VALIDATORS
    #: Distinct checked headers remembered; beyond that, new ones are decoded each time.
    max_headers = 64
    #: The issuer that is the local development issuer (``DEV_ISSUER``), if any: its rejections say so.
    development_issuer: str | None = None

    def __init__(
        self,
        issuers: Sequence[IssuerConfig],
        *,
        algorithms: Sequence[str] = Auth0Settings.ALGORITHMS.default,
        leeway: float = Auth0Settings.LEEWAY.default,
        max_length: int = Auth0Settings.MAX_TOKEN_LENGTH.default,
        profile: str | TokenProfile = Auth0Settings.TOKEN_PROFILE.default,
        require_kid: bool = Auth0Settings.REQUIRE_KID.default,
        max_token_age: float | None = Auth0Settings.MAX_TOKEN_AGE.default,
        cache_size: int = Auth0Settings.TOKEN_CACHE_SIZE.default,
        jwks_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.issuers = {config.issuer: config for config in issuers}
        available = get_default_algorithms()
        # Anything outside SUPPORTED_ALGORITHMS (none, HS*) is dropped even if configured.
        self.algorithms = {
            alg: available[alg] for alg in algorithms if alg in SUPPORTED_ALGORITHMS and alg in available
        }
        self.leeway = leeway
        self.max_length = max_length
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
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

    def cache_info(self) -> CacheInfo:
        """Return how many verified tokens and checked headers the caches hold."""
        return CacheInfo(tokens=len(self._cache), headers=len(self._headers))

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
            raise NotAJWT(JWE_MESSAGE)
        if len(segments) != 3:
            raise NotAJWT()
        header_segment, payload_segment, signature_segment = segments
        header, alg = self.checked_header(header_segment)
        payload = decode_segment(payload_segment, "payload")
        config = self.select_issuer(payload)
        if not config.audiences:
            # Nothing could ever be accepted (E002 reports it, where the checks run): the server's fault.
            raise AudienceNotConfigured(issuer=config.issuer)
        jwks = self.jwks[config.issuer]
        # One deadline for every fetch this token may need (refresh, refetch, renewed key):
        # a request waits for keys at most JWKS_TIMEOUT in all.
        deadline = jwks.lookup_deadline()
        key = jwks.get_signing_key(header.get("kid"), alg, deadline=deadline)
        if not signature_segment:
            raise InvalidSignature(_("The access token is not signed."))
        signature = b64url_decode(signature_segment)
        if signature is None:
            raise InvalidSignature()
        if b64url_encode(signature) != signature_segment.encode():
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
            if isinstance(exc, TokenExpired) and config.issuer == self.development_issuer:
                exc = TokenExpired(DEV_TOKEN_EXPIRED, **exc.data)  # not from Auth0: minted here
            exc.data["verified"] = verified_context(header, payload)
            raise exc from None
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

    def check_header(self, header: Mapping[str, Any]) -> str:
        """Check the JOSE header and return its (allowed) algorithm."""
        if "enc" in header:
            raise NotAJWT(JWE_MESSAGE)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise UnsupportedAlgorithm(
                interpolate(
                    _(
                        "The access token is signed with an algorithm this API does not accept "
                        "(accepted: %(accepted)s)."
                    ),
                    accepted=", ".join(self.algorithms) or _("none configured"),
                )
            )
        if "crit" in header:
            # We implement no JWS extensions, so any critical one must be refused (RFC 7515 4.1.11).
            raise InvalidHeader(_("The access token's header lists critical extensions this API does not support."))
        if "b64" in header or "zip" in header:
            raise InvalidHeader(_("The access token's header uses an unsupported JWS option (b64 or zip)."))
        if "cty" in header and (not isinstance(cty := header["cty"], str) or cty.lower() in ("jwt", "application/jwt")):
            raise InvalidHeader(_("Nested JWTs are not accepted as access tokens."))
        self.profile.check_token_type(header)
        if "kid" not in header:
            if self.require_kid:
                raise UnknownKey(_("The access token's header has no kid."))
        elif not isinstance(kid := header["kid"], str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise InvalidHeader(_("The access token's kid is not a valid key id."))
        return alg

    def select_issuer(self, payload: Mapping[str, Any]) -> IssuerConfig:
        """Return the configured issuer named by ``iss``; nothing is fetched for others."""
        iss = payload.get("iss")
        if iss is None:
            raise MissingClaim(claim="iss")
        config = self.issuers.get(iss) if isinstance(iss, str) else None
        if config is None:
            raise InvalidIssuer(self.untrusted_issuer_message())
        return config

    def untrusted_issuer_message(self) -> str:
        """Return the message of ``invalid_issuer``: the issuers this API trusts (configuration, not the token's)."""
        trusted = trusted_issuers_text(list(self.issuers))
        development = self.development_issuer
        if development is not None and development in self.issuers:
            # Tokens carry the address their issuer runs at: a server on another port (PORT=8001
            # bash bin/demo) and tokens minted without its settings disagree.
            return interpolate(
                _(
                    "The access token was issued by an issuer this API does not trust; it trusts %(trusted)s, "
                    "its local development issuer. Mint the token with the server's settings: manage.py "
                    "auth0_mint signs for AUTH0_DRF['ISSUER'] (in the demo, set AUTH0_DEV_ISSUER_URL=%(development)s)."
                ),
                trusted=trusted,
                development=development,
            )
        return interpolate(
            _(
                "The access token was issued by an issuer this API does not trust; it trusts %(trusted)s. iss must "
                "be exactly one of these (a custom domain and the tenant's *.auth0.com domain are different issuers)."
            ),
            trusted=trusted,
        )

    def claim_context(self, config: IssuerConfig, now: float | None = None) -> ClaimContext:
        """Return what the claim validators check a token of ``config``'s issuer against (now, by default)."""
        return ClaimContext(self.timer() if now is None else now, self.leeway, config, self.profile, self.max_token_age)

    def check_claims(self, payload: Mapping[str, Any], header: Mapping[str, Any], config: IssuerConfig) -> None:
        """Run ``claim_validators`` in order: the first that fails raises its ``ClaimError``."""
        context = ClaimContext(self.timer(), self.leeway, config, self.profile, self.max_token_age)
        for validate in self.claim_validators:
            validate(payload, context)

    def check_audience(self, payload: Mapping[str, Any], config: IssuerConfig) -> None:
        """Check that ``aud`` names this API, and explain ID tokens and /userinfo-only tokens."""
        validate_audience(payload, self.claim_context(config))

    def looks_like_id_token(self, payload: Mapping[str, Any]) -> bool:
        """Return whether a token with the wrong audience has the marks of an OIDC ID token."""
        return self.profile.looks_like_id_token(payload)

    @staticmethod
    def check_claim_shapes(payload: Mapping[str, Any]) -> None:
        """Reject scope-bearing and client claims of the wrong JSON type."""
        validate_claim_types(payload)


def build_verifier() -> TokenVerifier:
    """Return a new ``TokenVerifier`` configured from ``AUTH0_DRF``."""
    s = auth0_settings
    shared_cache = None
    if s.JWKS_SHARED_CACHE:
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
    if s.DEV_ISSUER and s.issuers:
        verifier.development_issuer = s.issuers[0].issuer  # the one auth0_drf.dev_issuer signs for
    return verifier


_verifier = BuiltFromSettings(build_verifier)
#: Return the process-wide verifier, built from the settings on first use.
get_verifier = _verifier.get
#: Drop the process-wide verifier, its key caches and its token cache.
reset_verifier = _verifier.reset
# Keys registered for in-process issuers (the development issuer, InProcessIssuer) or removed:
# the next verifier is built with them.
on_static_keys_change(reset_verifier)
