"""Scope checks as DRF permission classes: ``HasScope("read:messages")`` and friends.

Scopes are read from the claims named in ``SCOPE_CLAIMS`` (default: the ``scope`` string and
Auth0's RBAC ``permissions`` array). Only a token verified by auth0_drf can grant a scope: a
request authenticated any other way (session, basic...) never passes a scope check.

All classes compose with DRF's operators::

    permission_classes = [IsAuthenticated & (HasScope("read:messages") | HasScope("admin"))]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission, BasePermissionMetaclass
from rest_framework.request import Request

from .challenges import request_state
from .claims import Claims
from .errors import INSUFFICIENT_SCOPE
from .i18n import gettext_lazy as _
from .i18n import interpolate

logger = logging.getLogger("auth0_drf")


def token_claims(request: Request) -> Claims | None:
    """Return the verified claims of the request's access token, or None."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Claims) else None


class BoundPermissionMetaclass(BasePermissionMetaclass):
    """Let ``HasScope("a", "b")`` build a permission class, while ``HasScope()`` instantiates it.

    DRF instantiates permission classes (and the operands of ``&``, ``|``, ``~``) with no
    arguments, so arguments must be bound when the class is named, not when it is called:
    calling the class with arguments returns ``cls.bind(*args, **kwargs)``, a subclass holding
    them (scope permissions here, claim rules in ``auth0_drf.rules``).
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            # bind() is defined by the classes this metaclass makes (ScopePermission, ClaimRule).
            return cls.bind(*args, **kwargs)  # type: ignore[attr-defined]
        return super().__call__()

    def bound(cls, label: str, **attributes: Any) -> Any:
        """Return a subclass of ``cls`` named ``label`` with ``attributes`` set on it."""
        return type(cls)(label, (cls,), {"__module__": cls.__module__, "__qualname__": label, **attributes})


class ScopePermission(BasePermission, metaclass=BoundPermissionMetaclass):
    """Base class: grant access when the token carries the scopes ``get_required_scopes`` names.

    Returning None from ``get_required_scopes`` denies (a missing requirement never allows).
    Returning no scopes at all (``HasScope`` named without scopes, an empty ``required_scopes``,
    no ``scope_resource``) is a misconfiguration, never "no scope needed": the request is
    refused whatever the permission is composed with (``~``, ``|``), and a WARNING names the view.
    """

    scopes: tuple[str, ...] = ()

    @classmethod
    def bind(cls, *scopes: str) -> Any:
        """Return a subclass requiring ``scopes`` (what ``HasScope("a", "b")`` returns)."""
        for scope in scopes:
            if not isinstance(scope, str) or not scope or any(c.isspace() for c in scope):
                raise ValueError(f"{cls.__name__}: a scope is a non-empty string without spaces, not {scope!r}")
        label = ", ".join(repr(s) for s in scopes)
        return type(cls).bound(cls, f"{cls.__name__}({label})", scopes=tuple(scopes))

    #: True: any one of the scopes suffices; False: all are required.
    any_of = False
    code = INSUFFICIENT_SCOPE
    message: Any = _("The access token lacks the scopes this endpoint requires.")

    def get_required_scopes(self, request: Request, view: Any) -> Sequence[str] | None:
        return self.scopes

    def has_permission(self, request: Request, view: Any) -> bool:
        claims = token_claims(request)
        if claims is None:
            return False
        required = self.get_required_scopes(request, view)
        if required is not None and not required:
            self.refuse_empty_requirement(view)
        if required is None:
            self.message = {
                "detail": _("This endpoint declares no scopes for this action, so access is denied."),
                "code": "insufficient_scope",
            }
            return False
        if claims.has_scope(*required, any_of=self.any_of):
            return True
        granted = claims.granted
        missing = [scope for scope in required if scope not in granted]
        request_state(request).add_missing_scopes(missing)
        # Two whole sentences rather than one with a translated "one of"/"all of" in it.
        if self.any_of:
            detail = _("The access token lacks required scopes; it needs one of: %(scopes)s.")
        else:
            detail = _("The access token lacks required scopes; it needs all of: %(scopes)s.")
        self.message = {
            "detail": interpolate(detail, scopes=" ".join(required)),
            "code": INSUFFICIENT_SCOPE,
            "missing_scopes": missing,
        }
        return False

    def refuse_empty_requirement(self, view: Any) -> None:
        """Refuse a request to a view whose scope permission names no scope, and log which view.

        Raised, not returned: ``~HasScope()`` or ``HasScope() | X`` must not turn a permission
        that requires nothing into one that grants everything.
        """
        view_class = type(view)
        logger.warning(
            "auth0_drf: %s on view %s.%s names no scopes, so every request to it is refused: "
            "name the scopes it requires",
            type(self).__name__,
            view_class.__module__,
            view_class.__name__,
        )
        raise PermissionDenied(
            {
                "detail": _("This endpoint declares no scopes for this action, so access is denied."),
                "code": INSUFFICIENT_SCOPE,
            },
            code=INSUFFICIENT_SCOPE,
        )


class HasScope(ScopePermission):
    """Require every scope named: ``HasScope("read:messages", "write:messages")``."""


class HasAnyScope(ScopePermission):
    """Require at least one of the scopes named: ``HasAnyScope("admin", "read:messages")``."""

    any_of = True


class RequiredScopes(ScopePermission):
    """Enforce the view's ``required_scopes`` attribute.

    A list applies to every method. A mapping is keyed by ViewSet action (``list``,
    ``retrieve``, ``create``, custom ``@action`` names...) or by HTTP method (``GET``, ``POST``);
    the action is looked up first. A request whose action and method are both missing from
    the mapping is denied. A view without ``required_scopes``, or one that maps the request to
    no scopes (``[]``), is misconfigured: refused whatever the composition, with a WARNING.
    """

    def get_required_scopes(self, request: Request, view: Any) -> Sequence[str] | None:
        required = getattr(view, "required_scopes", None)
        if required is None:
            return ()  # a view that declares nothing: misconfigured
        if isinstance(required, str):
            return (required,) if required else ()
        if not isinstance(required, Mapping):
            return tuple(required)
        action = getattr(view, "action", None)
        if action is not None and action in required:
            found = required[action]
        else:
            method = (request.method or "").upper()
            found = next((v for k, v in required.items() if k.upper() == method), None)
        if found is None:
            return None
        if isinstance(found, str):
            return (found,) if found else ()
        return tuple(found)


class ReadWriteScopes(ScopePermission):
    """Require ``read:<resource>`` for safe methods and ``write:<resource>`` for the others.

    ``ReadWriteScopes("messages")``, or plain ``ReadWriteScopes`` with ``scope_resource =
    "messages"`` on the view; with neither, the view is misconfigured and every request refused.
    """

    def get_required_scopes(self, request: Request, view: Any) -> Sequence[str] | None:
        resource = self.scopes[0] if self.scopes else getattr(view, "scope_resource", None)
        if not resource:
            return ()  # no resource named: misconfigured
        verb = "read" if request.method in SAFE_METHODS else "write"
        return (f"{verb}:{resource}",)
