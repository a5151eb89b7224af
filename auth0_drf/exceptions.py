"""Library errors (no HTTP in them) and their translation into DRF errors at the API boundary.

Every rejection has a stable machine-readable ``code``. Messages say what to fix and never
contain the token or any text taken from an unverified token.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import exceptions as drf_exceptions
from rest_framework import status


class Auth0Error(Exception):
    """Base class of every error auth0_drf raises."""

    code: str = "error"
    message: str = "The request could not be authenticated."

    def __init__(self, message: str | None = None, **data: Any) -> None:
        self.message = message or self.message
        self.data = data
        super().__init__(self.message)


class TokenError(Auth0Error):
    """The access token (or how it was sent) is not acceptable; RFC 6750 ``invalid_token``."""

    error = "invalid_token"
    code = "invalid_token"
    message = "The access token is invalid."


class InvalidAuthorizationHeader(TokenError):
    """The Authorization header is malformed; RFC 6750 ``invalid_request``."""

    error = "invalid_request"
    code = "invalid_request"
    message = "Malformed Authorization header: send exactly 'Authorization: Bearer <access token>'."


class TokenTooLarge(TokenError):
    """The token exceeds ``MAX_TOKEN_LENGTH`` and was not decoded."""

    code = "token_too_large"
    message = "The access token is too large to be accepted."


class NotAJWT(TokenError):
    """The token is not a signed JWT (compact JWS): opaque, encrypted (JWE) or garbage."""

    code = "not_a_jwt"
    message = (
        "The access token is not a signed JWT. Auth0 issues an opaque or encrypted token when no "
        "audience is requested: request the token with audience=<your API identifier>."
    )


class InvalidHeader(TokenError):
    """The JOSE header asks for something we do not support (crit, b64, zip, nested JWTs...)."""

    code = "invalid_header"
    message = "The access token's header is invalid or uses an unsupported feature."


class WrongTokenType(TokenError):
    """The header's ``typ`` says the token is not an access token."""

    code = "invalid_token_type"
    message = "The token's typ says it is not an access token: send the access token."


class UnsupportedAlgorithm(TokenError):
    """The token's ``alg`` is not one of the configured ``ALGORITHMS``."""

    code = "unsupported_algorithm"
    message = "The access token is signed with an algorithm this API does not accept."


class UnknownKey(TokenError):
    """No signing key in the issuer's JWKS matches the token's ``kid`` and ``alg``."""

    code = "unknown_key"
    message = (
        "The access token was signed by a key this API does not know: it is not from the "
        "configured issuer, or the key has been revoked."
    )


class InvalidSignature(TokenError):
    """The signature does not verify with the issuer's key."""

    code = "invalid_signature"
    message = "The access token's signature is invalid."


class ClaimError(TokenError):
    """A claim is missing or has an unacceptable value; ``claim`` names it."""

    code = "invalid_claim"

    def __init__(self, message: str | None = None, *, claim: str, **data: Any) -> None:
        self.claim = claim
        super().__init__(message or f"The access token's '{claim}' claim is invalid.", **data)


class MissingClaim(ClaimError):
    """A required claim is absent."""

    code = "missing_claim"

    def __init__(self, message: str | None = None, *, claim: str, **data: Any) -> None:
        super().__init__(message or f"The access token has no '{claim}' claim.", claim=claim, **data)


class InvalidClaim(ClaimError):
    """A claim has the wrong type or an unacceptable value."""


class TokenExpired(ClaimError):
    """``exp`` is in the past (beyond the leeway)."""

    code = "token_expired"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(
            message or "The access token has expired: get a new one from Auth0.", claim="exp", **data
        )


class TokenNotYetValid(ClaimError):
    """``nbf`` or ``iat`` is in the future (beyond the leeway)."""

    code = "token_not_yet_valid"

    def __init__(self, message: str | None = None, *, claim: str = "nbf", **data: Any) -> None:
        super().__init__(
            message or "The access token is not valid yet: check the clocks of the issuer and this server.",
            claim=claim,
            **data,
        )


class TokenTooOld(ClaimError):
    """``iat`` is older than ``MAX_TOKEN_AGE`` allows."""

    code = "token_too_old"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(message or "The access token was issued too long ago: get a new one.", claim="iat", **data)


class InvalidIssuer(ClaimError):
    """``iss`` is not one of the configured issuers (compared exactly)."""

    code = "invalid_issuer"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(
            message
            or "The access token was issued by an issuer this API does not trust. Check that the "
            "token comes from the configured Auth0 domain (a custom domain and the tenant's "
            "*.auth0.com domain are different issuers).",
            claim="iss",
            **data,
        )


class InvalidAudience(ClaimError):
    """``aud`` does not contain one of the configured audiences."""

    code = "invalid_audience"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(
            message
            or "The access token is not meant for this API: request it with audience=<this API's identifier>.",
            claim="aud",
            **data,
        )


class IDTokenNotAccepted(ClaimError):
    """The token is an OpenID Connect ID token, which is meant for the client, not for an API."""

    code = "id_token_not_accepted"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        super().__init__(
            message
            or "This is an ID token. APIs accept access tokens only: send the access token "
            "(requested with audience=<your API identifier>), not the ID token.",
            claim="aud",
            **data,
        )


class UserRejected(TokenError):
    """The token is valid but its subject may not use this API (inactive or unknown user)."""

    code = "user_inactive"
    message = "The user of this access token is inactive."


class UnknownSubject(UserRejected):
    """The token's subject has no user here and ``CREATE_USERS`` is off."""

    code = "unknown_subject"
    message = "The user of this access token is not registered with this API."


class DPoPError(TokenError):
    """A DPoP proof is missing or invalid (RFC 9449); answered with a ``DPoP`` challenge."""

    error = "invalid_dpop_proof"
    code = "invalid_dpop_proof"
    message = "The DPoP proof is missing or invalid."
    #: The scheme whose challenge carries this error (when the API offers it).
    challenge = "DPoP"


class DPoPRequired(TokenError):
    """A bearer token was sent where a DPoP-bound one is required (``DPOP = "required"``)."""

    code = "dpop_required"
    message = "This API accepts only DPoP-bound access tokens: send 'Authorization: DPoP <token>' with a DPoP proof."
    challenge = "DPoP"


class UnsupportedTokenBinding(TokenError):
    """The token is bound (``cnf``) to a key or certificate whose possession this API cannot check."""

    code = "unsupported_token_binding"
    message = "This access token is bound to a client certificate or key this API cannot check."


class DPoPBindingError(TokenError):
    """The token's key binding does not fit the scheme: a bound token sent as Bearer, or the reverse."""

    code = "dpop_binding_mismatch"
    message = "This access token is bound to a DPoP key: send it as 'Authorization: DPoP <token>' with a DPoP proof."
    challenge = "DPoP"


class ClaimRuleFailed(Auth0Error):
    """A valid token does not satisfy a claim rule (``auth0_drf.rules``); answered with 403.

    ``rule`` describes the rule from its configuration; no claim value is ever put in it.
    """

    code = "claim_rule_failed"

    def __init__(self, message: str | None = None, *, rule: str, **data: Any) -> None:
        self.rule = rule
        super().__init__(message or f"The access token does not satisfy the rule {rule}.", **data)


class KeysUnavailable(Auth0Error):
    """No signing keys could be obtained from the issuer; the token could not be checked."""

    code = "jwks_unavailable"
    message = (
        "The API cannot verify access tokens right now because the issuer's signing keys are "
        "unavailable. Try again shortly."
    )


class ReplayCacheUnavailable(KeysUnavailable):
    """The DPoP replay cache (``DPOP_REPLAY_CACHE``) failed, so a proof could not be checked: 503."""

    code = "dpop_replay_cache_unavailable"
    message = "The API cannot check DPoP proofs right now. Try again shortly."


class InsufficientScopeError(Auth0Error):
    """The token is valid but lacks scopes; RFC 6750 ``insufficient_scope``."""

    code = "insufficient_scope"


# --- The DRF boundary ---------------------------------------------------------------------

# RFC 6750 section 3: characters allowed in quoted auth-param values (no '"' and no '\').
_UNSAFE_HEADER_CHARS = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def header_safe(text: str) -> str:
    """Return ``text`` with every character RFC 6750 forbids in a quoted value removed."""
    return _UNSAFE_HEADER_CHARS.sub("", text)


class AuthenticationFailed(drf_exceptions.AuthenticationFailed):
    """A rejected token: 401 (or 400 for ``invalid_request``) with a machine-readable ``code``.

    The body is ``{"detail": <message>, "code": <code>}``; the ``WWW-Authenticate`` challenge is
    built by the authentication class from ``error`` and ``detail_text``.
    """

    def __init__(self, error: TokenError) -> None:
        self.error = error.error
        self.code = error.code
        self.detail_text = error.message
        if error.error == "invalid_request":
            self.status_code = status.HTTP_400_BAD_REQUEST
        super().__init__({"detail": error.message, "code": error.code}, code=error.code)


class ServiceUnavailable(drf_exceptions.APIException):
    """The issuer's keys are unavailable: 503 with ``Retry-After``."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = KeysUnavailable.code

    def __init__(self, error: KeysUnavailable, retry_after: int) -> None:
        self.wait = retry_after
        super().__init__({"detail": error.message, "code": error.code}, code=error.code)


#: Where scope permissions leave the scopes a request lacked, for the 403 challenge.
MISSING_SCOPES_ATTRIBUTE = "_auth0_drf_missing_scopes"
#: Where claim rules leave the descriptions of the rules a request failed.
FAILED_RULES_ATTRIBUTE = "_auth0_drf_failed_rules"
#: Where the authentication class leaves the scheme the token came with ("Bearer" or "DPoP").
SCHEME_ATTRIBUTE = "_auth0_drf_scheme"
#: Set once a request's rejection has been logged, so that it is logged once only.
LOGGED_ATTRIBUTE = "_auth0_drf_rejection_logged"


def insufficient_scope_challenge(realm: str, scopes: list[str], scheme: str = "Bearer") -> str:
    """Return the RFC 6750 section 3.1 challenge for a token that lacks ``scopes``."""
    scope = header_safe(" ".join(scopes))
    return (
        f'{scheme} realm="{header_safe(realm)}", error="insufficient_scope", '
        f'error_description="The access token lacks required scopes", scope="{scope}"'
    )


class ClaimRuleDenied(drf_exceptions.PermissionDenied):
    """A claim rule failed: 403 with ``{"detail", "code": "claim_rule_failed", "rules": [...]}``."""

    default_code = ClaimRuleFailed.code

    def __init__(self, error: ClaimRuleFailed) -> None:
        super().__init__(rule_failure_body([error.rule]), code=error.code)


def rule_failure_body(rules: list[str]) -> dict[str, Any]:
    """Return the JSON body of a 403 caused by failed claim rules (described by configuration only)."""
    return {
        "detail": f"The access token does not satisfy this API's rules: {'; '.join(rules)}.",
        "code": ClaimRuleFailed.code,
        "rules": rules,
    }


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """DRF's exception handler, plus the ``insufficient_scope`` challenge on scope and claim-rule 403s.

    Set ``REST_FRAMEWORK["EXCEPTION_HANDLER"] = "auth0_drf.exceptions.exception_handler"``. With
    a handler of your own, call ``add_scope_challenge(response, exc, context)`` from it.
    """
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is not None:
        if isinstance(exc, drf_exceptions.NotAuthenticated) and isinstance(response.data, dict):
            # Every 401 carries a machine-readable code, not only those of rejected tokens.
            response.data = {"detail": response.data.get("detail"), "code": exc.default_code}
        add_scope_challenge(response, exc, context)
    return response


def add_scope_challenge(response: Any, exc: Exception, context: dict[str, Any]) -> None:
    """Turn a 403 caused by missing scopes (or failed claim rules) into RFC 6750's ``insufficient_scope`` response."""
    from .conf import auth0_settings

    request = context.get("request")
    if request is None or not isinstance(exc, drf_exceptions.PermissionDenied):
        return
    missing = getattr(request, MISSING_SCOPES_ATTRIBUTE, None)
    scheme = getattr(request, SCHEME_ATTRIBUTE, "Bearer")
    if not missing:
        add_rule_challenge(response, exc, request, scheme)
        return
    from .authentication import log_rejection
    from .claims import Claims
    from .tokens import verified_context

    auth = getattr(request, "auth", None)
    verified = verified_context(auth.header, auth) if isinstance(auth, Claims) else {}
    log_rejection(InsufficientScopeError.code, verified, missing=" ".join(missing))
    response["WWW-Authenticate"] = insufficient_scope_challenge(auth0_settings.REALM, missing, scheme)
    if isinstance(response.data, dict) and "missing_scopes" not in response.data:
        response.data = {
            "detail": f"The access token lacks the scopes this endpoint requires (it has none of: {' '.join(missing)}).",
            "code": InsufficientScopeError.code,
            "missing_scopes": missing,
        }


def add_rule_challenge(response: Any, exc: Exception, request: Any, scheme: str = "Bearer") -> None:
    """Give a 403 caused by failed claim rules RFC 6750's challenge and a body naming the rules.

    The challenge's description is fixed text: neither the rules nor claim values go in headers.
    """
    from .conf import auth0_settings

    failed = getattr(request, FAILED_RULES_ATTRIBUTE, None)
    if not failed:
        return
    if not getattr(request, LOGGED_ATTRIBUTE, False):
        # A view's rules (global CLAIM_RULES are logged by the authentication class, which
        # still holds the verified claims: DRF drops request.auth when authentication raises).
        from .authentication import log_rejection
        from .claims import Claims
        from .tokens import verified_context

        auth = getattr(request, "auth", None)
        verified = verified_context(auth.header, auth) if isinstance(auth, Claims) else {}
        log_rejection(ClaimRuleFailed.code, verified, rules="; ".join(failed))
        setattr(request, LOGGED_ATTRIBUTE, True)
    response["WWW-Authenticate"] = (
        f'{scheme} realm="{header_safe(auth0_settings.REALM)}", error="insufficient_scope", '
        'error_description="The access token does not satisfy a rule of this API"'
    )
    # Rules combined with & | ~ lose their message in DRF: name the failed ones in the body,
    # unless another permission already said what was wrong.
    if not isinstance(response.data, dict) or "code" not in response.data or response.data.get("code") == "permission_denied":
        response.data = rule_failure_body(list(failed))
