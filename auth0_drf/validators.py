"""Check a signed token's claims: one small validator per claim, run in order by ``TokenVerifier``.

A validator takes the payload and a ``ClaimContext`` and raises the ``ClaimError`` that says what
is wrong, like PyJWT's ``_validate_exp``, ``_validate_aud``... Each checks its own claims only, so
``auth0_drf.diagnosis`` can run them one by one and report every problem of a token at once.
A check the library enforces is one more validator in ``CLAIM_VALIDATORS`` (and its error in
``auth0_drf.errors``); a ``TokenVerifier`` subclass may extend its ``claim_validators``::

    class Verifier(TokenVerifier):
        claim_validators = (*TokenVerifier.claim_validators, validate_tenant)

An application's own rules on claims belong in ``auth0_drf.rules`` (``CLAIM_RULES``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .conf import IssuerConfig
from .errors import (
    IDTokenNotAccepted,
    InvalidAudience,
    InvalidClaim,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    TokenTooOld,
    audience_advice,
)
from .i18n import gettext_lazy as _
from .i18n import interpolate
from .jose import is_number
from .profiles import TokenProfile

MAX_SUB_LENGTH = 255
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
#: Marks a claim that is not in the payload at all (``None`` is JSON's null, a present value).
_ABSENT: Any = object()


class ClaimContext:
    """What the validators check a payload against: the clock, the settings and the token's issuer."""

    # A plain class with slots: one is made on every first sight, and a NamedTuple's (Python)
    # __new__ or a frozen dataclass's __setattr__ would cost twice as much.
    __slots__ = ("now", "leeway", "issuer", "profile", "max_token_age")

    def __init__(
        self, now: float, leeway: float, issuer: IssuerConfig, profile: TokenProfile, max_token_age: float | None = None
    ) -> None:
        self.now = now
        self.leeway = leeway
        self.issuer = issuer
        self.profile = profile
        self.max_token_age = max_token_age

    def __repr__(self) -> str:
        return f"<ClaimContext now={self.now} issuer={self.issuer.issuer!r} profile={self.profile.name!r}>"


#: A claim validator: returns, or raises the ``ClaimError`` that names the claim.
ClaimValidator = Callable[[Mapping[str, Any], ClaimContext], None]


def not_a_number(claim: str) -> InvalidClaim:
    """Return the error for a time claim that is present but not a NumericDate (``null`` included)."""
    return InvalidClaim(
        interpolate(_("The access token's '%(claim)s' claim is not a number."), claim=claim), claim=claim
    )


def string_list(value: Any) -> bool:
    """Return whether ``value`` is a JSON array of strings."""
    if not isinstance(value, list):
        return False
    for item in value:  # noqa: SIM110 (a loop, not all(<generator>): this runs on every first sight)
        if not isinstance(item, str):
            return False
    return True


def validate_exp(payload: Mapping[str, Any], context: ClaimContext) -> None:
    """Require ``exp``, a number not in the past beyond the leeway."""
    exp = payload.get("exp", _ABSENT)
    if exp is _ABSENT:
        raise MissingClaim(claim="exp")
    if not is_number(exp):
        raise not_a_number("exp")
    if context.now >= exp + context.leeway:
        raise TokenExpired()


def validate_nbf(payload: Mapping[str, Any], context: ClaimContext) -> None:
    """Accept ``nbf`` absent, or a number not in the future beyond the leeway."""
    # A time claim that is present must be a number: "nbf": null must not pass as absent
    # (RFC 7519 4.1.5: NumericDate).
    nbf = payload.get("nbf", _ABSENT)
    if nbf is not _ABSENT:
        if not is_number(nbf):
            raise not_a_number("nbf")
        if nbf > context.now + context.leeway:
            raise TokenNotYetValid(claim="nbf")


def validate_iat(payload: Mapping[str, Any], context: ClaimContext) -> None:
    """Accept ``iat`` absent, or a number not in the future beyond the leeway."""
    iat = payload.get("iat", _ABSENT)
    if iat is not _ABSENT:
        if not is_number(iat):
            raise not_a_number("iat")
        if iat > context.now + context.leeway:
            raise TokenNotYetValid(claim="iat")


def check_token_age(payload: Mapping[str, Any], max_age: float, *, now: float, leeway: float) -> None:
    """Raise unless ``iat`` is a number at most ``max_age`` seconds (plus ``leeway``) before ``now``.

    ``MAX_TOKEN_AGE`` and the ``MaxTokenAge`` rule both come here.
    """
    iat = payload.get("iat", _ABSENT)
    if iat is _ABSENT:
        raise MissingClaim(claim="iat")
    if not is_number(iat):
        raise not_a_number("iat")
    if now > iat + max_age + leeway:
        raise TokenTooOld()


def validate_token_age(payload: Mapping[str, Any], context: ClaimContext) -> None:
    """With ``MAX_TOKEN_AGE`` set, require an ``iat`` no older than that."""
    if context.max_token_age is not None:
        check_token_age(payload, context.max_token_age, now=context.now, leeway=context.leeway)


def validate_audience(payload: Mapping[str, Any], context: ClaimContext) -> None:
    """Require ``aud`` to name this API; explain ID tokens and /userinfo-only tokens."""
    aud = payload.get("aud")
    if aud is None:
        raise MissingClaim(claim="aud")
    if isinstance(aud, str):
        audiences = [aud]
    elif string_list(aud) and aud:
        audiences = aud
    else:
        raise InvalidClaim(_("The access token's 'aud' claim is not a string or a list of strings."), claim="aud")
    accepted = context.issuer.audiences
    for audience in audiences:
        if audience in accepted:
            return
    if context.profile.looks_like_id_token(payload):
        raise IDTokenNotAccepted(
            interpolate(
                _(
                    "This is an ID token. APIs accept access tokens only: send the access token, %(advice)s, "
                    "not the ID token."
                ),
                advice=audience_advice(accepted, "requested"),
            )
        )
    if all(audience.endswith("/userinfo") for audience in audiences):
        raise InvalidAudience(
            interpolate(
                _("The access token is only meant for Auth0's /userinfo endpoint: %(advice)s."),
                advice=audience_advice(accepted),
            )
        )
    raise InvalidAudience(
        interpolate(_("The access token is not meant for this API: %(advice)s."), advice=audience_advice(accepted))
    )


def validate_subject(payload: Mapping[str, Any], context: ClaimContext) -> None:
    """Require ``sub``: a non-blank string of at most ``MAX_SUB_LENGTH`` characters, no control characters."""
    sub = payload.get("sub")
    if sub is None:
        raise MissingClaim(claim="sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_LENGTH or _CONTROL_CHARS.search(sub):
        raise InvalidClaim(_("The access token's 'sub' claim is not a valid subject."), claim="sub")


def validate_claim_types(payload: Mapping[str, Any], context: ClaimContext | None = None) -> None:
    """Reject scope-bearing and client claims of the wrong JSON type."""
    if "scope" in payload and not isinstance(payload["scope"], str):
        raise InvalidClaim(_("The access token's 'scope' claim must be a space-delimited string."), claim="scope")
    if "permissions" in payload and not string_list(payload["permissions"]):
        raise InvalidClaim(_("The access token's 'permissions' claim must be a list of strings."), claim="permissions")
    if "scp" in payload and not (string_list(payload["scp"]) or isinstance(payload["scp"], str)):
        raise InvalidClaim(_("The access token's 'scp' claim must be a list of strings."), claim="scp")
    for name in ("azp", "client_id", "gty", "jti"):
        if name in payload and not isinstance(payload[name], str):
            raise InvalidClaim(
                interpolate(_("The access token's '%(claim)s' claim must be a string."), claim=name), claim=name
            )


def validate_profile_claims(payload: Mapping[str, Any], context: ClaimContext) -> None:
    """Require the claims ``TOKEN_PROFILE`` asks for (``client_id``, ``jti`` and ``iat`` for RFC 9068)."""
    if context.profile.required_claims:  # none for "any": skip the call on every first sight
        context.profile.check_required_claims(payload)


#: The claim checks of every access token, in the order they run.
CLAIM_VALIDATORS: tuple[ClaimValidator, ...] = (
    validate_exp,
    validate_nbf,
    validate_iat,
    validate_token_age,
    validate_audience,
    validate_subject,
    validate_claim_types,
    validate_profile_claims,
)
