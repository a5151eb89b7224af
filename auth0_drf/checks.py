"""System checks: misconfiguration is reported at startup, naming the setting to fix.

=========  ===============================================================================
id         meaning
=========  ===============================================================================
E001       no issuer: neither ``DOMAIN``, ``ISSUER`` nor ``ISSUERS`` is set
E002       no ``AUDIENCE`` for an issuer
E003       ``DOMAIN`` has a scheme, a path or a port (it must be a bare host name)
E004       an Auth0 ``ISSUER`` without its trailing ``/`` (tokens say ``https://x.auth0.com/``)
E005       an ``http://`` issuer or JWKS URI that is not loopback
E006       ``ALGORITHMS`` empty, or containing ``none``, an HMAC or an unsupported algorithm
E007       a setting with a value of the wrong type or outside its choices
E008       an unknown key in ``AUTH0_DRF`` (a typo would otherwise be silently ignored)
E010       ``DEV_ISSUER`` enabled with ``DEBUG`` off
E011       a ``CLAIM_RULES`` entry that is not a claim rule (or cannot be imported)
E012       ``DPOP_REPLAY_CACHE`` names a cache alias that is not in ``CACHES``
E013       ``DPOP_ALGORITHMS`` empty, or containing ``none``, an HMAC or an unsupported algorithm
E014       an ``ISSUERS`` entry that is not a dict with ``ISSUER`` or ``DOMAIN``, or has unknown keys
E015       ``JWKS_SHARED_CACHE`` names a cache alias that is not in ``CACHES``
E016       ``USER_BACKEND`` cannot be imported
E017       ``USER_FIELDS``, ``USER_FLAGS`` or ``GROUPS_CLAIM`` names a field the user model lacks
E018       ``USER_FIELDS``/``USER_FLAGS`` maps the key, the username, the password, or a non-boolean flag
E020       a throttle of ``auth0_drf.throttling`` in use whose rate is missing or malformed
W001       ``Auth0Authentication`` is used by no view and not in ``DEFAULT_AUTHENTICATION_CLASSES``
W002       ``Auth0Authentication`` is not first in ``DEFAULT_AUTHENTICATION_CLASSES``
W003       ``EXCEPTION_HANDLER`` does not add the ``insufficient_scope`` challenge
W004       ``OPENAPI_SCHEME`` is ``oauth2`` or ``openIdConnect`` with the development issuer (it cannot log in)
W005       ``DPOP`` on with no ``DPOP_REPLAY_CACHE`` shared by all workers (none, LocMemCache, DummyCache)
W006       ``USER_FLAGS`` maps ``is_superuser``: whoever controls the claim controls every permission
=========  ===============================================================================

Ids are never reused. No check touches the network: startup works while the issuer is down.
This module checks the ``AUTH0_DRF`` settings; W001 to W003 and E020, how DRF is set up to use
auth0_drf, are in ``drf_checks``, registered with these (importing this module registers both).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import models
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .conf import SETTINGS, Setting, auth0_settings, derive_issuer
from .drf_checks import AUTH_CLASS, HANDLER, check_rest_framework, check_throttle_rates
from .fetch import is_fetchable_url
from .i18n import gettext_noop
from .jwks import SUPPORTED_ALGORITHMS
from .rules import load_rule
from .usersync import user_model_field

__all__ = ["AUTH_CLASS", "HANDLER", "check_rest_framework", "check_settings", "check_throttle_rates"]


def _setting(name: str) -> str:
    return f"AUTH0_DRF['{name}']"


@register(Tags.security, "auth0_drf")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the ``AUTH0_DRF`` dict."""
    errors: list[CheckMessage] = []
    user: object = auth0_settings.user_settings
    if not isinstance(user, dict):
        hint = _("Set AUTH0_DRF = {'DOMAIN': ..., 'AUDIENCE': ...}.")
        return [Error(_("AUTH0_DRF must be a dict."), hint=hint, id="auth0_drf.E007")]
    for name in sorted(set(user) - set(SETTINGS)):
        errors.append(
            Error(
                _("%(setting)s is not a setting auth0_drf knows.") % {"setting": _setting(name)},
                hint=_("Remove %(setting)s or correct its spelling (see the settings page, docs/settings.md).")
                % {"setting": _setting(name)},
                id="auth0_drf.E008",
            )
        )
    wrong = [s for s in SETTINGS.values() if not s.kind.accepts(getattr(auth0_settings, s.name))]
    errors += [_wrong_type(s) for s in wrong]
    wrong_names = {s.name for s in wrong}
    for check, reads in _CHECKS:
        # A check of what a value means runs only on values of the right type, so it never meets
        # one it cannot handle: E007 above has reported the others.
        if not wrong_names & reads:
            errors += check()
    return errors


def _wrong_type(setting: Setting[Any]) -> Error:
    """Return the E007 error for a setting whose value its kind does not accept."""
    name = _setting(setting.name)
    return Error(
        _("%(setting)s %(problem)s.") % {"setting": name, "problem": setting.kind.translated_problem()},
        hint=setting.kind.translated_hint().format(setting=name, default=setting.default),
        id="auth0_drf.E007",
    )


def _check_issuers() -> list[Error]:
    return _check_issuer_entries() or _check_trusted_issuers()


def _check_trusted_issuers() -> list[Error]:
    errors: list[Error] = []
    domain = auth0_settings.DOMAIN
    if domain:
        parts = urlsplit(f"//{domain}")
        if "://" in domain or "/" in domain or not parts.hostname or parts.hostname != domain.lower():
            errors.append(
                Error(
                    _("%(setting)s must be a bare host name such as 'example.eu.auth0.com'.")
                    % {"setting": _setting("DOMAIN")},
                    hint=_(
                        "Set %(setting)s to the host name alone: remove the scheme (https://), any path or "
                        "trailing slash, and any port."
                    )
                    % {"setting": _setting("DOMAIN")},
                    id="auth0_drf.E003",
                )
            )
            return errors
    issuers = auth0_settings.issuers
    if not issuers:
        return [
            Error(
                _("auth0_drf has no issuer to trust."),
                hint=_(
                    "Set AUTH0_DRF['DOMAIN'] to your Auth0 domain (or AUTH0_DRF['ISSUER'], or AUTH0_DRF['ISSUERS'])."
                ),
                id="auth0_drf.E001",
            )
        ]
    for config in issuers:
        where = _setting_of(config.issuer)
        if not config.audiences:
            errors.append(
                Error(
                    _("No AUDIENCE is configured for issuer %(issuer)s.") % {"issuer": config.issuer},
                    hint=_("Set %(setting)s to your API identifier (Auth0 dashboard > Applications > APIs).")
                    % {"setting": where("AUDIENCE")},
                    id="auth0_drf.E002",
                )
            )
        host = urlsplit(config.issuer).hostname or ""
        if host.endswith(".auth0.com") and not config.issuer.endswith("/"):
            errors.append(
                Error(
                    _("The issuer %(issuer)s lacks the trailing '/' that Auth0 puts in 'iss'.")
                    % {"issuer": config.issuer},
                    hint=_("Set %(setting)s to '%(issuer)s/' (or leave it unset to derive it from DOMAIN).")
                    % {"setting": where("ISSUER"), "issuer": config.issuer},
                    id="auth0_drf.E004",
                )
            )
        for what, url in (("ISSUER", config.issuer), ("JWKS_URI", config.jwks_uri)):
            if url and not is_fetchable_url(url):
                errors.append(
                    Error(
                        _("%(setting)s %(url)s is not an https:// URL.") % {"setting": where(what), "url": repr(url)},
                        hint=_(
                            "Set %(setting)s to an https:// URL: keys must be fetched over HTTPS (plain http:// is "
                            "allowed only for loopback hosts, in local tests)."
                        )
                        % {"setting": where(what)},
                        id="auth0_drf.E005",
                    )
                )
    return errors


def _setting_of(issuer: str) -> Callable[[str], str]:
    """Return a function naming a setting where it is set for ``issuer``: top level or an ``ISSUERS`` entry."""
    for index, entry in enumerate(auth0_settings.ISSUERS or []):
        if derive_issuer(entry.get("ISSUER"), entry.get("DOMAIN")) == issuer:
            return lambda name: f"AUTH0_DRF['ISSUERS'][{index}]['{name}']"
    return _setting


def _check_algorithms() -> list[Error]:
    algorithms = auth0_settings.ALGORITHMS
    if not algorithms:
        return [
            Error(
                _("%(setting)s must be a non-empty list, e.g. ['RS256'].") % {"setting": _setting("ALGORITHMS")},
                hint=_("Set %(setting)s to the algorithm of your Auth0 API, normally ['RS256'].")
                % {"setting": _setting("ALGORITHMS")},
                id="auth0_drf.E006",
            )
        ]
    bad = [alg for alg in algorithms if alg not in SUPPORTED_ALGORITHMS]
    if bad:
        return [
            Error(
                _("%(setting)s contains %(algorithms)s, which auth0_drf never accepts.")
                % {"setting": _setting("ALGORITHMS"), "algorithms": ", ".join(map(str, bad))},
                hint=_(
                    "Set %(setting)s to asymmetric algorithms only (RS256, the Auth0 default; PS256; "
                    "ES256; EdDSA). 'none' and HMAC (HS*) would let anyone holding the public key forge tokens."
                )
                % {"setting": _setting("ALGORITHMS")},
                id="auth0_drf.E006",
            )
        ]
    return []


_ISSUER_KEYS = frozenset({"ISSUER", "DOMAIN", "AUDIENCE", "JWKS_URI", "DISCOVERY"})


def _check_issuer_entries() -> list[Error]:
    errors = []
    for index, entry in enumerate(auth0_settings.ISSUERS):
        if not isinstance(entry, dict) or not (entry.get("ISSUER") or entry.get("DOMAIN")):
            errors.append(
                Error(
                    _("%(setting)s[%(index)s] must be a dict with an 'ISSUER' or a 'DOMAIN'.")
                    % {"setting": _setting("ISSUERS"), "index": index},
                    hint=_("For example {'DOMAIN': 'login.example.com', 'AUDIENCE': 'https://api.example.com'}."),
                    id="auth0_drf.E014",
                )
            )
        elif set(entry) - _ISSUER_KEYS:
            unknown = ", ".join(sorted(map(str, set(entry) - _ISSUER_KEYS)))
            errors.append(
                Error(
                    _("%(setting)s[%(index)s] has keys auth0_drf does not know: %(unknown)s.")
                    % {"setting": _setting("ISSUERS"), "index": index, "unknown": unknown},
                    hint=_("Use only %(keys)s.") % {"keys": ", ".join(sorted(_ISSUER_KEYS))},
                    id="auth0_drf.E014",
                )
            )
    return errors


def _check_claim_rules() -> list[Error]:
    errors = []
    for index, entry in enumerate(auth0_settings.CLAIM_RULES):
        try:
            load_rule(entry)
        except Exception as exc:  # an import error or ImproperlyConfigured: report, never crash startup
            errors.append(
                Error(
                    _("%(setting)s[%(index)s] is not a usable claim rule (%(error)s: %(reason)s).")
                    % {"setting": _setting("CLAIM_RULES"), "index": index, "error": type(exc).__name__, "reason": exc},
                    hint=_(
                        "Use rules from auth0_drf.rules, e.g. ClaimEquals('https://myapp.example/tenant', 'acme'), "
                        "or dotted paths to them."
                    ),
                    id="auth0_drf.E011",
                )
            )
    return errors


def _check_replay_cache() -> list[Error]:
    alias = auth0_settings.DPOP_REPLAY_CACHE
    if alias is not None and alias not in getattr(settings, "CACHES", {"default": {}}):
        return [
            Error(
                _("%(setting)s names the cache %(alias)s, which is not in CACHES.")
                % {"setting": _setting("DPOP_REPLAY_CACHE"), "alias": repr(alias)},
                hint=_(
                    "Name an alias from CACHES (one shared by all worker processes, such as Redis), "
                    "or None for an in-process cache."
                ),
                id="auth0_drf.E012",
            )
        ]
    return []


#: Cache backends that no two processes share: as a replay cache, each worker accepts a proof once more.
_PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache": gettext_noop(
        "%(setting)s names the cache %(alias)s, a %(backend)s, which each worker process keeps to itself: "
        "a DPoP proof replayed to another worker is accepted."
    ),
    "django.core.cache.backends.dummy.DummyCache": gettext_noop(
        "%(setting)s names the cache %(alias)s, a %(backend)s, which remembers nothing: every replayed DPoP "
        "proof is accepted."
    ),
}


def _check_replay_cache_is_shared() -> list[Warning]:
    mode = auth0_settings.DPOP
    alias = auth0_settings.DPOP_REPLAY_CACHE
    caches = getattr(settings, "CACHES", {})
    if mode == "off" or (alias is not None and alias not in caches):  # off, or E012 reports the alias
        return []
    shared = _(
        "Set %(setting)s to the alias of a cache that every worker process shares, such as "
        "Redis through django.core.cache.backends.redis.RedisCache (docs/workers.md shows the settings)."
    ) % {"setting": _setting("DPOP_REPLAY_CACHE")}
    if alias is None:
        # The in-process default is right for one process (runserver, a single worker) only.
        return [
            Warning(
                _(
                    "%(setting)s is %(mode)s but %(cache)s is not set: each worker "
                    "process remembers only the DPoP proofs it has seen itself, so a proof replayed to another worker "
                    "is accepted."
                )
                % {"setting": _setting("DPOP"), "mode": repr(mode), "cache": _setting("DPOP_REPLAY_CACHE")},
                hint=_(
                    "%(advice)s With a single process, silence this with SILENCED_SYSTEM_CHECKS = ['auth0_drf.W005']."
                )
                % {"advice": shared},
                id="auth0_drf.W005",
            )
        ]
    backend = caches[alias].get("BACKEND", "") if isinstance(caches[alias], dict) else ""
    problem = _PER_PROCESS_CACHES.get(backend)
    if problem is None:
        return []
    return [
        Warning(
            _(problem)
            % {"setting": _setting("DPOP_REPLAY_CACHE"), "alias": repr(alias), "backend": backend.rsplit(".", 1)[1]},
            hint=shared,
            id="auth0_drf.W005",
        )
    ]


def _check_dpop_algorithms() -> list[Error]:
    algorithms = auth0_settings.DPOP_ALGORITHMS
    if not algorithms or any(alg not in SUPPORTED_ALGORITHMS for alg in algorithms):
        return [
            Error(
                _("%(setting)s must be a non-empty list of asymmetric algorithms.")
                % {"setting": _setting("DPOP_ALGORITHMS")},
                hint=_("Choose from %(algorithms)s; 'none' and HS* are never accepted.")
                % {"algorithms": ", ".join(sorted(SUPPORTED_ALGORITHMS))},
                id="auth0_drf.E013",
            )
        ]
    return []


def _check_shared_cache() -> list[Error]:
    alias = auth0_settings.JWKS_SHARED_CACHE
    if alias is not None and alias not in getattr(settings, "CACHES", {"default": {}}):
        # The verifier is built on the first request: an unknown alias would fail every request.
        return [
            Error(
                _("%(setting)s names the cache %(alias)s, which is not in CACHES.")
                % {"setting": _setting("JWKS_SHARED_CACHE"), "alias": repr(alias)},
                hint=_(
                    "Name an alias from CACHES (one shared by all worker processes, such as Redis), "
                    "or None to keep keys per process."
                ),
                id="auth0_drf.E015",
            )
        ]
    return []


def _check_user_backend() -> list[Error]:
    try:
        import_string(auth0_settings.USER_BACKEND)
    except Exception as exc:  # an import error: report, never crash startup
        return [
            Error(
                _("%(setting)s cannot be imported (%(error)s).")
                % {"setting": _setting("USER_BACKEND"), "error": type(exc).__name__},
                hint=_("Set it to the dotted path of auth0_drf.backends.Auth0UserBackend or of your subclass of it."),
                id="auth0_drf.E016",
            )
        ]
    return []


def _check_user_mapping() -> list[CheckMessage]:
    User = get_user_model()
    model = User._meta.label
    problems: list[CheckMessage] = []
    mapped = [("USER_FIELDS", name) for name in auth0_settings.USER_FIELDS] + [
        ("USER_FLAGS", name) for name in auth0_settings.USER_FLAGS
    ]
    for setting, name in mapped:
        field = user_model_field(name)
        if field is None:
            problems.append(
                Error(
                    _("%(setting)s maps the field %(field)r, which the user model %(model)s does not have.")
                    % {"setting": _setting(setting), "field": name, "model": model},
                    hint=_("Remove %(field)r from %(setting)s, or map a field of %(model)s.")
                    % {"setting": _setting(setting), "field": name, "model": model},
                    id="auth0_drf.E017",
                )
            )
            continue
        if name == "is_active":
            # Inactive users are refused before their claims are read: a claim could deactivate a
            # user, never reactivate one, and the request that carried it would still be served.
            hint: str | None = _(
                "A claim could deactivate a user but never reactivate one: deactivate users in the admin, "
                "or revoke their tokens (Auth0Identity.revoke_tokens())."
            )
        elif (
            field.primary_key
            or name in (User.USERNAME_FIELD, "password")
            or (setting == "USER_FLAGS" and not isinstance(field, models.BooleanField))
        ):
            hint = _(
                "Map fields that describe the user (email, names) in USER_FIELDS and boolean fields in "
                "USER_FLAGS; never the primary key, the username or the password."
            )
        else:
            hint = None
        if hint is not None:
            problems.append(
                Error(
                    _("%(setting)s maps %(field)r, which claims may not set.")
                    % {"setting": _setting(setting), "field": name},
                    hint=hint,
                    id="auth0_drf.E018",
                )
            )
    if auth0_settings.GROUPS_CLAIM:
        try:
            User._meta.get_field("groups")
        except Exception:
            problems.append(
                Error(
                    _("%(setting)s is set, but the user model %(model)s has no groups.")
                    % {"setting": _setting("GROUPS_CLAIM"), "model": model},
                    hint=_("Give the user model Django's PermissionsMixin, or unset %(setting)s.")
                    % {"setting": _setting("GROUPS_CLAIM")},
                    id="auth0_drf.E017",
                )
            )
    if "is_superuser" in auth0_settings.USER_FLAGS:
        problems.append(
            Warning(
                _(
                    "%(setting)s maps is_superuser: whoever can put that value in the claim has every permission "
                    "of every model."
                )
                % {"setting": _setting("USER_FLAGS")},
                hint=_(
                    "Prefer groups with the permissions they need (GROUPS_CLAIM); keep is_superuser only if "
                    "only trusted administrators can set that claim in Auth0."
                ),
                id="auth0_drf.W006",
            )
        )
    return problems


def debug_as_configured() -> bool:
    """Return ``DEBUG`` as the settings say it, also while Django's test environment has turned it off.

    ``setup_test_environment()`` (``manage.py test``, pytest-django) sets ``DEBUG = False`` before the
    system checks run, and keeps the value it replaced in ``django.test.utils._TestState.saved_data``
    until ``teardown_test_environment()`` (Django 4.2 and later). Only a test run sets it up,
    so outside one (runserver, gunicorn, ``manage.py check``) this is ``settings.DEBUG`` exactly.
    """
    if settings.DEBUG:
        return True
    # Looked up in sys.modules, not imported: a process that never imported django.test has no test environment.
    test_utils = sys.modules.get("django.test.utils")
    saved = getattr(getattr(test_utils, "_TestState", None), "saved_data", None)
    return bool(getattr(saved, "debug", False))


def _check_dev_issuer() -> list[Error]:
    # Under the test runner DEBUG is off whatever the settings say: what counts is the settings' own
    # DEBUG, so a development project's tests run, and a production settings file is still refused.
    if auth0_settings.DEV_ISSUER and not debug_as_configured():
        return [
            Error(
                _("%(setting)s is enabled while DEBUG is off.") % {"setting": _setting("DEV_ISSUER")},
                hint=_(
                    "The development issuer signs tokens with a key on disk and must never run in production: "
                    "unset AUTH0_DRF['DEV_ISSUER'] and configure your Auth0 DOMAIN and AUDIENCE."
                ),
                id="auth0_drf.E010",
            )
        ]
    return []


def _check_openapi_scheme() -> list[Warning]:
    scheme = auth0_settings.OPENAPI_SCHEME
    if scheme != "bearer" and auth0_settings.DEV_ISSUER:
        # The development issuer publishes keys and discovery only: Swagger UI would send its login to a 404.
        return [
            Warning(
                _(
                    "%(setting)s is %(scheme)s, but the development issuer has no /authorize or "
                    "/oauth/token endpoint: Swagger UI's Authorize button cannot log in with it."
                )
                % {"setting": _setting("OPENAPI_SCHEME"), "scheme": repr(scheme)},
                hint=_(
                    "Leave %(setting)s at 'bearer' in development and paste a token from "
                    "`manage.py auth0_mint`, or configure your Auth0 DOMAIN and AUDIENCE."
                )
                % {"setting": _setting("OPENAPI_SCHEME")},
                id="auth0_drf.W004",
            )
        ]
    return []


#: The checks of what values mean, in the order they report, each with the settings it reads.
_CHECKS: tuple[tuple[Callable[[], Sequence[CheckMessage]], frozenset[str]], ...] = (
    (_check_issuers, frozenset({"DOMAIN", "AUDIENCE", "ISSUER", "JWKS_URI", "ISSUERS", "DISCOVERY"})),
    (_check_algorithms, frozenset({"ALGORITHMS"})),
    (_check_claim_rules, frozenset({"CLAIM_RULES"})),
    (_check_replay_cache, frozenset({"DPOP_REPLAY_CACHE"})),
    (_check_replay_cache_is_shared, frozenset({"DPOP", "DPOP_REPLAY_CACHE"})),
    (_check_dpop_algorithms, frozenset({"DPOP_ALGORITHMS"})),
    (_check_shared_cache, frozenset({"JWKS_SHARED_CACHE"})),
    (_check_user_backend, frozenset({"USER_BACKEND"})),
    (_check_user_mapping, frozenset({"USER_FIELDS", "USER_FLAGS", "GROUPS_CLAIM"})),
    (_check_dev_issuer, frozenset({"DEV_ISSUER"})),
    (_check_openapi_scheme, frozenset({"OPENAPI_SCHEME", "DEV_ISSUER"})),
)
