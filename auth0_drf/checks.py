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
W001       ``Auth0Authentication`` is used by no view and not in ``DEFAULT_AUTHENTICATION_CLASSES``
W002       ``Auth0Authentication`` is not first in ``DEFAULT_AUTHENTICATION_CLASSES``
W003       ``EXCEPTION_HANDLER`` does not add the ``insufficient_scope`` challenge
=========  ===============================================================================

Ids are never reused. No check touches the network: startup works while the issuer is down.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .conf import DEFAULTS, auth0_settings
from .fetch import is_loopback_url
from .jose import is_number
from .jwks import SUPPORTED_ALGORITHMS
from .profiles import PROFILES

AUTH_CLASS = "auth0_drf.authentication.Auth0Authentication"
HANDLER = "auth0_drf.exceptions.exception_handler"

_CHOICES = {
    "TOKEN_PROFILE": tuple(PROFILES),
    "MACHINE_USERS": ("stateless", "database"),
    "DPOP": ("off", "allowed", "required"),
}
_NUMBERS = (
    "LEEWAY", "MAX_TOKEN_LENGTH", "JWKS_CACHE_TTL", "JWKS_MIN_TTL", "JWKS_MAX_TTL", "JWKS_MAX_STALENESS",
    "JWKS_REFETCH_COOLDOWN", "JWKS_TIMEOUT", "JWKS_MAX_BYTES", "TOKEN_CACHE_SIZE", "USER_CACHE_TTL",
    "RECORD_INTERVAL", "RECORD_MAX_ROWS", "RECORD_MAX_AGE", "DPOP_PROOF_MAX_AGE",
)


def _setting(name: str) -> str:
    return f"AUTH0_DRF['{name}']"


@register(Tags.security, "auth0_drf")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """Check the ``AUTH0_DRF`` dict."""
    errors: list[Error | Warning] = []
    user = auth0_settings.user_settings
    if not isinstance(user, dict):
        return [
            Error("AUTH0_DRF must be a dict.", hint="Set AUTH0_DRF = {'DOMAIN': ..., 'AUDIENCE': ...}.", id="auth0_drf.E007")
        ]
    for name in sorted(set(user) - set(DEFAULTS)):
        errors.append(
            Error(
                f"{_setting(name)} is not a setting auth0_drf knows.",
                hint=f"Remove {_setting(name)} or correct its spelling (see the README's settings table).",
                id="auth0_drf.E008",
            )
        )
    errors += _check_values()
    entry_errors = _check_issuer_entries()
    errors += entry_errors or _check_issuers()
    errors += _check_algorithms()
    errors += _check_claim_rules()
    errors += _check_dpop()
    errors += _check_shared_cache_and_backend()
    if auth0_settings.DEV_ISSUER and not settings.DEBUG:
        errors.append(
            Error(
                f"{_setting('DEV_ISSUER')} is enabled while DEBUG is off.",
                hint="The development issuer signs tokens with a key on disk and must never run in production: "
                "unset AUTH0_DRF['DEV_ISSUER'] and configure your Auth0 DOMAIN and AUDIENCE.",
                id="auth0_drf.E010",
            )
        )
    return errors


def _check_values() -> list[Error]:
    errors = []
    for name, choices in _CHOICES.items():
        if getattr(auth0_settings, name) not in choices:
            errors.append(
                Error(
                    f"{_setting(name)} must be one of {', '.join(choices)}.",
                    hint=f"Set {_setting(name)} to one of {', '.join(repr(c) for c in choices)}, or remove it for the default.",
                    id="auth0_drf.E007",
                )
            )
    for name in _NUMBERS:
        value = getattr(auth0_settings, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            errors.append(
                Error(
                    f"{_setting(name)} must be a number of at least 0.",
                    hint=f"Set {_setting(name)} to a number, or remove it for the default ({DEFAULTS[name]!r}).",
                    id="auth0_drf.E007",
                )
            )
    # Read on every request: a wrong type here would make every request a 500. It is added to
    # iat, so it must be a number the MaxTokenAge rule would take too (no inf, no NaN).
    max_age = auth0_settings.MAX_TOKEN_AGE
    if max_age is not None and not (is_number(max_age) and max_age >= 0):
        errors.append(
            Error(
                f"{_setting('MAX_TOKEN_AGE')} must be None or a number of seconds of at least 0.",
                hint=f"Set {_setting('MAX_TOKEN_AGE')} to a number such as 3600, or None (the default).",
                id="auth0_drf.E007",
            )
        )
    for name in ("REQUIRE_KID", "DISCOVERY", "CREATE_USERS", "STATELESS_USERS", "RECORD_CLAIMS", "DEV_ISSUER"):
        # A string such as "false" would be true.
        if not isinstance(getattr(auth0_settings, name), bool):
            errors.append(
                Error(f"{_setting(name)} must be True or False.", hint=f"Set {_setting(name)} to True or False.", id="auth0_drf.E007")
            )
    for name in ("REALM", "CLAIMS_NAMESPACE"):
        if not isinstance(getattr(auth0_settings, name), str):
            errors.append(
                Error(f"{_setting(name)} must be a string.", hint=f"Set {_setting(name)} to a string, or remove it for the default.", id="auth0_drf.E007")
            )
    scope_claims = auth0_settings.SCOPE_CLAIMS
    if isinstance(scope_claims, str) or not set(scope_claims) <= {"scope", "permissions", "scp"}:
        errors.append(
            Error(
                f"{_setting('SCOPE_CLAIMS')} must be a list drawn from 'scope', 'permissions' and 'scp'.",
                hint=f"Set {_setting('SCOPE_CLAIMS')} to a list such as ['scope', 'permissions'] (the default).",
                id="auth0_drf.E007",
            )
        )
    for name in ("STANDARD_CLAIMS", "REDACTED_CLAIMS"):
        # A bare string would be read character by character: nothing would be redacted.
        value = getattr(auth0_settings, name)
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            errors.append(
                Error(f"{_setting(name)} must be a list of claim names.", hint=f"For example {_setting(name)} = ['https://myapp.example/secret'].", id="auth0_drf.E007")
            )
    return errors


def _check_issuers() -> list[Error]:
    errors: list[Error] = []
    domain = auth0_settings.DOMAIN
    if domain:
        parts = urlsplit(f"//{domain}")
        if "://" in domain or "/" in domain or not parts.hostname or parts.hostname != domain.lower():
            errors.append(
                Error(
                    f"{_setting('DOMAIN')} must be a bare host name such as 'example.eu.auth0.com'.",
                    hint=f"Set {_setting('DOMAIN')} to the host name alone: remove the scheme (https://), any path or "
                    "trailing slash, and any port.",
                    id="auth0_drf.E003",
                )
            )
            return errors
    issuers = auth0_settings.issuers
    if not issuers:
        return [
            Error(
                "auth0_drf has no issuer to trust.",
                hint="Set AUTH0_DRF['DOMAIN'] to your Auth0 domain (or AUTH0_DRF['ISSUER'], or AUTH0_DRF['ISSUERS']).",
                id="auth0_drf.E001",
            )
        ]
    for config in issuers:
        where = _setting_of(config.issuer)
        if not config.audiences:
            errors.append(
                Error(
                    f"No AUDIENCE is configured for issuer {config.issuer}.",
                    hint=f"Set {where('AUDIENCE')} to your API identifier (Auth0 dashboard > Applications > APIs).",
                    id="auth0_drf.E002",
                )
            )
        host = urlsplit(config.issuer).hostname or ""
        if host.endswith(".auth0.com") and not config.issuer.endswith("/"):
            errors.append(
                Error(
                    f"The issuer {config.issuer} lacks the trailing '/' that Auth0 puts in 'iss'.",
                    hint=f"Set {where('ISSUER')} to '{config.issuer}/' (or leave it unset to derive it from DOMAIN).",
                    id="auth0_drf.E004",
                )
            )
        for what, url in (("ISSUER", config.issuer), ("JWKS_URI", config.jwks_uri)):
            if url and urlsplit(url).scheme.lower() != "https" and not (
                urlsplit(url).scheme.lower() == "http" and is_loopback_url(url)
            ):
                errors.append(
                    Error(
                        f"{where(what)} {url!r} is not an https:// URL.",
                        hint=f"Set {where(what)} to an https:// URL: keys must be fetched over HTTPS (plain http:// is "
                        "allowed only for loopback hosts, in local tests).",
                        id="auth0_drf.E005",
                    )
                )
    return errors


def _setting_of(issuer: str) -> Callable[[str], str]:
    """Return a function naming a setting where it is set for ``issuer``: top level or an ``ISSUERS`` entry."""
    for index, entry in enumerate(auth0_settings.ISSUERS or []):
        derived = entry.get("ISSUER") or (f"https://{entry['DOMAIN']}/" if entry.get("DOMAIN") else "")
        if derived == issuer:
            return lambda name: f"AUTH0_DRF['ISSUERS'][{index}]['{name}']"
    return _setting


def _check_algorithms() -> list[Error]:
    algorithms = auth0_settings.ALGORITHMS
    if isinstance(algorithms, str) or not algorithms:
        return [
            Error(
                f"{_setting('ALGORITHMS')} must be a non-empty list, e.g. ['RS256'].",
                hint=f"Set {_setting('ALGORITHMS')} to the algorithm of your Auth0 API, normally ['RS256'].",
                id="auth0_drf.E006",
            )
        ]
    bad = [alg for alg in algorithms if alg not in SUPPORTED_ALGORITHMS]
    if bad:
        return [
            Error(
                f"{_setting('ALGORITHMS')} contains {', '.join(map(str, bad))}, which auth0_drf never accepts.",
                hint=f"Set {_setting('ALGORITHMS')} to asymmetric algorithms only (RS256, the Auth0 default; PS256; "
                "ES256; EdDSA). 'none' and HMAC (HS*) would let anyone holding the public key forge tokens.",
                id="auth0_drf.E006",
            )
        ]
    return []


_ISSUER_KEYS = frozenset({"ISSUER", "DOMAIN", "AUDIENCE", "JWKS_URI", "DISCOVERY"})


def _check_issuer_entries() -> list[Error]:
    entries = auth0_settings.ISSUERS
    if not isinstance(entries, (list, tuple)):
        return [Error(f"{_setting('ISSUERS')} must be a list of dicts.", id="auth0_drf.E014")]
    errors = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not (entry.get("ISSUER") or entry.get("DOMAIN")):
            errors.append(
                Error(
                    f"{_setting('ISSUERS')}[{index}] must be a dict with an 'ISSUER' or a 'DOMAIN'.",
                    hint="For example {'DOMAIN': 'login.example.com', 'AUDIENCE': 'https://api.example.com'}.",
                    id="auth0_drf.E014",
                )
            )
        elif set(entry) - _ISSUER_KEYS:
            unknown = ", ".join(sorted(map(str, set(entry) - _ISSUER_KEYS)))
            errors.append(
                Error(
                    f"{_setting('ISSUERS')}[{index}] has keys auth0_drf does not know: {unknown}.",
                    hint=f"Use only {', '.join(sorted(_ISSUER_KEYS))}.",
                    id="auth0_drf.E014",
                )
            )
    return errors


def _check_claim_rules() -> list[Error]:
    from .rules import load_rule

    rules = auth0_settings.CLAIM_RULES
    if isinstance(rules, str) or not isinstance(rules, (list, tuple)):
        return [Error(f"{_setting('CLAIM_RULES')} must be a list of claim rules.", id="auth0_drf.E011")]
    errors = []
    for index, entry in enumerate(rules):
        try:
            load_rule(entry)
        except Exception as exc:  # an import error or ImproperlyConfigured: report, never crash startup
            errors.append(
                Error(
                    f"{_setting('CLAIM_RULES')}[{index}] is not a usable claim rule ({type(exc).__name__}: {exc}).",
                    hint="Use rules from auth0_drf.rules, e.g. ClaimEquals('https://myapp.example/tenant', 'acme'), "
                    "or dotted paths to them.",
                    id="auth0_drf.E011",
                )
            )
    return errors


def _check_dpop() -> list[Error]:
    errors = []
    alias = auth0_settings.DPOP_REPLAY_CACHE
    if alias is not None and alias not in getattr(settings, "CACHES", {"default": {}}):
        errors.append(
            Error(
                f"{_setting('DPOP_REPLAY_CACHE')} names the cache {alias!r}, which is not in CACHES.",
                hint="Name an alias from CACHES (one shared by all worker processes, such as Redis), or None for an in-process cache.",
                id="auth0_drf.E012",
            )
        )
    algorithms = auth0_settings.DPOP_ALGORITHMS
    if isinstance(algorithms, str) or not algorithms or any(alg not in SUPPORTED_ALGORITHMS for alg in algorithms):
        errors.append(
            Error(
                f"{_setting('DPOP_ALGORITHMS')} must be a non-empty list of asymmetric algorithms.",
                hint=f"Choose from {', '.join(sorted(SUPPORTED_ALGORITHMS))}; 'none' and HS* are never accepted.",
                id="auth0_drf.E013",
            )
        )
    return errors


def _check_shared_cache_and_backend() -> list[Error]:
    errors = []
    alias = auth0_settings.JWKS_SHARED_CACHE
    if alias is not None and alias not in getattr(settings, "CACHES", {"default": {}}):
        # The verifier is built on the first request: an unknown alias would fail every request.
        errors.append(
            Error(
                f"{_setting('JWKS_SHARED_CACHE')} names the cache {alias!r}, which is not in CACHES.",
                hint="Name an alias from CACHES (one shared by all worker processes, such as Redis), or None to keep keys per process.",
                id="auth0_drf.E015",
            )
        )
    try:
        from django.utils.module_loading import import_string

        import_string(auth0_settings.USER_BACKEND)
    except Exception as exc:  # an import error: report, never crash startup
        errors.append(
            Error(
                f"{_setting('USER_BACKEND')} cannot be imported ({type(exc).__name__}).",
                hint="Set it to the dotted path of auth0_drf.backends.Auth0UserBackend or of your subclass of it.",
                id="auth0_drf.E016",
            )
        )
    return errors


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
                    f"{AUTH_CLASS} is not the first of REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'].",
                    hint="DRF takes the WWW-Authenticate challenge of a 401 from the first class only; list ours first.",
                    id="auth0_drf.W002",
                )
            )
    elif not _used_by_any_view():
        warnings.append(
            Warning(
                f"{AUTH_CLASS} is not in REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'] and no view uses it.",
                hint="Add it (first) to DEFAULT_AUTHENTICATION_CLASSES, or to a view's authentication_classes.",
                id="auth0_drf.W001",
            )
        )
    if rest.get("EXCEPTION_HANDLER", "rest_framework.views.exception_handler") == "rest_framework.views.exception_handler":
        warnings.append(
            Warning(
                "REST_FRAMEWORK['EXCEPTION_HANDLER'] is DRF's default, so scope failures get no insufficient_scope challenge.",
                hint=f"Set it to '{HANDLER}', or call auth0_drf.exceptions.add_scope_challenge() from your own handler.",
                id="auth0_drf.W003",
            )
        )
    return warnings


def _is_ours(cls: Any) -> bool:
    """Return whether a class (or dotted path) is ``Auth0Authentication`` or a subclass of it."""
    from django.utils.module_loading import import_string

    from .authentication import Auth0Authentication

    if isinstance(cls, str):
        if cls == AUTH_CLASS:
            return True
        try:
            cls = import_string(cls)
        except ImportError:  # DRF reports a bad path itself, on first use
            return False
    return isinstance(cls, type) and issubclass(cls, Auth0Authentication)


def _used_by_any_view() -> bool:
    from django.urls import get_resolver

    from .authentication import Auth0Authentication

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
