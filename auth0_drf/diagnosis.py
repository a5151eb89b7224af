"""Explain an access token: decode it, verify it with the configured settings, and list every problem.

The checks are ``TokenVerifier``'s own (``check_header``, ``select_issuer``, ``verify`` and each
of its ``claim_validators``): this module runs each independently and catches its ``TokenError``,
so all the problems of a token are reported at once instead of the first only; ``explanations``
words each one with the values it found (``aud is X; request the token with audience=Y``). It is
for a developer's terminal (``manage.py auth0_inspect``) and the admin's token inspector, which
show the same ``Diagnosis`` and ``decoded_rows()``: nothing here logs or stores the token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext

from .conf import IssuerConfig
from .errors import (
    API_IDENTIFIER,
    JWE_MESSAGE,
    AudienceNotConfigured,
    Auth0Error,
    ClaimError,
    InvalidIssuer,
    InvalidSignature,
    KeysUnavailable,
    NotAJWT,
    TokenError,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
)
from .explanations import (
    TIME_CLAIMS,
    describe_time,
    duration,
    explain_algorithm,
    explain_bad_signature,
    explain_claim,
    explain_issuer,
    explain_keys_unavailable,
    explain_no_audience,
    explain_unknown_key,
    show,
)
from .i18n import gettext_lazy
from .jose import decode_segment
from .tokens import TokenVerifier, get_verifier
from .validators import validate_audience

# The wording lives in explanations.py; these names are imported from here too.
__all__ = [
    "KINDS",
    "TIME_CLAIMS",
    "Diagnosis",
    "Problem",
    "clean",
    "decode",
    "decoded_rows",
    "describe_time",
    "diagnose",
    "duration",
    "show",
]

#: What each ``Diagnosis.kind`` is, in words (lazy: in the language active where it is shown).
KINDS = {
    "jwt": gettext_lazy("a signed JWT (JWS)"),
    "jwe": gettext_lazy("an encrypted token (JWE)"),
    "opaque": gettext_lazy("not a JWT (opaque or malformed)"),
}


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
    signature: str = gettext_lazy("not checked")

    @property
    def ok(self) -> bool:
        """Return whether the token was checked and would be accepted."""
        return self.verified and not self.problems

    def add(self, code: str, message: str) -> None:
        """Record a problem once."""
        problem = Problem(code, message)
        if problem not in self.problems:
            self.problems.append(problem)


def decoded_rows(part: Mapping[str, Any], now: float) -> list[tuple[str, str]]:
    """Return (name, value) of each member of a decoded header or payload, as text.

    Values are JSON (``show``), NumericDates a local date with how far they are from ``now``
    (``expires in 5 min``, ``expired 2 h ago``).
    """
    return [
        (show(name)[1:-1], describe_time(name, value, now) if name in TIME_CLAIMS else show(value))
        for name, value in part.items()
    ]


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
        diagnosis.add(
            TokenTooLarge.code,
            gettext("%(message)s (MAX_TOKEN_LENGTH is %(limit)s.)")
            % {"message": TokenTooLarge.message, "limit": verifier.max_length},
        )
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
            self.diagnosis.signature = gettext(
                "not checked: the issuer is not trusted, so none of its keys are fetched"
            )
        else:
            self.diagnosis.signature = gettext("not checked: no usable key")
        # The claims are checked against the trusted issuer, or the first configured one when
        # the token's is not trusted, so an audience problem is still found.
        claims_config = config or next(iter(self.verifier.issuers.values()), None)
        if claims_config is not None:
            if config is not None and not config.audiences:
                self.diagnosis.add(AudienceNotConfigured.code, explain_no_audience(config.issuer))
            self.check_claims(claims_config)

    def add(self, error: Auth0Error, message: str | None = None) -> None:
        self.diagnosis.add(error.code, message or error.message)

    def check_header(self) -> str | None:
        verifier = self.verifier
        try:
            return verifier.check_header(self.header)
        except UnsupportedAlgorithm as exc:
            self.add(exc, explain_algorithm(self.header.get("alg"), verifier.algorithms))
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
            self.add(exc, explain_issuer(self.payload.get("iss"), list(self.verifier.issuers)))
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
            known = [k.kid for k in jwks.keys.keys] if jwks.keys else None
            where = jwks.jwks_uri or gettext("the JWKS of %(issuer)s") % {"issuer": config.issuer}
            self.add(exc, explain_unknown_key(exc.message, self.header.get("kid"), alg, known, where))
            return False
        except KeysUnavailable as exc:
            self.add(exc, explain_keys_unavailable(config.issuer, jwks.last_error))
            return False
        return True

    def check_signature(self) -> None:
        # verify() checks header, issuer and key exactly as above, then the signature, then the
        # claims: so once the key is known, only InvalidSignature means a bad signature.
        try:
            self.verifier.verify(self.token)
        except InvalidSignature as exc:
            self.diagnosis.signature = gettext("INVALID")
            self.add(exc, explain_bad_signature(self.header.get("kid"), self.payload.get("iss")))
            return
        except (TokenError, KeysUnavailable):
            pass
        self.diagnosis.signature = gettext("valid (key %(kid)s)") % {"kid": show(self.header.get("kid"))}

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
                development = config.issuer == self.verifier.development_issuer
                self.add(
                    exc,
                    explain_claim(
                        exc, self.payload, config.audiences, self.verifier.profile, self.now, development=development
                    ),
                )
