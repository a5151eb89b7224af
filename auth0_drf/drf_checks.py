"""System checks of how DRF is set up to use auth0_drf: our authentication class, first, and our exception handler.

W001 to W003 in the id table of ``auth0_drf.checks``, which imports this module so that these
checks are registered with its own.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register
from django.urls import get_resolver
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .authentication import Auth0Authentication

AUTH_CLASS = "auth0_drf.authentication.Auth0Authentication"
HANDLER = "auth0_drf.exceptions.exception_handler"


@register("auth0_drf")
def check_rest_framework(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Check that DRF uses our authentication class, first, and our exception handler."""
    rest = getattr(settings, "REST_FRAMEWORK", {}) or {}
    ours = [_is_ours(c) for c in rest.get("DEFAULT_AUTHENTICATION_CLASSES", ())]
    warnings: list[Warning] = []
    if any(ours):
        if not ours[0]:
            warnings.append(
                Warning(
                    _("%(class)s is not the first of REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'].")
                    % {"class": AUTH_CLASS},
                    hint=_(
                        "DRF takes the WWW-Authenticate challenge of a 401 from the first class only; list ours first."
                    ),
                    id="auth0_drf.W002",
                )
            )
    elif not _used_by_any_view():
        warnings.append(
            Warning(
                _("%(class)s is not in REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'] and no view uses it.")
                % {"class": AUTH_CLASS},
                hint=_("Add it (first) to DEFAULT_AUTHENTICATION_CLASSES, or to a view's authentication_classes."),
                id="auth0_drf.W001",
            )
        )
    if (
        rest.get("EXCEPTION_HANDLER", "rest_framework.views.exception_handler")
        == "rest_framework.views.exception_handler"
    ):
        warnings.append(
            Warning(
                _(
                    "REST_FRAMEWORK['EXCEPTION_HANDLER'] is DRF's default, "
                    "so scope failures get no insufficient_scope challenge."
                ),
                hint=_(
                    "Set it to '%(handler)s', or call auth0_drf.exceptions.add_scope_challenge() from your own handler."
                )
                % {"handler": HANDLER},
                id="auth0_drf.W003",
            )
        )
    return warnings


def _is_ours(cls: Any) -> bool:
    """Return whether a class (or dotted path) is ``Auth0Authentication`` or a subclass of it."""
    if isinstance(cls, str):
        if cls == AUTH_CLASS:
            return True
        try:
            cls = import_string(cls)
        except ImportError:  # DRF reports a bad path itself, on first use
            return False
    return isinstance(cls, type) and issubclass(cls, Auth0Authentication)


def _used_by_any_view() -> bool:
    def walk(patterns: Any) -> bool:
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                if walk(pattern.url_patterns):
                    return True
                continue
            view = getattr(pattern, "callback", None)
            cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
            classes = getattr(cls, "authentication_classes", ()) or ()
            if any(isinstance(c, type) and issubclass(c, Auth0Authentication) for c in classes):
                return True
        return False

    try:
        return walk(get_resolver().url_patterns)
    except Exception:  # a broken URLconf is reported by Django's own checks
        return True
