"""The DRF authentication class: ``Authorization: Bearer <Auth0 access token>``.

List it first in ``DEFAULT_AUTHENTICATION_CLASSES`` (or a view's ``authentication_classes``):
DRF asks only the first class for the ``WWW-Authenticate`` challenge of a 401.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .backends import get_backend
from .claims import Claims
from .conf import auth0_settings
from .exceptions import (
    AuthenticationFailed,
    InvalidAuthorizationHeader,
    KeysUnavailable,
    ServiceUnavailable,
    TokenError,
    header_safe,
)
from .tokens import get_verifier, verified_context

logger = logging.getLogger("auth0_drf")

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_SCHEME_AND_REST = re.compile(r"\s*(\S+)(.*)", re.DOTALL)
# The common, well-formed case in one scan; anything else takes the general path below.
_BEARER_TOKEN = re.compile(r"(?i:bearer) ([A-Za-z0-9\-._~+/]+=*)")
_ERROR_ATTRIBUTE = "_auth0_drf_error"


class Auth0Authentication(BaseAuthentication):
    """Authenticate requests that carry an Auth0 access token.

    ``authenticate()`` returns ``(user, claims)`` where ``claims`` (``request.auth``) is a
    read-only ``Claims`` mapping; it returns ``None`` when the request carries no bearer token
    (so other authentication classes may try) and raises when it carries a bad one.

    Each step is a small method to override: ``get_raw_token``, ``verify_token``,
    ``check_token``, ``get_user``, ``token_verified``.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Claims] | None:
        try:
            raw_token = self.get_raw_token(request)
            if raw_token is None:
                return None
            claims = self.verify_token(raw_token)
            try:
                self.check_token(claims, request)
                user = self.get_user(claims, request)
            except TokenError as exc:
                exc.data.setdefault("verified", verified_context(claims.header, claims))
                raise
        except TokenError as exc:
            raise self.reject(request, exc) from None
        except KeysUnavailable as exc:
            logger.warning("auth0_drf: rejected request: code=%s", exc.code)
            raise ServiceUnavailable(exc, retry_after=self.retry_after()) from None
        self.token_verified(claims, user, request)
        return user, claims

    def get_raw_token(self, request: Request) -> str | None:
        """Return the token of an ``Authorization: Bearer`` header, or None if there is none.

        Raises ``InvalidAuthorizationHeader`` for a bearer header without exactly one
        well-formed token. Tokens in the query string are refused with a hint, never used.
        """
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            if "access_token" in request.query_params:
                raise InvalidAuthorizationHeader(
                    "Access tokens are not accepted in the URL: send 'Authorization: Bearer <access token>'."
                )
            return None
        if self.keyword == "Bearer":
            fast = _BEARER_TOKEN.fullmatch(header)
            if fast is not None:
                return fast.group(1)
        match = _SCHEME_AND_REST.fullmatch(header)
        if match is None or match.group(1).lower() != self.keyword.lower():
            return None
        token = match.group(2).strip(" \t")
        if not token:
            raise InvalidAuthorizationHeader("The Authorization header has no token after 'Bearer'.")
        if not _B64TOKEN.fullmatch(token):
            raise InvalidAuthorizationHeader()
        return token

    def verify_token(self, raw_token: str) -> Claims:
        """Return the verified claims of ``raw_token`` (see ``auth0_drf.tokens``)."""
        return get_verifier().verify(raw_token)

    def check_token(self, claims: Claims, request: Request) -> None:
        """Apply checks that depend on how the token was sent, or on the application.

        A sender-constrained (DPoP) token presented as a plain bearer token is refused, since
        anyone who stole it could otherwise use it (RFC 9449 section 7.1).
        """
        cnf = claims.get("cnf")
        if isinstance(cnf, dict) and "jkt" in cnf:
            raise TokenError(
                "This access token is bound to a DPoP key: send it as 'Authorization: DPoP <token>' with a DPoP proof."
            )

    def get_user(self, claims: Claims, request: Request) -> Any:
        """Return the Django user for the token (see ``auth0_drf.backends``)."""
        return get_backend().get_user(claims, request)

    def token_verified(self, claims: Claims, user: Any, request: Request) -> None:
        """Run after a token was accepted: records its custom claims for the admin."""

    def reject(self, request: Request, error: TokenError) -> AuthenticationFailed:
        """Log the rejection, remember it for the challenge header, and return the DRF error."""
        setattr(request, _ERROR_ATTRIBUTE, error)
        # Only verified values are logged; errors raised before the signature check carry none.
        verified = error.data.get("verified", {})
        logger.info(
            "auth0_drf: rejected token: code=%s kid=%s iss=%s sub=%s",
            error.code,
            header_safe(str(verified.get("kid", "-")))[:100],
            header_safe(str(verified.get("iss", "-")))[:200],
            header_safe(str(verified.get("sub", "-")))[:200],
        )
        return AuthenticationFailed(error)

    def retry_after(self) -> int:
        """Return seconds until keys may be fetched again, for the 503's ``Retry-After``."""
        caches = get_verifier().jwks.values()
        return min((cache.seconds_until_retry() for cache in caches), default=1)

    def authenticate_header(self, request: Request) -> str:
        """Return the RFC 6750 challenge, with the error of a rejected token if there was one."""
        realm = header_safe(auth0_settings.REALM)
        error = getattr(request, _ERROR_ATTRIBUTE, None)
        if error is None:
            return f'{self.keyword} realm="{realm}"'
        return (
            f'{self.keyword} realm="{realm}", error="{error.error}", '
            f'error_description="{header_safe(error.message)}"'
        )
