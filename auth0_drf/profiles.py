"""Token profiles (``TOKEN_PROFILE``): what an access token's ``typ`` and claims must be, and how an ID token looks.

Each profile is one ``TokenProfile`` entry in ``PROFILES``; ``TokenVerifier`` reads the one named
by ``TOKEN_PROFILE`` and the system checks offer the names of ``PROFILES`` as its choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .errors import MissingClaim, WrongTokenType
from .i18n import gettext_lazy as _
from .i18n import interpolate

#: Claims only an OpenID Connect ID token carries (OIDC Core sections 2 and 3.1.3.6).
ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")
#: Claims about the user that ID tokens carry and Auth0 access tokens do not (unless an Action adds them).
USER_PROFILE_CLAIMS = ("email", "name", "nickname", "picture", "given_name", "family_name", "auth_time", "sid")


@dataclass(frozen=True)
class TokenProfile:
    """What a profile asks of an access token beyond the signature, ``iss``, ``aud``, ``exp`` and ``sub``.

    ``typ`` is compared in lower case and without ``application/`` (RFC 7515 section 4.1.9).
    """

    name: str
    #: How messages name the tokens of this profile.
    title: str
    #: The accepted ``typ`` values.
    token_types: frozenset[str]
    #: Whether a header without ``typ`` is refused.
    requires_typ: bool = False
    #: Claims that must be present, in the order they are checked.
    required_claims: tuple[str, ...] = ()
    #: The marks of an ID token sent where an access token belongs.
    id_token_claims: tuple[str, ...] = ID_TOKEN_CLAIMS
    user_profile_claims: tuple[str, ...] = USER_PROFILE_CLAIMS

    def check_token_type(self, header: Mapping[str, Any]) -> None:
        """Raise ``WrongTokenType`` unless the header's ``typ`` names an access token of this profile."""
        if "typ" in header:  # present, even as null: it must then be a string naming an access token
            typ = header["typ"]
            if not isinstance(typ, str) or typ.lower().removeprefix("application/") not in self.token_types:
                raise WrongTokenType()
        elif self.requires_typ:
            accepted = " or ".join(repr(kind) for kind in sorted(self.token_types))
            raise WrongTokenType(
                interpolate(_("%(title)s must have typ %(accepted)s."), title=self.title, accepted=accepted)
            )

    def check_required_claims(self, payload: Mapping[str, Any]) -> None:
        """Raise ``MissingClaim`` for the first required claim the payload lacks."""
        for name in self.required_claims:
            if name not in payload:
                raise MissingClaim(
                    interpolate(_("%(title)s must have a '%(claim)s' claim."), title=self.title, claim=name), claim=name
                )

    def looks_like_id_token(self, payload: Mapping[str, Any]) -> bool:
        """Return whether a token with the wrong audience has the marks of an OIDC ID token."""
        if payload.get("gty") == "client-credentials":
            return False
        if any(name in payload for name in self.id_token_claims):
            return True
        if any(name in payload for name in ("scope", "permissions", "scp")):
            return False
        # No scopes, and either profile claims or no client claim (access tokens carry azp or client_id).
        return any(name in payload for name in self.user_profile_claims) or not (
            "azp" in payload or "client_id" in payload
        )

    def id_token_marks(self, payload: Mapping[str, Any]) -> list[str]:
        """Return the ID-token and user-profile claims the payload carries, in a stable order."""
        return [name for name in (*self.id_token_claims, *self.user_profile_claims) if name in payload]


#: Every ``TOKEN_PROFILE``, by name: a new profile is one more entry.
PROFILES: Mapping[str, TokenProfile] = MappingProxyType(
    {
        # Auth0's default access tokens (typ JWT) and RFC 9068 ones alike.
        "any": TokenProfile("any", _("Access tokens"), frozenset({"jwt", "at+jwt"})),
        "rfc9068": TokenProfile(
            "rfc9068",
            _("RFC 9068 access tokens"),
            frozenset({"at+jwt"}),
            requires_typ=True,
            required_claims=("client_id", "jti", "iat"),
        ),
    }
)


def get_profile(name: str) -> TokenProfile:
    """Return the profile called ``name``, or raise ``ImproperlyConfigured`` (system check E007 reports it first)."""
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ImproperlyConfigured(
            f"AUTH0_DRF['TOKEN_PROFILE'] must be one of {', '.join(PROFILES)}, not {name!r}."
        ) from None
