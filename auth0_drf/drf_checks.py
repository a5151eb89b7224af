"""System checks of how DRF is set up to use auth0_drf: our authentication class, first, our handler, our throttles.

W001 to W003 and E020 in the id table of ``auth0_drf.checks``, which imports this module so that
these checks are registered with its own.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.urls import get_resolver
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from rest_framework.throttling import SimpleRateThrottle

from .authentication import Auth0Authentication
from .throttling import TokenRateThrottle, rate_problem

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


def _throttle_rates(cls: type[TokenRateThrottle], rest: dict[str, Any]) -> dict[str, Any]:
    """Return the rates ``cls`` reads: its own ``THROTTLE_RATES``, else those of the settings (as at request time)."""
    own = cls.THROTTLE_RATES
    if own is not SimpleRateThrottle.THROTTLE_RATES:
        return dict(own)
    rates = rest.get("DEFAULT_THROTTLE_RATES")
    return rates if isinstance(rates, dict) else {}


@register("auth0_drf")
def check_throttle_rates(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Check that each of our throttles in use has a rate, and a well-formed one (E020).

    DRF looks the rate up when it makes the throttle, on every request: a missing or malformed
    one would be a 500 for every request of the views it throttles.
    """
    rest = getattr(settings, "REST_FRAMEWORK", {}) or {}
    errors: list[Error] = []
    for cls, where in _throttles_in_use(rest):
        name = f"{cls.__module__}.{cls.__qualname__}"
        rate = getattr(cls, "rate", None)
        setting = _("its rate attribute")
        if rate is None:
            if not cls.scope:
                errors.append(
                    Error(
                        _("The throttle %(name)s (%(where)s) has neither a scope nor a rate.")
                        % {"name": name, "where": where},
                        hint=_("Set scope (and its rate in REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']) or rate on it."),
                        id="auth0_drf.E020",
                    )
                )
                continue
            rates = _throttle_rates(cls, rest)
            setting = f"REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'][{cls.scope!r}]"
            if cls.scope not in rates:
                errors.append(
                    Error(
                        _("The throttle %(name)s (%(where)s) has no rate: %(setting)s is not set.")
                        % {"name": name, "where": where, "setting": setting},
                        hint=_(
                            "Set %(setting)s to a rate such as '100/min' (or None for no limit); DRF would answer "
                            "every request it throttles with a 500."
                        )
                        % {"setting": setting},
                        id="auth0_drf.E020",
                    )
                )
                continue
            rate = rates[cls.scope]
        problem = rate_problem(rate)
        if problem is not None:
            errors.append(
                Error(
                    _("The rate of the throttle %(name)s (%(where)s), %(setting)s, %(problem)s.")
                    % {"name": name, "where": where, "setting": setting, "problem": problem},
                    hint=_("Write it as DRF does: '100/min', '10/s', '1000/hour', '5000/day' (or None for no limit)."),
                    id="auth0_drf.E020",
                )
            )
    return errors


def _throttles_in_use(rest: dict[str, Any]) -> list[tuple[type[TokenRateThrottle], str]]:
    """Return each of our throttle classes named in DEFAULT_THROTTLE_CLASSES or by a view, once, with where."""
    found: dict[type[TokenRateThrottle], str] = {}

    def add(candidate: Any, where: str) -> None:
        if isinstance(candidate, str):
            try:
                candidate = import_string(candidate)
            except ImportError:  # DRF reports a bad path itself, on first use
                return
        if isinstance(candidate, type) and issubclass(candidate, TokenRateThrottle) and candidate not in found:
            found[candidate] = where

    for candidate in rest.get("DEFAULT_THROTTLE_CLASSES", ()) or ():
        add(candidate, _("in REST_FRAMEWORK['DEFAULT_THROTTLE_CLASSES']"))
    for view in _view_classes():
        for candidate in getattr(view, "throttle_classes", ()) or ():
            # __name__: api_view gives its class the function's name (its qualname is DRF's).
            add(candidate, _("on view %(view)s") % {"view": f"{view.__module__}.{view.__name__}"})
    return list(found.items())


def _view_classes() -> list[type]:
    """Return the class of every view in the URLconf that has one (DRF views, viewsets, function views)."""
    views: list[type] = []

    def walk(patterns: Any) -> None:
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
                continue
            view = getattr(pattern, "callback", None)
            cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
            if isinstance(cls, type):
                views.append(cls)

    try:
        walk(get_resolver().url_patterns)
    except Exception:  # a broken URLconf is reported by Django's own checks
        return []
    return views
