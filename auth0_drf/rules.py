"""Claim rules: declarative checks on verified claims, as DRF permissions and as global settings.

As permission classes they compose with DRF's operators, like ``HasScope``::

    permission_classes = [
        ClaimEquals("https://myapp.example/tenant", "acme") & ClaimIncludes("https://myapp.example/roles", "admin")
    ]

As a global setting they apply to every token auth0_drf accepts, on every request::

    AUTH0_DRF = {..., "CLAIM_RULES": [ClaimEquals("https://myapp.example/tenant", "acme"), MaxTokenAge(3600)]}

(entries may also be dotted paths to rule classes). Two kinds of failure, as RFC 6750 has them:

- An authorization rule (``ClaimEquals``, ``ClaimIncludes``, ``ClaimPredicate``) that fails
  gives **403** ``insufficient_scope``, with ``{"code": "claim_rule_failed", "rules": [...]}``
  naming the rule from its configuration. Claim values from the token are never echoed.
- A token-validity rule (``MaxTokenAge``) that fails gives **401** ``invalid_token``: the token
  is no longer good, whatever the endpoint. Such a rule raises wherever it appears in an
  expression, so ``~MaxTokenAge(60)`` or ``MaxTokenAge(60) | X`` cannot let an old token in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .challenges import request_state
from .claims import Claims
from .conf import BuiltFromSettings, auth0_settings
from .errors import ClaimRuleFailed, TokenError
from .exceptions import reject
from .i18n import gettext_lazy as _
from .jose import is_number
from .permissions import BoundPermissionMetaclass, token_claims
from .validators import check_token_age

logger = logging.getLogger("auth0_drf")


class ClaimRule(BasePermission, metaclass=BoundPermissionMetaclass):
    """Base class: ``check(claims)`` passes, or raises ``ClaimRuleFailed`` (403) or a ``TokenError`` (401).

    Subclasses implement ``check`` and a ``bind`` classmethod that validates the rule's
    arguments and returns ``cls.bound(label, **attributes)``; ``label`` is the rule's
    description in error bodies, so it must come from configuration only.
    """

    #: How the rule is named in 403 bodies and logs.
    description: str = "claim rule"
    code = ClaimRuleFailed.code
    message: Any = _("The access token does not satisfy a rule of this API.")

    @classmethod
    def bind(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{cls.__name__} takes no arguments")

    def check(self, claims: Claims) -> None:
        """Raise ``ClaimRuleFailed`` or a ``TokenError`` unless ``claims`` satisfy the rule."""
        raise NotImplementedError

    def fail(self) -> ClaimRuleFailed:
        """Return the error for this rule (its description only: never a claim value)."""
        return ClaimRuleFailed(rule=self.description)

    def has_permission(self, request: Request, view: Any) -> bool:
        claims = token_claims(request)
        if claims is None:
            return False  # not an auth0_drf token: no claim can be trusted
        try:
            self.check(claims)
        except ClaimRuleFailed as exc:
            request_state(request).add_failed_rule(exc.rule)
            self.message = {"detail": exc.message, "code": exc.code, "rules": [exc.rule]}
            return False
        except TokenError as exc:
            raise reject(request, exc) from None
        return True

    def __repr__(self) -> str:
        return f"<{self.description}>"


def _check_claim_name(rule: str, claim: Any) -> str:
    if not isinstance(claim, str) or not claim:
        raise ValueError(f"{rule}: the claim name must be a non-empty string, not {claim!r}")
    return claim


def _same(actual: Any, expected: Any) -> bool:
    # JSON's true is not 1, and "1" is not 1: compare types as well as values.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return actual == expected
    return type(actual) is type(expected) and actual == expected


class ClaimEquals(ClaimRule):
    """Require ``claims[claim] == value``: ``ClaimEquals("https://myapp.example/tenant", "acme")``.

    Types must match too (``"1"`` is not ``1``, ``true`` is not ``1``). A missing claim fails.
    """

    claim: str = ""
    value: Any = None

    @classmethod
    def bind(cls, claim: str, value: Any) -> Any:
        _check_claim_name(cls.__name__, claim)
        label = f"{cls.__name__}({claim!r}, {value!r})"
        return type(cls).bound(cls, label, claim=claim, value=value, description=label)

    def check(self, claims: Claims) -> None:
        if self.claim not in claims or not _same(claims[self.claim], self.value):
            raise self.fail()


class ClaimIncludes(ClaimRule):
    """Require a claim (an array, or a space-delimited string) to include every value named.

    ``ClaimIncludes("https://myapp.example/roles", "admin")``; with ``any_of=True``, one of the
    values suffices. A missing claim, or one of another type, fails.
    """

    claim: str = ""
    values: tuple[str, ...] = ()
    any_of = False

    @classmethod
    def bind(cls, claim: str, *values: str, any_of: bool = False) -> Any:
        _check_claim_name(cls.__name__, claim)
        if not values or not all(isinstance(v, str) and v for v in values):
            raise ValueError(f"{cls.__name__}: name one or more non-empty string values")
        shown = ", ".join(repr(v) for v in values)
        label = f"{cls.__name__}({claim!r}, {shown}{', any_of=True' if any_of else ''})"
        return type(cls).bound(cls, label, claim=claim, values=tuple(values), any_of=any_of, description=label)

    def check(self, claims: Claims) -> None:
        value = claims.get(self.claim)
        if isinstance(value, str):
            # Spaces only, as scopes are split (claims._as_set): str.split() would also split on
            # tabs, newlines, NBSP and U+3000, so a value such as "user\u00a0admin", which a
            # user may be able to put in their own profile, would include "admin".
            present = set(value.split(" "))
        elif isinstance(value, list):
            present = {item for item in value if isinstance(item, str)}
        else:
            raise self.fail()
        test = any if self.any_of else all
        if not test(v in present for v in self.values):
            raise self.fail()


class ClaimPredicate(ClaimRule):
    """Require ``predicate(claims)`` to be true: ``ClaimPredicate(is_paying, "a paying customer")``.

    ``description`` names the rule in 403 bodies (default: the function's name). A predicate
    that raises counts as failed (and is logged with the exception's type only), never as a 500.
    """

    predicate: Callable[[Claims], Any] | None = None

    @classmethod
    def bind(cls, predicate: Callable[[Claims], Any], description: str | None = None) -> Any:
        if not callable(predicate):
            raise ValueError(f"{cls.__name__}: the predicate must be callable, not {predicate!r}")
        label = description or getattr(predicate, "__name__", "predicate")
        return type(cls).bound(cls, f"{cls.__name__}({label!r})", predicate=staticmethod(predicate), description=label)

    def check(self, claims: Claims) -> None:
        try:
            # None only on the unbound class: its TypeError counts as a failed rule, as below.
            result = self.predicate(claims)  # type: ignore[misc]
        except Exception as exc:
            logger.warning(
                "auth0_drf: claim rule %r raised %s; treated as failed", self.description, type(exc).__name__
            )
            raise self.fail() from None
        if not result:
            raise self.fail()


class MaxTokenAge(ClaimRule):
    """Refuse tokens issued more than ``seconds`` ago (from ``iat``, with ``LEEWAY``): 401 ``token_too_old``.

    A token without ``iat`` is refused too. For the whole API, ``MAX_TOKEN_AGE`` does the
    same inside verification (and bounds how long a verified token stays cached): both run
    ``auth0_drf.validators.check_token_age``.
    """

    seconds: float = 0
    timer: Callable[[], float] = staticmethod(time.time)

    @classmethod
    def bind(cls, seconds: float) -> Any:
        if not is_number(seconds) or seconds < 0:
            raise ValueError(f"{cls.__name__}: seconds must be a number of at least 0, not {seconds!r}")
        label = f"{cls.__name__}({seconds!r})"
        return type(cls).bound(cls, label, seconds=seconds, description=label)

    def check(self, claims: Claims) -> None:
        check_token_age(claims, self.seconds, now=self.timer(), leeway=auth0_settings.LEEWAY)


# --- global rules (CLAIM_RULES) ----------------------------------------------------------


def load_rule(entry: Any) -> ClaimRule:
    """Return a rule instance for one ``CLAIM_RULES`` entry: a rule class, an instance, or a dotted path."""
    if isinstance(entry, str):
        entry = import_string(entry)
    if isinstance(entry, type) and issubclass(entry, ClaimRule):
        entry = entry()
    if not isinstance(entry, ClaimRule) or type(entry).check is ClaimRule.check:
        raise ImproperlyConfigured(
            f"AUTH0_DRF['CLAIM_RULES'] entries must be claim rules such as ClaimEquals(...), not {entry!r}."
        )
    return entry


def load_claim_rules() -> tuple[ClaimRule, ...]:
    """Return the rules of ``CLAIM_RULES``, loaded (dotted paths imported) from the settings."""
    return tuple(load_rule(entry) for entry in auth0_settings.CLAIM_RULES or ())


#: Return the rules of ``CLAIM_RULES``, loaded once per settings change.
get_claim_rules = BuiltFromSettings(load_claim_rules).get


def check_claim_rules(claims: Claims) -> None:
    """Apply every ``CLAIM_RULES`` rule: raise ``ClaimRuleFailed`` (403) or a ``TokenError`` (401)."""
    for rule in get_claim_rules():
        rule.check(claims)
