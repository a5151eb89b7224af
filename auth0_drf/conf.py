"""The ``AUTH0_DRF`` settings dict, its defaults, and the issuers derived from it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

#: Every setting auth0_drf reads, with its default. This dict is the single source of truth:
#: the README's settings table, the system checks and ``auth0_settings`` all follow it.
DEFAULTS: dict[str, Any] = {
    # Which tokens are accepted.
    "DOMAIN": None,  # "example.eu.auth0.com": no scheme, no path
    "AUDIENCE": None,  # the API identifier, or a list of accepted identifiers
    "ISSUER": None,  # default "https://{DOMAIN}/"; compared to `iss` exactly
    "JWKS_URI": None,  # default "{ISSUER}.well-known/jwks.json"
    "ISSUERS": [],  # several issuers: [{"ISSUER": ..., "AUDIENCE": ..., "JWKS_URI": ...}, ...]
    "DISCOVERY": False,  # read jwks_uri from {ISSUER}.well-known/openid-configuration
    "ALGORITHMS": ["RS256"],
    "LEEWAY": 5,  # seconds of clock skew allowed on exp, nbf and iat
    "MAX_TOKEN_LENGTH": 8192,  # characters; longer tokens are rejected before decoding
    "TOKEN_PROFILE": "any",  # "any" (Auth0's default profile and RFC 9068) or "rfc9068"
    "REQUIRE_KID": False,  # True: a token without `kid` is rejected even if only one key fits
    "MAX_TOKEN_AGE": None,  # seconds since `iat` after which a token is refused
    "REALM": "api",  # the realm in WWW-Authenticate challenges
    # Signing keys.
    "JWKS_CACHE_TTL": 600,  # seconds keys are used before a refresh, without Cache-Control
    "JWKS_MIN_TTL": 60,  # bounds applied to the JWKS response's Cache-Control max-age
    "JWKS_MAX_TTL": 86400,
    "JWKS_MAX_STALENESS": 86400,  # seconds cached keys keep working while refreshes fail
    "JWKS_REFETCH_COOLDOWN": 30,  # minimum seconds between fetches caused by unknown kids
    "JWKS_TIMEOUT": 5.0,  # total seconds a request may wait for keys (all its JWKS and discovery fetches)
    "JWKS_MAX_BYTES": 512 * 1024,  # a larger JWKS response is refused
    "JWKS_SHARED_CACHE": None,  # a Django cache alias through which worker processes share keys
    # Verified-token cache (see README, "Caching and its security").
    "TOKEN_CACHE_SIZE": 4096,  # entries; 0 turns the cache off
    # Users.
    "USER_BACKEND": "auth0_drf.backends.Auth0UserBackend",
    "CREATE_USERS": True,  # False: tokens for unknown subjects are rejected
    "STATELESS_USERS": False,  # True: no database at all, request.user is a TokenUser
    "MACHINE_USERS": "stateless",  # client-credentials tokens: "stateless" or "database"
    "USER_CACHE_TTL": 30,  # seconds a looked-up user is reused in this process; 0 turns it off
    # Scopes.
    "SCOPE_CLAIMS": ["scope", "permissions"],  # any of "scope", "permissions", "scp"
    "CLAIMS_NAMESPACE": "",  # e.g. "https://myapp.example/": prefix for claims.custom("state")
    # Recording custom claims for the admin.
    "RECORD_CLAIMS": True,
    "RECORD_INTERVAL": 300,  # seconds between writes for an unchanged subject
    "RECORD_MAX_ROWS": 1000,
    "RECORD_MAX_AGE": 30 * 86400,  # seconds
    "STANDARD_CLAIMS": [
        "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "scope", "scp", "permissions",
        "gty", "client_id", "cnf", "auth_time", "acr", "amr", "sid", "org_id", "org_name",
    ],
    "REDACTED_CLAIMS": [],  # claim names recorded with their value replaced
    # Claim rules applied to every token (see auth0_drf.rules).
    "CLAIM_RULES": [],
    # DPoP (RFC 9449): "off", "allowed" or "required".
    "DPOP": "off",
    "DPOP_PROOF_MAX_AGE": 300,  # seconds a proof's iat may lie in the past
    "DPOP_REPLAY_CACHE": None,  # a Django cache alias for proof jti, shared across workers
    "DPOP_ALGORITHMS": ["ES256", "PS256", "RS256", "EdDSA"],  # accepted for proofs; asymmetric only
    # A local development issuer (the demo's, never for production; needs DEBUG).
    "DEV_ISSUER": False,
    "DEV_ISSUER_KEY_FILE": ".auth0_drf_dev_key.pem",
}


@dataclass(frozen=True)
class IssuerConfig:
    """One accepted issuer: its exact ``iss``, where its keys are, and the audiences it may grant."""

    issuer: str
    audiences: tuple[str, ...]
    jwks_uri: str | None
    discovery: bool = False


def default_jwks_uri(issuer: str) -> str:
    """Return the conventional JWKS location for an issuer (Auth0's, and most OIDC providers')."""
    return issuer.rstrip("/") + "/.well-known/jwks.json"


def as_tuple(value: Any) -> tuple[str, ...]:
    """Return a setting that may be one string or a list of strings as a tuple."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


class Auth0Settings:
    """Read ``settings.AUTH0_DRF`` lazily, falling back to ``DEFAULTS``.

    Values are read on first use and cached until Django's ``setting_changed`` signal says
    ``AUTH0_DRF`` changed, so ``override_settings`` works in tests without reloads.
    """

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        self.defaults = defaults or DEFAULTS
        self._cache: dict[str, Any] = {}
        self._reset_callbacks: list[Callable[[], None]] = []

    @property
    def user_settings(self) -> dict[str, Any]:
        return getattr(django_settings, "AUTH0_DRF", None) or {}

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(f"Invalid AUTH0_DRF setting: {name!r}")
        value = self.user_settings.get(name, self.defaults[name])
        # Stored on the instance, so later reads are plain attribute reads that never reach
        # __getattr__ (settings are read on every request); reload() removes them.
        self.__dict__[name] = value
        return value

    @property
    def issuers(self) -> tuple[IssuerConfig, ...]:
        """Return every accepted issuer, from ``ISSUERS`` or from ``DOMAIN``/``ISSUER``."""
        try:
            return self._cache["__issuers"]
        except KeyError:
            pass
        configs: list[IssuerConfig] = []
        for entry in self.ISSUERS or []:
            issuer = entry.get("ISSUER") or (f"https://{entry['DOMAIN']}/" if entry.get("DOMAIN") else "")
            audiences = as_tuple(entry.get("AUDIENCE", self.AUDIENCE))
            discovery = bool(entry.get("DISCOVERY", self.DISCOVERY))
            jwks_uri = entry.get("JWKS_URI") or (None if discovery else default_jwks_uri(issuer))
            configs.append(IssuerConfig(issuer, audiences, jwks_uri, discovery))
        issuer = self.ISSUER or (f"https://{self.DOMAIN}/" if self.DOMAIN else "")
        if issuer and all(c.issuer != issuer for c in configs):
            jwks_uri = self.JWKS_URI or (None if self.DISCOVERY else default_jwks_uri(issuer))
            configs.insert(0, IssuerConfig(issuer, as_tuple(self.AUDIENCE), jwks_uri, bool(self.DISCOVERY)))
        result = tuple(configs)
        self._cache["__issuers"] = result
        return result

    def on_reset(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever the settings change (caches built from them must go)."""
        self._reset_callbacks.append(callback)

    def reload(self) -> None:
        """Forget cached values and everything built from them."""
        self._cache.clear()
        for name in [name for name in list(self.__dict__) if name in self.defaults]:
            del self.__dict__[name]
        for callback in self._reset_callbacks:
            callback()


auth0_settings = Auth0Settings()


@receiver(setting_changed)
def _reload_auth0_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "AUTH0_DRF":
        auth0_settings.reload()


T = TypeVar("T")


class BuiltFromSettings(Generic[T]):
    """A process-wide object built from the settings on first use, and dropped when they change.

    ``get()`` is lock-free once built; the first build happens once even when threads race.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self.build = build
        self.value: T | None = None
        self._lock = threading.Lock()
        auth0_settings.on_reset(self.reset)

    def get(self) -> T:
        value = self.value
        if value is None:
            with self._lock:
                if self.value is None:
                    self.value = self.build()
                value = self.value
        return value

    def reset(self) -> None:
        self.value = None
