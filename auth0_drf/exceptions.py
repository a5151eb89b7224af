"""The DRF boundary: library errors become DRF errors, and error responses get their challenges.

``exception_handler`` is DRF's, plus RFC 6750's ``insufficient_scope`` challenge on 403s
caused by missing scopes or failed claim rules. The library's own error tree lives in
``auth0_drf.errors``; its classes are importable from here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import exceptions as drf_exceptions
from rest_framework import status

from .challenges import existing_request_state, insufficient_scope_challenge, request_state, rule_challenge
from .claims import Claims
from .conf import auth0_settings
from .errors import (
    INSUFFICIENT_SCOPE,
    AudienceNotConfigured,
    Auth0Error,
    ClaimError,
    ClaimRuleFailed,
    DatabaseUnavailable,
    DPoPBindingError,
    DPoPError,
    DPoPRequired,
    IDTokenNotAccepted,
    InvalidAudience,
    InvalidAuthorizationHeader,
    InvalidClaim,
    InvalidHeader,
    InvalidIssuer,
    InvalidSignature,
    KeysUnavailable,
    MissingClaim,
    NotAJWT,
    ReplayCacheUnavailable,
    TokenError,
    TokenExpired,
    TokenNotYetValid,
    TokenRevoked,
    TokenTooLarge,
    TokenTooOld,
    UnknownKey,
    UnknownSubject,
    UnsupportedAlgorithm,
    UnsupportedTokenBinding,
    UsernameUnavailable,
    UserRejected,
    WrongTokenType,
)
from .i18n import gettext_lazy as _
from .i18n import interpolate
from .rejectcounts import count_rejection
from .rejections import log_rejection, verified_context

if TYPE_CHECKING:
    from rest_framework.response import Response

__all__ = [
    "Auth0Error",
    "TokenError",
    "InvalidAuthorizationHeader",
    "TokenTooLarge",
    "NotAJWT",
    "InvalidHeader",
    "WrongTokenType",
    "UnsupportedAlgorithm",
    "UnknownKey",
    "InvalidSignature",
    "ClaimError",
    "MissingClaim",
    "InvalidClaim",
    "TokenExpired",
    "TokenNotYetValid",
    "TokenTooOld",
    "InvalidIssuer",
    "InvalidAudience",
    "IDTokenNotAccepted",
    "UserRejected",
    "UnknownSubject",
    "TokenRevoked",
    "DPoPError",
    "DPoPRequired",
    "UnsupportedTokenBinding",
    "DPoPBindingError",
    "ClaimRuleFailed",
    "KeysUnavailable",
    "ReplayCacheUnavailable",
    "DatabaseUnavailable",
    "UsernameUnavailable",
    "AudienceNotConfigured",
    "AuthenticationFailed",
    "ClaimRuleDenied",
    "ServiceUnavailable",
    "add_rule_challenge",
    "add_scope_challenge",
    "exception_handler",
    "reject",
    "rule_failure_body",
]


class AuthenticationFailed(drf_exceptions.AuthenticationFailed):
    """A rejected token: 401 (or 400 for ``invalid_request``) with a machine-readable ``code``.

    The body is ``{"detail": <message>, "code": <code>}``; the ``WWW-Authenticate`` challenge is
    built by the authentication class from the error ``reject()`` left in the request state.
    """

    def __init__(self, error: TokenError) -> None:
        self.error = error.error
        self.code = error.code
        self.detail_text = error.message
        if error.error == "invalid_request":
            self.status_code = status.HTTP_400_BAD_REQUEST
        super().__init__({"detail": error.message, "code": error.code}, code=error.code)


def reject(request: Any, error: TokenError) -> AuthenticationFailed:
    """Log a rejected token, leave its error for the challenge header, and return the DRF error.

    Used by the authentication class and by token-validity rules that run later, as permissions:
    either way the 401's challenge carries the error, with the scheme the token came with.
    """
    request_state(request).error = error
    # Only verified values are logged; errors raised before the signature check carry none.
    verified = error.data.get("verified", {})
    log_rejection(error.code, verified)
    count_rejection(error.code, verified)
    return AuthenticationFailed(error)


class ServiceUnavailable(drf_exceptions.APIException):
    """The issuer's keys are unavailable: 503 with ``Retry-After``."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = KeysUnavailable.code

    def __init__(self, error: KeysUnavailable, retry_after: int) -> None:
        self.wait = retry_after
        super().__init__({"detail": error.message, "code": error.code}, code=error.code)


class ClaimRuleDenied(drf_exceptions.PermissionDenied):
    """A claim rule failed: 403 with ``{"detail", "code": "claim_rule_failed", "rules": [...]}``."""

    default_code = ClaimRuleFailed.code

    def __init__(self, error: ClaimRuleFailed) -> None:
        super().__init__(rule_failure_body([error.rule]), code=error.code)


def rule_failure_body(rules: list[str]) -> dict[str, Any]:
    """Return the JSON body of a 403 caused by failed claim rules (described by configuration only)."""
    return {
        "detail": interpolate(
            _("The access token does not satisfy this API's rules: %(rules)s."), rules="; ".join(rules)
        ),
        "code": ClaimRuleFailed.code,
        "rules": rules,
    }


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler, plus the ``insufficient_scope`` challenge on scope and claim-rule 403s.

    Set ``REST_FRAMEWORK["EXCEPTION_HANDLER"] = "auth0_drf.exceptions.exception_handler"``. With
    a handler of your own, call ``add_scope_challenge(response, exc, context)`` from it.
    """
    # Imported here, not at the top: rest_framework.views imports the authentication classes
    # named in DRF's settings (ours among them) while it is being imported itself.
    from rest_framework.views import exception_handler as drf_exception_handler  # noqa: PLC0415

    response = drf_exception_handler(exc, context)
    if response is not None:
        if isinstance(exc, drf_exceptions.NotAuthenticated) and isinstance(response.data, dict):
            # Every 401 carries a machine-readable code, not only those of rejected tokens.
            response.data = {"detail": response.data.get("detail"), "code": exc.default_code}
        add_scope_challenge(response, exc, context)
    return response


def add_scope_challenge(response: Response, exc: Exception, context: dict[str, Any]) -> None:
    """Turn a 403 caused by missing scopes (or failed claim rules) into RFC 6750's ``insufficient_scope`` response."""
    request = context.get("request")
    if request is None or not isinstance(exc, drf_exceptions.PermissionDenied):
        return
    state = existing_request_state(request)
    if state is None:
        return
    missing = state.missing_scopes
    scheme = state.scheme or "Bearer"
    if not missing:
        add_rule_challenge(response, exc, request, scheme)
        return
    auth = getattr(request, "auth", None)
    verified = verified_context(auth.header, auth) if isinstance(auth, Claims) else {}
    log_rejection(INSUFFICIENT_SCOPE, verified, missing=" ".join(missing))
    count_rejection(INSUFFICIENT_SCOPE, verified)
    response["WWW-Authenticate"] = insufficient_scope_challenge(auth0_settings.REALM, missing, scheme)
    if isinstance(response.data, dict) and "missing_scopes" not in response.data:
        response.data = {
            "detail": interpolate(
                _("The access token lacks the scopes this endpoint requires (it has none of: %(scopes)s)."),
                scopes=" ".join(missing),
            ),
            "code": INSUFFICIENT_SCOPE,
            "missing_scopes": list(missing),
        }


def add_rule_challenge(response: Response, exc: Exception, request: Any, scheme: str = "Bearer") -> None:
    """Give a 403 caused by failed claim rules RFC 6750's challenge and a body naming the rules.

    The challenge's description is fixed text: neither the rules nor claim values go in headers.
    """
    state = existing_request_state(request)
    if state is None or not state.failed_rules:
        return
    if not state.logged:
        # A view's rules (global CLAIM_RULES are logged by the authentication class, which
        # still holds the verified claims: DRF drops request.auth when authentication raises).
        auth = getattr(request, "auth", None)
        verified = verified_context(auth.header, auth) if isinstance(auth, Claims) else {}
        log_rejection(ClaimRuleFailed.code, verified, rules="; ".join(state.failed_rules))
        count_rejection(ClaimRuleFailed.code, verified)
        state.logged = True
    response["WWW-Authenticate"] = rule_challenge(auth0_settings.REALM, scheme)
    # Rules combined with & | ~ lose their message in DRF: name the failed ones in the body,
    # unless another permission already said what was wrong.
    if (
        not isinstance(response.data, dict)
        or "code" not in response.data
        or response.data.get("code") == "permission_denied"
    ):
        response.data = rule_failure_body(list(state.failed_rules))
