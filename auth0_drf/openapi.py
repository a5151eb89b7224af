"""OpenAPI (drf-spectacular): Auth0's security scheme and each operation's required scopes.

Loaded by ``AppConfig.ready()`` only when drf-spectacular is installed (``pip install
auth0-drf[openapi]``); nothing else in auth0_drf imports it. Views authenticated by
``Auth0Authentication`` get the ``auth0`` security scheme, of the type ``AUTH0_DRF["OPENAPI_SCHEME"]`` names:

- ``"bearer"`` (the default): HTTP bearer, format JWT. Swagger UI asks for a token to paste. OpenAPI 3.0 allows
  scopes only on ``oauth2`` and ``openIdConnect`` schemes, so each security requirement's scope list is empty;
  the ``describe_scopes`` hook writes the scopes into the operations' descriptions instead.
- ``"oauth2"``: Auth0's authorization code flow (``{ISSUER}authorize?audience=...`` and ``{ISSUER}oauth/token``),
  with every scope any operation checks in its ``scopes`` map. Swagger UI logs in and obtains a token.
- ``"openIdConnect"``: ``{ISSUER}.well-known/openid-configuration``, from which Swagger UI reads the endpoints.

In the last two, the scopes that ``HasScope``, ``HasAnyScope``, ``RequiredScopes`` and ``ReadWriteScopes``
demand for each operation become the scopes of its security requirement (alternatives, for "any of", become
alternative requirements). With several issuers, the scheme describes the first (``auth0_settings.issuers[0]``:
the top-level ``ISSUER``/``DOMAIN``, else the first ``ISSUERS`` entry) and its first audience. Add
``auth0_drf.openapi.describe_scopes`` to ``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]`` to also write each
operation's scopes into its description (in every mode). ``SwaggerUIOAuth2RedirectView`` serves the page
Swagger UI's login returns to.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from weakref import WeakKeyDictionary

from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import ComponentRegistry, build_bearer_security_scheme_object
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.views import SpectacularSwaggerOauthRedirectView
from rest_framework import permissions as drf_permissions

from .conf import IssuerConfig, auth0_settings
from .permissions import ScopePermission

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema

SCHEME_NAME = "auth0"

#: A security requirement: scheme name to the scopes it needs (OpenAPI's Security Requirement Object).
Requirement = dict[str, list[str]]

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
        required = _required_scopes(permission, view, method)
        if required is None:
            return []
        if permission.any_of:
            return [frozenset({scope}) for scope in required]
        return [frozenset(required)]
    if isinstance(permission, (drf_permissions.AND, drf_permissions.OR)):
        # getattr: DRF's type stubs do not declare the operands.
        left = scope_alternatives(getattr(permission, "op1"), view, method)  # noqa: B009
        right = scope_alternatives(getattr(permission, "op2"), view, method)  # noqa: B009
        if isinstance(permission, drf_permissions.OR):
            return _unique(left + right)
        return _unique([a | b for a, b in product(left, right)])
    return [frozenset()]


def _required_scopes(permission: ScopePermission, view: Any, method: str) -> Sequence[str] | None:
    # get_required_scopes reads only request.method (and the view): a stand-in suffices.
    stand_in: Any = SimpleNamespace(method=method.upper())
    return permission.get_required_scopes(stand_in, view)


def names_no_scopes(permission: Any, view: Any, method: str) -> bool:
    """Return whether ``permission`` holds a scope permission naming no scopes (anywhere under ``&``, ``|``, ``~``)."""
    if isinstance(permission, ScopePermission):
        required = _required_scopes(permission, view, method)
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


@dataclass
class _SchemaState:
    """What one schema generation has learnt so far, for the parts of the schema no single operation sees.

    ``requirements`` holds each operation's scope alternatives, for ``describe_scopes``, which cannot read them
    from a bearer scheme's empty lists. They are found by the identity of the requirement objects placed in the
    operation (kept here, so that identity stays unique): ``operationId`` and path are no keys, as
    drf-spectacular still changes them after the postprocessing hooks (duplicate ids, path prefixes).
    ``scopes`` is the oauth2 flow's scope map. The security scheme is registered once, from the first
    operation, so that map is one dict shared by every definition the extension returns, filled in as each
    further operation is described.
    """

    requirements: dict[int, tuple[Requirement, list[Alternative]]] = field(default_factory=dict)
    scopes: dict[str, str] = field(default_factory=dict)
    used_by: dict[str, list[str]] = field(default_factory=dict)


# One state per schema generation: drf-spectacular gives each generator its own component registry.
_states: WeakKeyDictionary[ComponentRegistry, _SchemaState] = WeakKeyDictionary()
_states_lock = threading.Lock()


def _state(registry: ComponentRegistry) -> _SchemaState:
    with _states_lock:
        state = _states.get(registry)
        if state is None:
            state = _states[registry] = _SchemaState()
        return state


def openapi_scheme() -> str:
    """Return ``AUTH0_DRF["OPENAPI_SCHEME"]``; a value it does not allow (check E007) means ``"bearer"``."""
    scheme: str = auth0_settings.OPENAPI_SCHEME
    return scheme if scheme in ("oauth2", "openIdConnect") else "bearer"


def described_issuer() -> tuple[str, str]:
    """Return the issuer and the audience the scheme describes: the first issuer, and its first audience.

    Tokens of every other issuer and audience are still accepted; a schema has room for one login.
    Placeholders stand in when nothing is configured (the system checks report that, E001 and E002).
    """
    issuers: tuple[IssuerConfig, ...] = auth0_settings.issuers
    issuer = issuers[0].issuer if issuers else "https://YOUR_AUTH0_DOMAIN/"
    audiences = issuers[0].audiences if issuers else ()
    return issuer, audiences[0] if audiences else "YOUR_API_IDENTIFIER"


def authorization_url(issuer: str, audience: str) -> str:
    """Return Auth0's ``/authorize`` URL for ``issuer``, asking for tokens for ``audience``.

    Without ``audience``, Auth0 issues a token only good for its own ``/userinfo`` (opaque or encrypted,
    never verifiable here), so it is part of the URL, which any OpenAPI client then sends as it is.
    ``SPECTACULAR_SETTINGS["OAUTH2_AUTHORIZATION_URL"]`` replaces it (for another provider).
    """
    configured: str | None = spectacular_settings.OAUTH2_AUTHORIZATION_URL
    return configured or f"{issuer.rstrip('/')}/authorize?{urlencode({'audience': audience})}"


def token_url(issuer: str) -> str:
    """Return Auth0's ``/oauth/token`` URL for ``issuer`` (or ``SPECTACULAR_SETTINGS["OAUTH2_TOKEN_URL"]``)."""
    configured: str | None = spectacular_settings.OAUTH2_TOKEN_URL
    return configured or f"{issuer.rstrip('/')}/oauth/token"


def discovery_url(issuer: str) -> str:
    """Return the issuer's OpenID discovery document, ``{ISSUER}.well-known/openid-configuration``."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _scope_descriptions() -> dict[str, str]:
    # drf-spectacular's own setting for an oauth2 scheme's scope map: descriptions, and scopes no view checks
    # (e.g. "openid") that Swagger UI should offer too.
    configured = spectacular_settings.OAUTH2_SCOPES
    return {str(k): str(v) for k, v in configured.items()} if isinstance(configured, dict) else {}


# drf-spectacular is untyped: its extension registry's __init_subclass__ is an untyped call.
class Auth0AuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Describe ``Auth0Authentication`` (and subclasses) as the scheme ``OPENAPI_SCHEME`` names, with scopes."""

    target_class = "auth0_drf.authentication.Auth0Authentication"
    match_subclasses = True
    name = SCHEME_NAME

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        """Return the ``auth0`` Security Scheme Object: http bearer, oauth2 or openIdConnect."""
        issuer, audience = described_issuer()
        scheme = openapi_scheme()
        if scheme == "oauth2":
            flow: dict[str, Any] = {
                "authorizationUrl": authorization_url(issuer, audience),
                "tokenUrl": token_url(issuer),
            }
            if spectacular_settings.OAUTH2_REFRESH_URL:
                flow["refreshUrl"] = spectacular_settings.OAUTH2_REFRESH_URL
            flow["scopes"] = _state(auto_schema.registry).scopes
            return {
                "type": "oauth2",
                "description": f"Log in with Auth0 (authorization code flow) for a token with audience={audience}. "
                "Operations list the scopes (or RBAC permissions) they need.",
                "flows": {"authorizationCode": flow},
            }
        if scheme == "openIdConnect":
            return {
                "type": "openIdConnect",
                "openIdConnectUrl": discovery_url(issuer),
                "description": f"Log in with the issuer {issuer}; Auth0 needs audience={audience} in the "
                "authorization request. Operations list the scopes (or RBAC permissions) they need.",
            }
        definition: dict[str, Any] = build_bearer_security_scheme_object(
            header_name="HTTP_AUTHORIZATION", token_prefix="Bearer", bearer_format="JWT"
        )
        definition["description"] = (
            f"An Auth0 access token (a JWT), requested with audience={audience}, sent as "
            "'Authorization: Bearer <token>'."
        )
        if describe_scopes in spectacular_settings.POSTPROCESSING_HOOKS:
            definition["description"] += " Operations' descriptions name the scopes (or RBAC permissions) they need."
        return definition

    def get_security_requirement(self, auto_schema: AutoSchema) -> list[Requirement]:
        """Return the operation's requirements: one per scope alternative (oauth2, openIdConnect), or one empty."""
        alternatives = view_scope_alternatives(auto_schema.view, auto_schema.method) or [frozenset()]
        if openapi_scheme() == "bearer":
            # OpenAPI 3.0: "For other security scheme types, the array MUST be empty."
            requirements: list[Requirement] = [{SCHEME_NAME: []}]
        else:
            requirements = [{SCHEME_NAME: sorted(alternative)} for alternative in alternatives]
        self._record(auto_schema, alternatives, requirements)
        return requirements

    @staticmethod
    def _record(auto_schema: AutoSchema, alternatives: list[Alternative], requirements: list[Requirement]) -> None:
        state = _state(auto_schema.registry)
        for requirement in requirements:
            state.requirements[id(requirement)] = (requirement, alternatives)
        descriptions = _scope_descriptions()
        operation = f"{auto_schema.method} {auto_schema.path}"
        for scope in sorted(set().union(*alternatives)):
            users = state.used_by.setdefault(scope, [])
            if operation not in users:
                users.append(operation)
        scopes = {scope: _used_by(ops) for scope, ops in state.used_by.items()}
        scopes.update(descriptions)
        # Updated in place: the registered scheme holds this very dict.
        state.scopes.clear()
        state.scopes.update(sorted(scopes.items()))


def _used_by(operations: list[str], shown: int = 5) -> str:
    # A default description of a scope: where it is checked (the first few places, in a large API).
    more = f" and {len(operations) - shown} more" if len(operations) > shown else ""
    return f"Used by {', '.join(operations[:shown])}{more}."


def required_scopes(operation: dict[str, Any], generator: Any = None) -> list[list[str]]:
    """Return the scope alternatives an operation of a generated schema needs (``[]``: no scope is needed).

    Read from what the extension recorded while ``generator`` ran (the only place a bearer scheme keeps
    them), else from the operation's ``auth0`` security requirements.
    """
    registry = getattr(generator, "registry", None)
    state = _states.get(registry) if isinstance(registry, ComponentRegistry) else None
    requirements = [req for req in operation.get("security", []) if isinstance(req, dict) and SCHEME_NAME in req]
    recorded = [state.requirements.get(id(req), (None, None))[1] for req in requirements] if state else []
    found = next((alternatives for alternatives in recorded if alternatives is not None), None)
    if found is not None:
        choices = [sorted(alternative) for alternative in found]
    else:
        # Not from this generator run (or copied by an earlier hook): the scope lists say it (not in bearer mode).
        choices = [list(req[SCHEME_NAME]) for req in requirements]
    # One alternative without scopes (a token alone will do) means no scope is required.
    return [] if not choices or not all(choices) else choices


def describe_scopes(
    result: dict[str, Any], generator: Any = None, request: Any = None, public: Any = None
) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook: append each operation's required scopes to its description."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            choices = required_scopes(operation, generator)
            if not choices:
                continue
            wording = "; or ".join(" and ".join(f"`{scope}`" for scope in scopes) for scopes in choices)
            note = f"Required scopes: {wording}."
            operation["description"] = f"{operation['description']}\n\n{note}" if operation.get("description") else note
    return result


class SwaggerUIOAuth2RedirectView(SpectacularSwaggerOauthRedirectView):
    """drf-spectacular's redirect to Swagger UI's ``oauth2-redirect.html`` (drf-spectacular-sidecar), fixed for logins.

    Route it at ``oauth2-redirect.html`` beside the Swagger UI page. The login popup comes back to it from
    the authorization server, another origin; with Django's default ``Cross-Origin-Opener-Policy:
    same-origin`` on this redirect, the browser would cut the popup off from Swagger UI (``window.opener``
    is null) and the login would never finish. Like drf-spectacular's Swagger UI view, it answers with
    ``unsafe-none``.
    """

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Redirect to the static ``oauth2-redirect.html``, keeping the query string (the code and state)."""
        response: HttpResponseBase = super().get(request, *args, **kwargs)
        response["Cross-Origin-Opener-Policy"] = "unsafe-none"
        return response
