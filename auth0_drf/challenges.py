"""The per-request state of a rejection and the ``WWW-Authenticate`` challenges built from it.

Authentication, the scope permissions and the claim rules write what went wrong into one
``Auth0RequestState`` on the request; the authentication class and the exception handler
read it back to build RFC 6750 challenges. Nothing here knows DRF: any object that takes
attributes (a DRF ``Request``) can carry the state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .errors import TokenError

# RFC 6750 section 3: characters allowed in quoted auth-param values (no '"' and no '\').
_UNSAFE_HEADER_CHARS = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_STATE_ATTRIBUTE = "_auth0_drf_state"


def header_safe(text: str) -> str:
    """Return ``text`` with every character RFC 6750 forbids in a quoted value removed."""
    return _UNSAFE_HEADER_CHARS.sub("", text)


@dataclass
class Auth0RequestState:
    """What auth0_drf learnt about one request, for the challenge of its error response."""

    #: The ``Authorization`` scheme the token came with ("Bearer" or "DPoP"), once read.
    scheme: str | None = None
    #: The error a rejected token was refused with (401/400).
    error: TokenError | None = None
    #: Scopes that scope permissions found missing (403 ``insufficient_scope``).
    missing_scopes: list[str] = field(default_factory=list)
    #: Descriptions (from configuration only) of the claim rules the token failed (403).
    failed_rules: list[str] = field(default_factory=list)
    #: Whether the rejection has been logged already (it is logged once only).
    logged: bool = False

    def add_missing_scopes(self, scopes: list[str]) -> None:
        """Remember ``scopes`` as missing, each once, in order."""
        self.missing_scopes.extend(scope for scope in dict.fromkeys(scopes) if scope not in self.missing_scopes)

    def add_failed_rule(self, rule: str) -> None:
        """Remember that the rule described as ``rule`` failed."""
        if rule not in self.failed_rules:
            self.failed_rules.append(rule)


def request_state(request: object) -> Auth0RequestState:
    """Return the request's state, attaching an empty one on first use."""
    state = getattr(request, _STATE_ATTRIBUTE, None)
    if not isinstance(state, Auth0RequestState):
        state = Auth0RequestState()
        setattr(request, _STATE_ATTRIBUTE, state)
    return state


def existing_request_state(request: object) -> Auth0RequestState | None:
    """Return the request's state if auth0_drf wrote one, else None (nothing is attached)."""
    state = getattr(request, _STATE_ATTRIBUTE, None)
    return state if isinstance(state, Auth0RequestState) else None


def challenge(scheme: str, realm: str, **params: str) -> str:
    """Return one challenge, ``<scheme> realm="…", name="value", …``, every value made header-safe."""
    parts = [f'{scheme} realm="{header_safe(realm)}"']
    parts.extend(f'{name}="{header_safe(value)}"' for name, value in params.items())
    return ", ".join(parts)


def insufficient_scope_challenge(realm: str, scopes: list[str], scheme: str = "Bearer") -> str:
    """Return the RFC 6750 section 3.1 challenge for a token that lacks ``scopes``."""
    return challenge(
        scheme,
        realm,
        error="insufficient_scope",
        error_description="The access token lacks required scopes",
        scope=" ".join(scopes),
    )


def rule_challenge(realm: str, scheme: str = "Bearer") -> str:
    """Return the challenge for a token that fails a claim rule: fixed text, no rule or claim value."""
    return challenge(
        scheme,
        realm,
        error="insufficient_scope",
        error_description="The access token does not satisfy a rule of this API",
    )
