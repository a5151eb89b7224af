"""The DRF authentication class: ``Authorization: Bearer <Auth0 access token>`` (or ``DPoP``).

List it first in ``DEFAULT_AUTHENTICATION_CLASSES`` (or a view's ``authentication_classes``):
DRF asks only the first class for the ``WWW-Authenticate`` challenge of a 401. With ``DPOP``
on, that one header value offers both schemes (``Bearer realm="api", DPoP realm="api",
algs="..."``), as RFC 9110 section 11.6.1 allows, since DRF will not send two headers.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from .backends import get_backend
from .challenges import challenge, existing_request_state, request_state
from .claims import Claims
from .conf import auth0_settings
from .dpop import get_dpop_verifier
from .errors import (
    AudienceNotConfigured,
    ClaimRuleFailed,
    DPoPBindingError,
    DPoPRequired,
    InvalidAuthorizationHeader,
    KeysUnavailable,
    TokenError,
    UnsupportedTokenBinding,
)
from .exceptions import AuthenticationFailed, ClaimRuleDenied, ServiceUnavailable
from .exceptions import reject as reject_token
from .i18n import english, interpolate
from .i18n import gettext_lazy as _
from .recorder import claim_recorder
from .rejectcounts import count_rejection
from .rejections import log_rejection, verified_context
from .rules import check_claim_rules
from .tokens import get_verifier

logger = logging.getLogger("auth0_drf")

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_SCHEME_AND_REST = re.compile(r"\s*(\S+)(.*)", re.DOTALL)
# The common, well-formed case in one scan; anything else takes the general path below.
_BEARER_TOKEN = re.compile(r"(?i:bearer) ([A-Za-z0-9\-._~+/]+=*)")


class Auth0Authentication(BaseAuthentication):
    """Authenticate requests that carry an Auth0 access token.

    ``authenticate()`` returns ``(user, claims)`` where ``claims`` (``request.auth``) is a
    read-only ``Claims`` mapping; it returns ``None`` when the request carries no bearer token
    (so other authentication classes may try) and raises when it carries a bad one.

    Each step is a small method to override: ``get_raw_token``, ``verify_token``,
    ``check_token`` (``check_binding``, ``check_rules``), ``get_user``, ``token_verified``.
    """

    keyword = "Bearer"
    #: The scheme of DPoP-bound tokens, accepted when ``DPOP`` is "allowed" or "required".
    dpop_keyword = "DPoP"

    def authenticate(self, request: Request) -> tuple[Any, Claims] | None:
        try:
            raw_token = self.get_raw_token(request)
            if raw_token is None:
                return None
            claims = self.verify_token(raw_token)
            try:
                self.check_token(claims, request)
                user = self.get_user(claims, request)
            except (TokenError, KeysUnavailable) as exc:
                # The database's 503s (DatabaseUnavailable...) come after verification too.
                exc.data.setdefault("verified", verified_context(claims.header, claims))
                raise
        except TokenError as exc:
            raise self.reject(request, exc) from None
        except KeysUnavailable as exc:
            if isinstance(exc, AudienceNotConfigured):
                # A configuration error, the server's: one ERROR per request until it is fixed.
                logger.error(
                    "auth0_drf: configuration error: no AUDIENCE is configured for the issuer %s, so every token is "
                    "refused with 503 (code=%s): set AUTH0_DRF['AUDIENCE'] (or that issuer's AUDIENCE in ISSUERS) to "
                    "your API identifier (system check auth0_drf.E002; run manage.py check)",
                    exc.data.get("issuer"),
                    exc.code,
                )
            else:
                logger.warning("auth0_drf: rejected request: code=%s", exc.code)
            count_rejection(exc.code, exc.data.get("verified", {}))
            # Errors of the database (DatabaseUnavailable...) say how long to wait; key outages
            # depend on the JWKS caches' retry schedule.
            retry_after = getattr(exc, "retry_after", None) or self.retry_after()
            raise ServiceUnavailable(exc, retry_after=retry_after) from None
        self.token_verified(claims, user, request)
        return user, claims

    def get_raw_token(self, request: Request) -> str | None:
        """Return the token of an ``Authorization: Bearer`` header, or None if there is none.

        Raises ``InvalidAuthorizationHeader`` for a bearer header without exactly one
        well-formed token. A token in the query string is never used: the request is
        unauthenticated (401, no error code) with a message that says where the token goes.
        """
        # The Django request's META directly: DRF's Request forwards it through __getattr__.
        meta = getattr(request, "_request", request).META
        header = meta.get("HTTP_AUTHORIZATION")
        if header is None:
            if "access_token" in request.query_params:
                # Not a supported way to send a token (RFC 6750 2.3 is optional and leaks tokens
                # into logs): the request is unauthenticated, but say why.
                raise NotAuthenticated(
                    _("Access tokens are not accepted in the URL: send 'Authorization: Bearer <access token>'.")
                )
            return None
        fast = _BEARER_TOKEN.fullmatch(header) if self.keyword == "Bearer" else None
        scheme: str | None
        if fast is not None:
            scheme, token = self.keyword, fast.group(1)
        else:
            match = _SCHEME_AND_REST.fullmatch(header)
            scheme = self.get_scheme(match.group(1)) if match is not None else None
            if match is None or scheme is None:
                return None
            token = match.group(2).strip(" \t")
            if not token:
                raise InvalidAuthorizationHeader(
                    interpolate(_("The Authorization header has no token after '%(scheme)s'."), scheme=scheme)
                )
            if not _B64TOKEN.fullmatch(token):
                raise InvalidAuthorizationHeader()
        if "access_token" in meta.get("QUERY_STRING", "") and "access_token" in request.query_params:
            # RFC 6750 section 3.1: more than one method of sending the token is invalid_request.
            raise InvalidAuthorizationHeader(_("Send the access token once, in the Authorization header only."))
        request_state(request).scheme = scheme
        return token

    def get_scheme(self, scheme: str) -> str | None:
        """Return our keyword for an ``Authorization`` scheme we accept, or None (not ours)."""
        scheme = scheme.lower()
        if scheme == self.keyword.lower():
            return self.keyword
        if scheme == self.dpop_keyword.lower() and auth0_settings.DPOP != "off":
            return self.dpop_keyword
        return None

    def verify_token(self, raw_token: str) -> Claims:
        """Return the verified claims of ``raw_token`` (see ``auth0_drf.tokens``)."""
        return get_verifier().verify(raw_token)

    def check_token(self, claims: Claims, request: Request) -> None:
        """Apply checks that depend on how the token was sent, or on the application.

        They run on every request, also when the token itself was found in the verified-token
        cache: a DPoP proof is new each time, and rules may depend on the time.
        """
        self.check_binding(claims, request)
        self.check_rules(claims, request)

    def check_binding(self, claims: Claims, request: Request) -> None:
        """Check that the token is sent the way its key binding (``cnf.jkt``) requires.

        A DPoP-bound token needs the DPoP scheme and a valid proof; presented as a plain bearer
        token it is refused, since anyone who stole it could otherwise use it (RFC 9449 section
        7.1). With ``DPOP = "required"``, unbound bearer tokens are refused too.
        """
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if request_state(request).scheme == self.dpop_keyword:
            if not isinstance(jkt, str):
                raise DPoPBindingError(
                    _("This access token is not bound to a DPoP key: send it as 'Authorization: Bearer <token>'.")
                )
            get_dpop_verifier().verify_request(request, claims.token, jkt)
        elif jkt is not None:
            if auth0_settings.DPOP == "off":
                raise DPoPBindingError(
                    _("This access token is bound to a DPoP key, and this API does not accept DPoP.")
                )
            raise DPoPBindingError()
        elif "cnf" in claims:
            # Bound some other way (an mTLS certificate, RFC 8705, a jwk) that we cannot check:
            # refuse rather than accept it as a bearer token (RFC 7800, RFC 8705, RFC 9449).
            raise UnsupportedTokenBinding()
        elif auth0_settings.DPOP == "required":
            raise DPoPRequired()

    def check_rules(self, claims: Claims, request: Request) -> None:
        """Apply ``CLAIM_RULES``: a failed authorization rule is a 403, a validity rule a 401.

        A 403 is logged here (one INFO line naming the rule), whatever exception handler the
        project uses: only here are the verified claims still at hand.
        """
        try:
            check_claim_rules(claims)
        except ClaimRuleFailed as exc:
            state = request_state(request)
            state.add_failed_rule(exc.rule)  # for the 403's challenge
            verified = verified_context(claims.header, claims)
            log_rejection(exc.code, verified, rules=exc.rule)
            count_rejection(exc.code, verified)
            state.logged = True
            raise ClaimRuleDenied(exc) from None

    def get_user(self, claims: Claims, request: Request) -> Any:
        """Return the Django user for the token (see ``auth0_drf.backends``)."""
        return get_backend().get_user(claims, request)

    def token_verified(self, claims: Claims, user: Any, request: Request) -> None:
        """Run after a token was accepted: records its custom claims for the admin (never raises)."""
        claim_recorder.record(claims, user)

    def reject(self, request: Request, error: TokenError) -> AuthenticationFailed:
        """Log the rejection, remember it for the challenge header, and return the DRF error."""
        return reject_token(request, error)

    def retry_after(self) -> int:
        """Return seconds until keys may be fetched again, for the 503's ``Retry-After``."""
        caches = get_verifier().jwks.values()
        return min((cache.seconds_until_retry() for cache in caches), default=1)

    def authenticate_header(self, request: Request) -> str:
        """Return the RFC 6750 challenge, with the error of a rejected token if there was one.

        With ``DPOP`` on, the challenges of every accepted scheme share the one header value
        DRF sends (``DPoP`` only when it is required); the error goes with the scheme the token
        came with, or with ``DPoP`` for errors about proofs and key binding.
        """
        realm = auth0_settings.REALM
        mode = auth0_settings.DPOP
        state = existing_request_state(request)
        error = state.error if state is not None else None
        schemes = {"off": [self.keyword], "required": [self.dpop_keyword]}.get(mode, [self.keyword, self.dpop_keyword])
        failed_scheme = None
        if error is not None:
            failed_scheme = (state.scheme if state is not None else None) or self.keyword
            if getattr(error, "challenge", None) == "DPoP" or failed_scheme not in schemes:
                failed_scheme = self.dpop_keyword if self.dpop_keyword in schemes else self.keyword
            schemes.sort(key=lambda scheme: scheme != failed_scheme)  # the error's challenge first
        challenges = []
        for scheme in schemes:
            params = {}
            if scheme == self.dpop_keyword:
                params["algs"] = " ".join(get_dpop_verifier().algorithms)
            if error is not None and scheme == failed_scheme:
                # RFC 6750 section 3: the description is ASCII, so English whatever the request's language.
                params.update(error=error.error, error_description=english(error.message))
            challenges.append(challenge(scheme, realm, **params))
        return ", ".join(challenges)
