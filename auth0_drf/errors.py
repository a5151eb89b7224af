"""The library's error tree: every rejection as a precise exception, with no HTTP in it.

Every error has a stable machine-readable ``code``. Messages say what to fix and never
contain the token or any text taken from an unverified token. ``auth0_drf.exceptions``
translates them into DRF errors at the API boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .i18n import gettext_lazy as _
from .i18n import interpolate

#: The RFC 6750 error (and our code) of a valid token that lacks what an endpoint requires.
INSUFFICIENT_SCOPE = "insufficient_scope"

#: Stands for the API's identifier where a message cannot know it (``diagnosis`` names the configured one).
API_IDENTIFIER = "<your API identifier>"


def audience_advice(audiences: Sequence[str] = (), verb: str = "request the token") -> str:
    """Return ``request the token with audience=<the first of audiences>``: the one fix for the wrong token.

    Auth0 issues a token for this API only when it is requested with the API's identifier as
    ``audience``; without one it issues an opaque or encrypted token, or one for ``/userinfo``.
    ``verb`` fits the advice into its sentence (``"requested"``, ``"Request the token"``); those
    two and the default are translated, another verb is kept as given.
    """
    audience = audiences[0] if audiences else API_IDENTIFIER
    template = _ADVICE.get(verb)
    if template is None:
        return f"{verb} with audience={audience}"
    return interpolate(template, audience=audience)


# The advice for each verb the library uses, as whole phrases so translators can word them.
_ADVICE = {
    "request the token": _("request the token with audience=%(audience)s"),
    "requested": _("requested with audience=%(audience)s"),
    "Request the token": _("Request the token with audience=%(audience)s"),
}


#: Why a token may be opaque or encrypted, and what to do about it.
NO_AUDIENCE_HINT = interpolate(
    _("Auth0 issues an opaque or encrypted token when no audience is requested: %(advice)s."),
    advice=audience_advice(),
)
#: The message for a JWE (five segments, or an ``enc`` header).
JWE_MESSAGE = interpolate(
    _(
        "The access token is encrypted (a JWE with 5 parts), which is what Auth0 issues when no "
        "audience is requested: %(advice)s."
    ),
    advice=audience_advice(),
)


class Auth0Error(Exception):
    """Base class of every error auth0_drf raises."""

    code: str = "error"
    message: str = _("The request could not be authenticated.")

    def __init__(self, message: str | None = None, **data: Any) -> None:
        self.message = message or self.message
        self.data = data
        super().__init__(self.message)


class TokenError(Auth0Error):
    """The access token (or how it was sent) is not acceptable; RFC 6750 ``invalid_token``."""

    error = "invalid_token"
    code = "invalid_token"
    message = _("The access token is invalid.")


class InvalidAuthorizationHeader(TokenError):
    """The Authorization header is malformed; RFC 6750 ``invalid_request``."""

    error = "invalid_request"
    code = "invalid_request"
    message = _("Malformed Authorization header: send exactly 'Authorization: Bearer <access token>'.")


class TokenTooLarge(TokenError):
    """The token exceeds ``MAX_TOKEN_LENGTH`` and was not decoded."""

    code = "token_too_large"
    message = _("The access token is too large to be accepted.")


class NotAJWT(TokenError):
    """The token is not a signed JWT (compact JWS): opaque, encrypted (JWE) or garbage."""

    code = "not_a_jwt"
    message = interpolate(_("The access token is not a signed JWT. %(hint)s"), hint=NO_AUDIENCE_HINT)


class InvalidHeader(TokenError):
    """The JOSE header asks for something we do not support (crit, b64, zip, nested JWTs...)."""

    code = "invalid_header"
    message = _("The access token's header is invalid or uses an unsupported feature.")


class WrongTokenType(TokenError):
    """The header's ``typ`` says the token is not an access token."""

    code = "invalid_token_type"
    message = _("The token's typ says it is not an access token: send the access token.")


class UnsupportedAlgorithm(TokenError):
    """The token's ``alg`` is not one of the configured ``ALGORITHMS``."""

    code = "unsupported_algorithm"
    message = _("The access token is signed with an algorithm this API does not accept.")


class UnknownKey(TokenError):
    """No signing key in the issuer's JWKS matches the token's ``kid`` and ``alg``."""

    code = "unknown_key"
    message = _(
        "The access token was signed by a key this API does not know: it is not from the "
        "configured issuer, or the key has been revoked."
    )


class InvalidSignature(TokenError):
    """The signature does not verify with the issuer's key."""

    code = "invalid_signature"
    message = _("The access token's signature is invalid.")


class ClaimError(TokenError):
    """A claim is missing or has an unacceptable value; ``claim`` names it."""

    code = "invalid_claim"

    def __init__(self, message: str | None = None, *, claim: str, **data: Any) -> None:
        self.claim = claim
        super().__init__(
            message or interpolate(_("The access token's '%(claim)s' claim is invalid."), claim=claim), **data
        )


class MissingClaim(ClaimError):
    """A required claim is absent."""

    code = "missing_claim"

    def __init__(self, message: str | None = None, *, claim: str, **data: Any) -> None:
        super().__init__(
            message or interpolate(_("The access token has no '%(claim)s' claim."), claim=claim), claim=claim, **data
        )


class InvalidClaim(ClaimError):
    """A claim has the wrong type or an unacceptable value."""


class TokenExpired(ClaimError):
    """``exp`` is in the past (beyond the leeway)."""

    code = "token_expired"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(message or _("The access token has expired: get a new one from Auth0."), claim="exp", **data)


class TokenNotYetValid(ClaimError):
    """``nbf`` or ``iat`` is in the future (beyond the leeway)."""

    code = "token_not_yet_valid"

    def __init__(self, message: str | None = None, *, claim: str = "nbf", **data: Any) -> None:
        super().__init__(
            message or _("The access token is not valid yet: check the clocks of the issuer and this server."),
            claim=claim,
            **data,
        )


class TokenTooOld(ClaimError):
    """``iat`` is older than ``MAX_TOKEN_AGE`` allows."""

    code = "token_too_old"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(message or _("The access token was issued too long ago: get a new one."), claim="iat", **data)


#: The message of ``TokenExpired`` for a token of the development issuer: it is minted, not fetched.
DEV_TOKEN_EXPIRED = _("The access token has expired: mint a new one (manage.py auth0_mint).")


def trusted_issuers_text(issuers: Sequence[str], most: int = 3) -> str:
    """Return the configured issuers for a message: ``https://a/, https://b/`` (``and N more`` past ``most``).

    Issuers are configuration, not secrets: naming them tells a client which token this API wants.
    """
    shown = ", ".join(issuers[:most]) or _("none")
    if len(issuers) > most:
        return interpolate(_("%(issuers)s and %(count)s more"), issuers=shown, count=len(issuers) - most)
    return shown


class InvalidIssuer(ClaimError):
    """``iss`` is not one of the configured issuers (compared exactly)."""

    code = "invalid_issuer"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(
            message
            or _(
                "The access token was issued by an issuer this API does not trust. Check that the "
                "token comes from the configured Auth0 domain (a custom domain and the tenant's "
                "*.auth0.com domain are different issuers)."
            ),
            claim="iss",
            **data,
        )


class InvalidAudience(ClaimError):
    """``aud`` does not contain one of the configured audiences."""

    code = "invalid_audience"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(
            message
            or interpolate(_("The access token is not meant for this API: %(advice)s."), advice=audience_advice()),
            claim="aud",
            **data,
        )


class IDTokenNotAccepted(ClaimError):
    """The token is an OpenID Connect ID token, which is meant for the client, not for an API."""

    code = "id_token_not_accepted"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(
            message
            or interpolate(
                _(
                    "This is an ID token. APIs accept access tokens only: send the access token (%(advice)s), "
                    "not the ID token."
                ),
                advice=audience_advice(verb="requested"),
            ),
            claim="aud",
            **data,
        )


class UserRejected(TokenError):
    """The token is valid but its subject may not use this API (inactive or unknown user)."""

    code = "user_inactive"
    message = _("The user of this access token is inactive.")


class UnknownSubject(UserRejected):
    """The token's subject has no user here and ``CREATE_USERS`` is off."""

    code = "unknown_subject"
    message = _("The user of this access token is not registered with this API.")


class TokenRevoked(TokenError):
    """The token was issued before its identity's tokens were revoked (``Auth0Identity.revoke_tokens()``).

    Also raised for a token without ``iat`` of a revoked identity: when it was issued cannot be
    told, so it is refused.
    """

    code = "token_revoked"
    message = _("This access token has been revoked: sign in again to get a new one.")


class DPoPError(TokenError):
    """A DPoP proof is missing or invalid (RFC 9449); answered with a ``DPoP`` challenge."""

    error = "invalid_dpop_proof"
    code = "invalid_dpop_proof"
    message = _("The DPoP proof is missing or invalid.")
    #: The scheme whose challenge carries this error (when the API offers it).
    challenge = "DPoP"


class DPoPRequired(TokenError):
    """A bearer token was sent where a DPoP-bound one is required (``DPOP = "required"``)."""

    code = "dpop_required"
    message = _("This API accepts only DPoP-bound access tokens: send 'Authorization: DPoP <token>' with a DPoP proof.")
    challenge = "DPoP"


class UnsupportedTokenBinding(TokenError):
    """The token is bound (``cnf``) to a key or certificate whose possession this API cannot check."""

    code = "unsupported_token_binding"
    message = _("This access token is bound to a client certificate or key this API cannot check.")


class DPoPBindingError(TokenError):
    """The token's key binding does not fit the scheme: a bound token sent as Bearer, or the reverse."""

    code = "dpop_binding_mismatch"
    message = _("This access token is bound to a DPoP key: send it as 'Authorization: DPoP <token>' with a DPoP proof.")
    challenge = "DPoP"


class ClaimRuleFailed(Auth0Error):
    """A valid token does not satisfy a claim rule (``auth0_drf.rules``); answered with 403.

    ``rule`` describes the rule from its configuration; no claim value is ever put in it.
    """

    code = "claim_rule_failed"

    def __init__(self, message: str | None = None, *, rule: str, **data: Any) -> None:
        self.rule = rule
        super().__init__(
            message or interpolate(_("The access token does not satisfy the rule %(rule)s."), rule=rule), **data
        )


class KeysUnavailable(Auth0Error):
    """No signing keys could be obtained from the issuer; the token could not be checked."""

    code = "jwks_unavailable"
    message = _(
        "The API cannot verify access tokens right now because the issuer's signing keys are "
        "unavailable. Try again shortly."
    )


class ReplayCacheUnavailable(KeysUnavailable):
    """The DPoP replay cache (``DPOP_REPLAY_CACHE``) failed, so a proof could not be checked: 503."""

    code = "dpop_replay_cache_unavailable"
    message = _("The API cannot check DPoP proofs right now. Try again shortly.")


class DatabaseUnavailable(KeysUnavailable):
    """The database failed while looking up or creating the token's user: 503 with ``Retry-After``.

    Most often a table or column is missing because ``manage.py migrate`` was not run (the log
    says so); or the database is down. The token itself was valid.
    """

    code = "database_unavailable"
    message = _("The API cannot look up the user of this access token right now. Try again shortly.")
    #: Seconds for the 503's ``Retry-After``.
    retry_after = 30


class UsernameUnavailable(KeysUnavailable):
    """No free username was found for a new subject (``Auth0UserBackend.free_username``): 503.

    The token is valid and the client did nothing wrong, so this is not a 401; a later attempt
    tries other (random) names, so it is worth retrying.
    """

    code = "username_unavailable"
    message = _("The API could not create an account for the user of this access token. Try again shortly.")
    retry_after = 30


class AudienceNotConfigured(KeysUnavailable):
    """The token's issuer has no ``AUDIENCE`` configured, so no token could ever be accepted: 503.

    A server misconfiguration, not the client's: system check ``auth0_drf.E002`` reports it at
    startup, and a server that skips the checks (gunicorn does) answers 503 and logs an ERROR
    naming the setting, rather than telling clients to request their token with an audience.
    """

    code = "audience_not_configured"
    message = _(
        "The API cannot check access tokens: its configuration names no audience (AUTH0_DRF['AUDIENCE']). "
        "The token was not examined."
    )
    retry_after = 300
