"""OpenAPI (drf-spectacular): the bearer JWT security scheme and each operation's required scopes.

Loaded by ``AppConfig.ready()`` only when drf-spectacular is installed (``pip install
auth0-drf[openapi]``); nothing else in auth0_drf imports it. Views authenticated by
``Auth0Authentication`` get the ``auth0`` security scheme (``Authorization: Bearer <JWT>``), and
the scopes that ``HasScope``, ``HasAnyScope``, ``RequiredScopes`` and ``ReadWriteScopes`` demand
for each operation become the scopes of its security requirement (alternatives, for "any of",
become alternative requirements). Add ``auth0_drf.openapi.describe_scopes`` to
``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]`` to also write them into each description.
"""

from __future__ import annotations

from itertools import product
from types import SimpleNamespace
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import permissions as drf_permissions

from .conf import auth0_settings
from .permissions import ScopePermission

SCHEME_NAME = "auth0"

#: One way to satisfy a view's permissions: the scopes it needs (empty: none).
Alternative = frozenset[str]


def scope_alternatives(permission: Any, view: Any, method: str) -> list[Alternative]:
    """Return the scope sets, any one of which satisfies ``permission`` for ``method``.

    ``[frozenset()]`` means no scope is needed; ``[]`` means nothing satisfies it (a scope
    permission that declares no scopes for this action denies; one that names no scopes at
    all refuses the request whatever it is composed with). DRF's ``&`` and ``|`` are
    followed; a ``~`` cannot be expressed as required scopes and is treated as needing none.
    """
    if names_no_scopes(permission, view, method):
        return []
    if isinstance(permission, ScopePermission):
        # get_required_scopes reads only request.method (and the view): a stand-in suffices.
        required = permission.get_required_scopes(SimpleNamespace(method=method.upper()), view)  # type: ignore[arg-type]
        if required is None:
            return []
        if permission.any_of:
            return [frozenset({scope}) for scope in required]
        return [frozenset(required)]
    if isinstance(permission, (drf_permissions.AND, drf_permissions.OR)):
        left = scope_alternatives(getattr(permission, "op1"), view, method)
        right = scope_alternatives(getattr(permission, "op2"), view, method)
        if isinstance(permission, drf_permissions.OR):
            return _unique(left + right)
        return _unique([a | b for a, b in product(left, right)])
    return [frozenset()]


def names_no_scopes(permission: Any, view: Any, method: str) -> bool:
    """Return whether ``permission`` holds a scope permission that names no scopes (anywhere under ``&``, ``|``, ``~``)."""
    if isinstance(permission, ScopePermission):
        required = permission.get_required_scopes(SimpleNamespace(method=method.upper()), view)  # type: ignore[arg-type]
        return required is not None and not required
    if isinstance(permission, (drf_permissions.AND, drf_permissions.OR, drf_permissions.NOT)):
        operands = [getattr(permission, name) for name in ("op1", "op2") if hasattr(permission, name)]
        return any(names_no_scopes(operand, view, method) for operand in operands)
    return False


def view_scope_alternatives(view: Any, method: str) -> list[Alternative]:
    """Return the scope alternatives of all of a view's permissions (which must all pass)."""
    alternatives: list[Alternative] = [frozenset()]
    for permission in view.get_permissions():
        alternatives = _unique([a | b for a, b in product(alternatives, scope_alternatives(permission, view, method))])
    return alternatives


def _unique(alternatives: list[Alternative]) -> list[Alternative]:
    seen: list[Alternative] = []
    for alternative in alternatives:
        if alternative not in seen:
            seen.append(alternative)
    return seen


class Auth0AuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[misc]
    """Describe ``Auth0Authentication`` (and subclasses) as a bearer JWT scheme with scopes."""

    target_class = "auth0_drf.authentication.Auth0Authentication"
    match_subclasses = True
    name = SCHEME_NAME

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        definition = build_bearer_security_scheme_object(
            header_name="HTTP_AUTHORIZATION", token_prefix="Bearer", bearer_format="JWT"
        )
        audiences = [a for config in auth0_settings.issuers for a in config.audiences]
        audience = audiences[0] if audiences else "<your API identifier>"
        definition["description"] = (
            f"An Auth0 access token (a JWT), requested with audience={audience}, sent as "
            "'Authorization: Bearer <token>'. Operations list the scopes (or RBAC permissions) they need."
        )
        return definition

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[str]]]:
        alternatives = view_scope_alternatives(auto_schema.view, auto_schema.method) or [frozenset()]
        return [{SCHEME_NAME: sorted(alternative)} for alternative in alternatives]


def describe_scopes(result: dict[str, Any], generator: Any = None, request: Any = None, public: Any = None) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook: append each operation's required scopes to its description."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            choices = [req[SCHEME_NAME] for req in operation.get("security", []) if req.get(SCHEME_NAME)]
            if not choices:
                continue
            wording = "; or ".join(" and ".join(f"`{scope}`" for scope in scopes) for scopes in choices)
            note = f"Required scopes: {wording}."
            operation["description"] = f"{operation['description']}\n\n{note}" if operation.get("description") else note
    return result
