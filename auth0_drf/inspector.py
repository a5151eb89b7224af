"""The token inspector: an admin page where staff paste a token and read what ``auth0_inspect`` would say.

The words are ``diagnosis``' and ``explanations``' (one explanation for the 401 body, the
command and this page); this module adds what a browser page needs around them: the API's
configuration the token was checked against, the global claim rules, and which scope
requirements of which DRF views the token's scopes satisfy.

The pasted token is never logged, stored, put in a URL or echoed back: the form is a POST (CSRF
protected, ``sensitive_post_parameters`` so error reports hide it), the page shows only decoded
parts (escaped, labelled unverified when the token was not accepted) and never refills the text
area, and the response carries ``Cache-Control: no-store`` and ``Referrer-Policy: same-origin``.
Only staff holding ``auth0_drf.use_token_inspector`` (superusers do) can open it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.cache import patch_cache_control
from django.utils.decorators import method_decorator
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from .admin_pages import ReadOnlyPageMixin, render_page, require_view_permission, single_page_urls
from .authentication import Auth0Authentication
from .claims import Claims
from .diagnosis import KINDS, Diagnosis, decoded_rows, diagnose
from .errors import Auth0Error
from .permissions import ScopePermission
from .rules import get_claim_rules
from .tokens import TokenVerifier, get_verifier

if TYPE_CHECKING:
    from .models import TokenInspector

    _InspectorAdmin = admin.ModelAdmin[TokenInspector]
else:
    _InspectorAdmin = admin.ModelAdmin

#: The permission that opens the inspector.
PERMISSION = "auth0_drf.use_token_inspector"
#: Pasted text longer than this many times ``MAX_TOKEN_LENGTH`` is not even decoded.
DECODE_LIMIT_FACTOR = 4
#: The most views listed (a large URLconf is cut, and says so).
MAX_VIEWS = 200
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass
class ViewAccess:
    """One scope requirement of one view and method, and whether the token's scopes meet it."""

    route: str
    view: str
    method: str
    permission: str
    required: tuple[str, ...]
    any_of: bool
    missing: tuple[str, ...]

    @property
    def satisfied(self) -> bool:
        return not self.missing if not self.any_of else len(self.missing) < len(self.required)


@dataclass
class Inspection:
    """Everything the inspector page shows about one pasted token."""

    diagnosis: Diagnosis
    kind: str
    header: list[tuple[str, str]] = field(default_factory=list)
    claims: list[tuple[str, str]] = field(default_factory=list)
    configuration: list[tuple[str, str]] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    views: list[ViewAccess] = field(default_factory=list)
    views_cut: bool = False

    @property
    def accepted(self) -> bool:
        """Return whether this API would accept the token (verified, no problem, rules passed)."""
        return self.diagnosis.ok


def describe_configuration(verifier: TokenVerifier) -> list[tuple[str, str]]:
    """Return what tokens are checked against as (label, text): issuers, audiences, algorithms, profile, rules."""
    issuers = list(verifier.issuers.values())
    audiences = sorted({audience for config in issuers for audience in config.audiences})
    rules = [str(rule) for rule in get_claim_rules()]
    # A value of its own in a table cell, not the "none" that errors put into a sentence.
    none = pgettext("no value", "none")
    return [
        (gettext("Trusted issuers"), ", ".join(config.issuer for config in issuers) or none),
        (gettext("Audiences"), ", ".join(audiences) or gettext("none configured")),
        (gettext("Algorithms"), ", ".join(verifier.algorithms) or none),
        (gettext("Token profile"), verifier.profile.name),
        (gettext("Claim rules (CLAIM_RULES)"), ", ".join(rules) or none),
    ]


def check_rules(diagnosis: Diagnosis, claims: Claims) -> None:
    """Add the failures of the global ``CLAIM_RULES`` to ``diagnosis`` (run only on a verified token)."""
    for rule in get_claim_rules():
        try:
            rule.check(claims)
        except Auth0Error as exc:
            diagnosis.add(exc.code, f"{rule}: {exc.message}")


def _patterns(patterns: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def view_access(claims: Claims, limit: int = MAX_VIEWS) -> tuple[list[ViewAccess], bool]:
    """Return the scope requirements of the URLconf's DRF views that use Auth0Authentication, each checked.

    Only permission classes named directly (``HasScope("a")``, ``RequiredScopes``...) can be told;
    compositions (``&``, ``|``) and other permissions are left out. Returns the rows and whether
    the list was cut at ``limit``.
    """
    rows: list[ViewAccess] = []
    granted = claims.granted
    for route, callback in _patterns(get_resolver().url_patterns):
        view_class = getattr(callback, "cls", None)
        if view_class is None or not any(
            isinstance(c, type) and issubclass(c, Auth0Authentication)
            for c in getattr(view_class, "authentication_classes", ())
        ):
            continue
        actions = getattr(callback, "actions", None) or {}
        for permission in getattr(view_class, "permission_classes", ()):
            if not (isinstance(permission, type) and issubclass(permission, ScopePermission)):
                continue
            for method in _METHODS:
                if actions and method.lower() not in actions:
                    continue
                if not actions and not hasattr(view_class, method.lower()):
                    continue
                try:
                    view = view_class()
                    view.action = actions.get(method.lower())
                    # Only the method is read from the request by the scope permissions.
                    request: Any = SimpleNamespace(method=method)
                    required = permission().get_required_scopes(request, view)
                except Exception:  # noqa: BLE001  (a view we cannot instantiate is simply not told)
                    continue
                if not required:
                    continue
                missing = tuple(scope for scope in required if scope not in granted)
                rows.append(
                    ViewAccess(
                        route,
                        view_class.__name__,
                        method,
                        permission.__name__,
                        tuple(required),
                        permission.any_of,
                        missing,
                    )
                )
                if len(rows) >= limit:
                    return rows, True
    return rows, False


@sensitive_variables("token")
def inspect_token(token: str, verifier: TokenVerifier | None = None) -> Inspection:
    """Diagnose ``token`` and gather what the inspector page shows about it."""
    verifier = verifier or get_verifier()
    now = verifier.timer()
    diagnosis = diagnose(token, verifier, now=now)
    inspection = Inspection(diagnosis, KINDS[diagnosis.kind], configuration=describe_configuration(verifier))
    if diagnosis.header is not None:
        inspection.header = decoded_rows(diagnosis.header, now)
    if diagnosis.payload is not None:
        inspection.claims = decoded_rows(diagnosis.payload, now)
        try:
            claims = Claims(dict(diagnosis.payload), header=diagnosis.header)
            inspection.scopes = sorted(claims.granted)
            if diagnosis.ok:
                check_rules(diagnosis, claims)
            inspection.views, inspection.views_cut = view_access(claims)
        except Auth0Error as exc:  # claims whose shape Claims refuses (a scope that is not a string...)
            diagnosis.add(exc.code, exc.message)
    return inspection


def can_inspect(request: HttpRequest) -> bool:
    """Return whether the request's user may use the token inspector."""
    return bool(request.user.is_active and request.user.is_staff and request.user.has_perm(PERMISSION))


class TokenInspectorAdmin(ReadOnlyPageMixin, _InspectorAdmin):
    """The admin entry *Token inspector*: one page, a POST form, nothing stored (``TokenInspector`` has no table)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_inspect(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_inspect(request)

    def get_urls(self) -> list[URLPattern]:
        # Only the inspector: the model has no table, so none of the default pages may exist.
        return single_page_urls(self, self.inspector_view)

    @method_decorator(sensitive_post_parameters("token"))
    def inspector_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the empty form. POST: the form again (empty) with everything said about the pasted token."""
        require_view_permission(self, request)  # has_view_permission() is can_inspect()
        context = self.inspect(request.POST.get("token", "")) if request.method == "POST" else {}
        response = render_page(
            self, request, "admin/auth0_drf/tokeninspector/inspect.html", _("Token inspector"), context
        )
        patch_cache_control(response, no_store=True, no_cache=True, private=True, max_age=0)
        # Not "no-referrer": browsers then send "Origin: null" with the form, which Django's CSRF
        # check refuses. same-origin sends nothing to other sites (and the URL holds no token).
        response["Referrer-Policy"] = "same-origin"
        return response

    @sensitive_variables("token")
    def inspect(self, token: str) -> dict[str, Any]:
        """Return the template context for a pasted ``token``: an ``inspection``, or an ``error`` message."""
        verifier = get_verifier()
        if not token.strip():
            return {"error": gettext("Paste an access token into the box to inspect it.")}
        if len(token) > verifier.max_length * DECODE_LIMIT_FACTOR:
            return {
                "error": gettext(
                    "The pasted text is %(length)d characters long; this API refuses tokens longer than "
                    "%(limit)d characters (AUTH0_DRF['MAX_TOKEN_LENGTH']), so it was not decoded."
                )
                % {"length": len(token), "limit": verifier.max_length}
            }
        try:
            return {"inspection": inspect_token(token, verifier)}
        except Exception as exc:  # noqa: BLE001  (a page for odd input: never a 500; the text is not shown)
            return {
                "error": gettext("The pasted text could not be inspected (%(error)s).") % {"error": type(exc).__name__}
            }


#: Re-exported for the admin module's docstring and for projects registering on another site.
__all__ = ["PERMISSION", "Inspection", "TokenInspectorAdmin", "ViewAccess", "inspect_token", "view_access"]
