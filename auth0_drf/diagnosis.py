"""Explain an access token: decode it, verify it with the configured settings, and list every problem.

The checks are ``TokenVerifier``'s own (``check_header``, ``select_issuer``, ``verify`` and each
of its ``claim_validators``): this module runs each independently and catches its ``TokenError``,
so all the problems of a token are reported at once instead of the first only, then words each
one with the values it found (``aud is X; request the token with audience=Y``). It is for a
developer's terminal (``manage.py auth0_inspect``): nothing here logs or stores the token.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from .conf import IssuerConfig
from .errors import (
    API_IDENTIFIER,
    JWE_MESSAGE,
    AudienceNotConfigured,
    Auth0Error,
    ClaimError,
    IDTokenNotAccepted,
    InvalidAudience,
    InvalidIssuer,
    InvalidSignature,
    KeysUnavailable,
    NotAJWT,
    TokenError,
    TokenExpired,
    TokenNotYetValid,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
    audience_advice,
)
from .fetch import is_loopback_url
from .jose import decode_segment, is_number
from .tokens import TokenVerifier, get_verifier
from .validators import validate_audience

#: Claims holding NumericDate values, shown as local dates.
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")
_MAX_SHOWN = 200


@dataclass(frozen=True)
class Problem:
    """One reason the token would be rejected: the rejection ``code`` and what to do about it."""

    code: str
    message: str


@dataclass
class Diagnosis:
    """What is known about a token: its kind, decoded parts, and (when verified) its problems."""

    kind: str  # "jwt", "jwe" (encrypted) or "opaque"
    header: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)
    verified: bool = False  # checked against the settings (not only decoded)
    signature: str = "not checked"

    @property
    def ok(self) -> bool:
        """Return whether the token was checked and would be accepted."""
        return self.verified and not self.problems

    def add(self, code: str, message: str) -> None:
        """Record a problem once."""
        problem = Problem(code, message)
        if problem not in self.problems:
            self.problems.append(problem)


def show(value: Any) -> str:
    """Return ``value`` as JSON (so control characters cannot reach the terminal), shortened."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def duration(seconds: float) -> str:
    """Return a rough human duration: ``45 s``, ``5 min``, ``2 h``, ``3 days``."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def local_date(value: float) -> str:
    """Return a NumericDate as a date in the current time zone (``TIME_ZONE``)."""
    try:
        moment = timezone.localtime(datetime.fromtimestamp(value, tz=dt_timezone.utc))
    except (OverflowError, OSError, ValueError):
        return "not a representable date"
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}"


def describe_time(name: str, value: Any, now: float) -> str:
    """Return a NumericDate claim as a local date with its distance from ``now``."""
    if not is_number(value):  # what the verifier takes for a number, and nothing else
        return f"{show(value)} (not a number)"
    delta = value - now
    future = delta > 0
    if name == "exp":
        relative = f"expires in {duration(delta)}" if future else f"expired {duration(delta)} ago"
    elif name == "nbf":
        relative = f"not valid for another {duration(delta)}" if future else f"valid since {duration(delta)} ago"
    elif name == "iat":
        relative = f"issued {duration(delta)} in the future" if future else f"issued {duration(delta)} ago"
    else:
        relative = f"in {duration(delta)}" if future else f"{duration(delta)} ago"
    return f"{value} = {local_date(value)} ({relative})"


def decode(token: str) -> Diagnosis:
    """Decode a token without verifying anything (``auth0_inspect --offline``)."""
    token = clean(token)
    segments = token.split(".")
    if len(segments) == 5:
        diagnosis = Diagnosis("jwe")
        with contextlib.suppress(NotAJWT):  # the header of a JWE is still worth showing when it decodes
            diagnosis.header = decode_segment(segments[0], "header")
        diagnosis.add(NotAJWT.code, JWE_MESSAGE)
        return diagnosis
    if len(segments) != 3:
        diagnosis = Diagnosis("opaque")
        diagnosis.add(NotAJWT.code, NotAJWT.message)
        return diagnosis
    diagnosis = Diagnosis("jwt")
    for what, index in (("header", 0), ("payload", 1)):
        try:
            setattr(diagnosis, what, decode_segment(segments[index], what))
        except NotAJWT as exc:
            diagnosis.kind = "opaque"
            diagnosis.add(exc.code, exc.message)
    return diagnosis


def clean(token: str) -> str:
    """Return the token without surrounding whitespace or a pasted ``Bearer`` prefix."""
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token


def diagnose(token: str, verifier: TokenVerifier | None = None, *, now: float | None = None) -> Diagnosis:
    """Decode ``token`` and check it with ``verifier`` (default: the configured one); collect every problem."""
    token = clean(token)
    diagnosis = decode(token)
    diagnosis.verified = True
    verifier = verifier or get_verifier()
    now = verifier.timer() if now is None else now
    if len(token) > verifier.max_length:
        diagnosis.add(TokenTooLarge.code, f"{TokenTooLarge.message} (MAX_TOKEN_LENGTH is {verifier.max_length}.)")
    header, payload = diagnosis.header, diagnosis.payload
    if diagnosis.kind != "jwt" or header is None or payload is None:
        audiences = [a for config in verifier.issuers.values() for a in config.audiences]
        if audiences:
            # Name the real audience in the "request it with audience=..." advice.
            diagnosis.problems = [
                Problem(p.code, p.message.replace(API_IDENTIFIER, audiences[0])) for p in diagnosis.problems
            ]
        return diagnosis
    _Checker(verifier, diagnosis, token, header, payload, now).run()
    return diagnosis


class _Checker:
    """Run each of the verifier's checks on its own and word its failure."""

    def __init__(
        self,
        verifier: TokenVerifier,
        diagnosis: Diagnosis,
        token: str,
        header: dict[str, Any],
        payload: dict[str, Any],
        now: float,
    ) -> None:
        self.verifier, self.diagnosis, self.token = verifier, diagnosis, token
        self.header, self.payload, self.now = header, payload, now

    def run(self) -> None:
        alg = self.check_header()
        config = self.check_issuer()
        key_found = self.check_key(config, alg)
        if key_found:
            self.check_signature()
        elif config is None:
            self.diagnosis.signature = "not checked: the issuer is not trusted, so none of its keys are fetched"
        else:
            self.diagnosis.signature = "not checked: no usable key"
        # The claims are checked against the trusted issuer, or the first configured one when
        # the token's is not trusted, so an audience problem is still found.
        claims_config = config or next(iter(self.verifier.issuers.values()), None)
        if claims_config is not None:
            if config is not None and not config.audiences:
                self.diagnosis.add(
                    AudienceNotConfigured.code,
                    f"No AUDIENCE is configured for {config.issuer}, so this API accepts no token at all (it answers "
                    "503): set AUTH0_DRF['AUDIENCE'] to your API identifier (system check auth0_drf.E002).",
                )
            self.check_claims(claims_config)

    def add(self, error: Auth0Error, message: str | None = None) -> None:
        self.diagnosis.add(error.code, message or error.message)

    def check_header(self) -> str | None:
        verifier = self.verifier
        try:
            return verifier.check_header(self.header)
        except UnsupportedAlgorithm as exc:
            self.add(exc, self.explain_algorithm())
            if verifier.algorithms:
                # check_header stops at the algorithm; the rest of the header still deserves a look.
                try:
                    verifier.check_header({**self.header, "alg": next(iter(verifier.algorithms))})
                except TokenError as other:
                    self.add(other)
        except TokenError as exc:
            self.add(exc)
        return None

    def check_issuer(self) -> IssuerConfig | None:
        try:
            return self.verifier.select_issuer(self.payload)
        except InvalidIssuer as exc:
            self.add(exc, self.explain_issuer())
        except TokenError as exc:
            self.add(exc)
        return None

    def check_key(self, config: IssuerConfig | None, alg: str | None) -> bool:
        if config is None or alg is None:
            return False
        jwks = self.verifier.jwks[config.issuer]
        try:
            jwks.get_signing_key(self.header.get("kid"), alg)
        except UnknownKey as exc:
            known = ", ".join(show(k.kid) for k in jwks.keys.keys) if jwks.keys else "none"
            where = jwks.jwks_uri or f"the JWKS of {config.issuer}"
            kid = self.header.get("kid")
            if kid is None:
                self.add(exc, f"{exc.message} The token has no kid and no single published key fits {alg}.")
            else:
                self.add(
                    exc,
                    f"kid is {show(kid)}, which is not among the keys published at {where} (kids: {known}): the "
                    "token was signed by another tenant or issuer, or by a key that has been revoked.",
                )
            return False
        except KeysUnavailable as exc:
            self.add(
                exc,
                f"The signing keys of {config.issuer} could not be fetched ({jwks.last_error or 'unknown reason'}): "
                "run manage.py auth0_check.",
            )
            return False
        return True

    def check_signature(self) -> None:
        # verify() checks header, issuer and key exactly as above, then the signature, then the
        # claims: so once the key is known, only InvalidSignature means a bad signature.
        try:
            self.verifier.verify(self.token)
        except InvalidSignature as exc:
            self.diagnosis.signature = "INVALID"
            self.add(
                exc,
                f"The signature does not verify with the key {show(self.header.get('kid'))} published by "
                f"{show(self.payload.get('iss'))}: the token was altered, or signed by a different key.",
            )
            return
        except (TokenError, KeysUnavailable):
            pass
        self.diagnosis.signature = f"valid (key {show(self.header.get('kid'))})"

    def check_claims(self, config: IssuerConfig) -> None:
        # Each validator checks its own claims and raises its own error: running them all, one
        # by one, finds every problem where verify() stops at the first.
        context = self.verifier.claim_context(config, self.now)
        for validate in self.verifier.claim_validators:
            if validate is validate_audience and not config.audiences:
                continue  # nothing to compare aud with: reported above, the configuration's fault, not the token's
            try:
                validate(self.payload, context)
            except ClaimError as exc:
                self.add(exc, self.explain_claim(exc, config))

    # --- wording ---------------------------------------------------------------------------

    def explain_algorithm(self) -> str:
        alg = self.header.get("alg")
        accepted = ", ".join(self.verifier.algorithms) or "none configured"
        text = f"alg is {show(alg)}; this API accepts {accepted} (AUTH0_DRF['ALGORITHMS'])."
        if isinstance(alg, str) and alg.upper().startswith("HS"):
            text += (
                " HMAC tokens come from an Auth0 API whose signing algorithm is HS256: auth0_drf never "
                "accepts them; set the API's signing algorithm to RS256 in the Auth0 dashboard."
            )
        elif isinstance(alg, str) and alg.lower() == "none":
            text += " An unsigned token is never accepted."
        return text

    def explain_issuer(self) -> str:
        iss = self.payload.get("iss")
        trusted = list(self.verifier.issuers)
        trusted_text = ", ".join(trusted) or "none (set AUTH0_DRF['DOMAIN'])"
        text = f"iss is {show(iss)}; this API trusts {trusted_text}."
        if not isinstance(iss, str):
            return text
        host = urlsplit(iss).hostname or ""
        # A loopback issuer is a local or test issuer, neither a tenant nor a custom domain.
        trusted_hosts = [urlsplit(t).hostname or "" for t in trusted if not is_loopback_url(t)]
        if any(iss.rstrip("/") == t.rstrip("/") for t in trusted):
            return text + (
                " They differ only by the trailing '/': Auth0's iss ends with '/', so set ISSUER to exactly what the "
                "token says (or set DOMAIN and leave ISSUER unset)."
            )
        if is_loopback_url(iss):
            return text + self.explain_local_issuer(iss, [t for t in trusted if is_loopback_url(t)])
        if host.endswith(".auth0.com") and any(h and not h.endswith(".auth0.com") for h in trusted_hosts):
            return text + (
                " The token was requested through the tenant's *.auth0.com domain, but this API trusts a custom "
                "domain (iss is the domain the token was requested through): request it through the custom "
                f"domain, or also trust {iss} in AUTH0_DRF['ISSUERS']."
            )
        if host and not host.endswith(".auth0.com") and any(h.endswith(".auth0.com") for h in trusted_hosts):
            return text + (
                " The token was requested through a custom domain, but this API trusts the tenant's *.auth0.com "
                f"domain: set AUTH0_DRF['DOMAIN'] to {host}, or also trust {iss} in AUTH0_DRF['ISSUERS']."
            )
        return text + " The token comes from another tenant or identity provider."

    def explain_local_issuer(self, iss: str, trusted_local: list[str]) -> str:
        """Word a token from an issuer on this machine: a development or test issuer, never a tenant."""
        if trusted_local:
            # Both local: most often the server runs on another port than the tokens were minted for.
            return (
                " Both are local issuers (loopback addresses), at different addresses: tokens carry the address of "
                "the issuer that minted them. Mint the token with the server's settings (in the demo, set "
                f"AUTH0_DEV_ISSUER_URL={trusted_local[0]} for manage.py auth0_mint, as bin/demo does from PORT)."
            )
        return (
            " The token comes from a local development issuer (its iss is a loopback address: manage.py auth0_mint, "
            "the demo, or a test issuer), not from an Auth0 tenant or custom domain, and this API trusts no local "
            "issuer. Send an access token from your tenant (your app's getTokenSilently(), or the Test tab of your "
            "API in the Auth0 dashboard); to develop without a tenant instead, run with "
            f'AUTH0_DRF = {{"ISSUER": {show(iss)}, "AUDIENCE": ..., "DEV_ISSUER": True}} (DEBUG only).'
        )

    def explain_claim(self, error: ClaimError, config: IssuerConfig) -> str:
        payload = self.payload
        if isinstance(error, TokenExpired) and is_number(payload.get("exp")):
            exp = payload["exp"]
            if config.issuer == self.verifier.development_issuer:
                renew = "mint a new one (manage.py auth0_mint)"
            else:
                renew = "get a new one from Auth0"
            return f"The token expired {duration(self.now - exp)} ago ({local_date(exp)}): {renew}."
        if isinstance(error, TokenNotYetValid) and error.claim in payload:
            when = describe_time(error.claim, payload[error.claim], self.now)
            return f"{error.message} ({error.claim} is {when})"
        if isinstance(error, IDTokenNotAccepted):
            marks = self.verifier.profile.id_token_marks(payload)
            has = f"; it carries {', '.join(marks)}" if marks else ""
            return (
                f"This is an ID token (aud is {show(payload.get('aud'))}, the client id{has}). APIs accept access "
                f"tokens only: send the access token, {audience_advice(config.audiences, 'requested')}."
            )
        if isinstance(error, InvalidAudience) and "aud" in payload:
            aud = payload["aud"]
            audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if audiences and all(isinstance(a, str) and a.endswith("/userinfo") for a in audiences):
                return (
                    f"aud is {show(aud)}, which is only Auth0's /userinfo endpoint: no audience was requested. "
                    f"{audience_advice(config.audiences, 'Request the token')}."
                )
            return f"aud is {show(aud)}; {audience_advice(config.audiences)}."
        return error.message
