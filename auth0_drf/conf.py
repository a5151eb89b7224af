"""The ``AUTH0_DRF`` settings: one table of every setting, the lazy typed object that reads them, and the issuers."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, get_args, overload

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import gettext

from .i18n import gettext_noop

T = TypeVar("T")
C = TypeVar("C", bound=str)

#: The values of ``TOKEN_PROFILE``, ``MACHINE_USERS``, ``DPOP`` and ``OPENAPI_SCHEME``.
TokenProfile = Literal["any", "rfc9068"]
MachineUsers = Literal["stateless", "database"]
DPoPMode = Literal["off", "allowed", "required"]
OpenAPIScheme = Literal["bearer", "oauth2", "openIdConnect"]


@dataclass(frozen=True)
class Kind(Generic[T]):
    """The values a setting of type ``T`` accepts, and how the system check words a wrong one.

    ``problem`` completes "AUTH0_DRF['NAME'] ..." and ``hint`` is a template with ``{setting}``
    (the setting's name as written in settings.py) and ``{default}`` (its default value), both in
    English. The system check shows them translated: ``problem_id`` and ``hint_id`` are their
    message ids when they were built from a template with ``%(name)s`` placeholders filled from
    ``params`` (whose values are translated too, when they are message ids).
    """

    accepts: Callable[[object], bool]
    problem: str
    hint: str
    problem_id: str = ""
    hint_id: str = ""
    params: tuple[tuple[str, str], ...] = ()

    def translated_problem(self) -> str:
        """Return ``problem`` in the active language."""
        return gettext(self.problem_id or self.problem) % self._translated_params()

    def translated_hint(self) -> str:
        """Return the ``hint`` template in the active language (``{setting}`` and ``{default}`` still to fill)."""
        return gettext(self.hint_id or self.hint) % self._translated_params()

    def _translated_params(self) -> dict[str, str]:
        return {name: gettext(value) for name, value in self.params}


def _templated(accepts: Callable[[object], bool], problem_id: str, hint_id: str, **params: str) -> Kind[Any]:
    """Return a kind whose problem and hint are filled from translatable templates."""
    return Kind(accepts, problem_id % params, hint_id % params, problem_id, hint_id, tuple(params.items()))


def _is_number(value: object) -> bool:
    # bool is an int subclass, but True is no number of seconds. NaN is refused: every comparison with
    # it is false, so a NaN LEEWAY would let expired tokens through.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 and not math.isnan(value)


def _is_strings(value: object) -> bool:
    # A bare string would be read character by character (nothing would be redacted).
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


FLAG: Kind[bool] = Kind(
    # A string such as "false" would be true.
    lambda value: isinstance(value, bool),
    gettext_noop("must be True or False"),
    gettext_noop("Set {setting} to True or False."),
)
NUMBER: Kind[float] = Kind(
    _is_number,
    gettext_noop("must be a number of at least 0"),
    gettext_noop("Set {setting} to a number, or remove it for the default ({default!r})."),
)
WHOLE_NUMBER: Kind[int] = Kind(
    # A count: 1000.0 rows would break the slicing that prunes them.
    lambda value: _is_number(value) and isinstance(value, int),
    gettext_noop("must be a whole number of at least 0"),
    gettext_noop("Set {setting} to a whole number, or remove it for the default ({default!r})."),
)
OPTIONAL_SECONDS: Kind[float | None] = Kind(
    lambda value: value is None or _is_number(value),
    gettext_noop("must be None or a number of seconds of at least 0"),
    gettext_noop("Set {setting} to a number such as 3600, or None (the default)."),
)
TEXT: Kind[str] = Kind(
    lambda value: isinstance(value, str),
    gettext_noop("must be a string"),
    gettext_noop("Set {setting} to a string, or remove it for the default."),
)
DOTTED_PATH: Kind[str] = Kind(
    lambda value: isinstance(value, str),
    gettext_noop("must be the dotted path of a class, as a string"),
    gettext_noop("Set {setting} to a dotted path such as {default!r} (the default)."),
)
FILE_PATH: Kind[str | os.PathLike[str]] = Kind(
    lambda value: isinstance(value, (str, os.PathLike)),
    gettext_noop("must be a file path"),
    gettext_noop("Set {setting} to a path such as {default!r} (the default)."),
)
CACHE_ALIAS: Kind[str | None] = Kind(
    lambda value: value is None or isinstance(value, str),
    gettext_noop("must be the alias of a cache in CACHES, or None"),
    gettext_noop("Set {setting} to an alias from CACHES such as 'default', or None (the default)."),
)
AUDIENCES: Kind[str | Sequence[str] | None] = Kind(
    lambda value: value is None or isinstance(value, str) or _is_strings(value),
    gettext_noop("must be a string or a list of strings"),
    gettext_noop("Set {setting} to your API identifier, such as 'https://api.example.com', or a list of them."),
)


def _is_claim_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items())


def _is_flag_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(name, str)
        and isinstance(rule, (list, tuple))
        and len(rule) == 2
        and all(isinstance(part, str) and part for part in rule)
        for name, rule in value.items()
    )


USER_FIELD_MAP: Kind[Mapping[str, str]] = Kind(
    _is_claim_map,
    "must be a dict of user model field names to claim names",
    "For example {setting} = {{'email': 'https://myapp.example/email', 'first_name': 'given_name'}}.",
)
USER_FLAG_MAP: Kind[Mapping[str, Sequence[str]]] = Kind(
    _is_flag_map,
    "must be a dict of boolean user fields to (claim name, value) pairs",
    "For example {setting} = {{'is_staff': ('https://myapp.example/roles', 'admin')}}.",
)


def _literal(text: str) -> str:
    """Return ``text`` escaped for a hint template (an example may hold braces)."""
    return text.replace("{", "{{").replace("}", "}}")


def optional_text(example: str) -> Kind[str | None]:
    """Return the kind of a string setting that may be left unset (None)."""
    return _templated(
        lambda value: value is None or isinstance(value, str),
        gettext_noop("must be a string or None"),
        gettext_noop("Set {setting} to a string such as %(example)s, or remove it."),
        example=_literal(repr(example)),
    )


def choice(*values: C) -> Kind[C]:
    """Return the kind of a setting that is one of ``values``."""
    return _templated(
        lambda value: value in values,
        gettext_noop("must be one of %(values)s"),
        gettext_noop("Set {setting} to one of %(choices)s, or remove it for the default."),
        values=", ".join(values),
        choices=", ".join(map(repr, values)),
    )


def strings(what: str, example: str) -> Kind[Sequence[str]]:
    """Return the kind of a list of strings, ``what`` saying what they name."""
    return _templated(
        _is_strings,
        gettext_noop("must be a list of %(what)s"),
        gettext_noop("For example {setting} = %(example)s."),
        what=what,
        example=_literal(example),
    )


def subset(*values: str) -> Kind[Sequence[str]]:
    """Return the kind of a list whose items are drawn from ``values``."""
    *first, last = map(repr, values)
    return _templated(
        lambda value: isinstance(value, (list, tuple)) and all(item in values for item in value),
        gettext_noop("must be a list drawn from %(values)s and %(last)s"),
        gettext_noop("Set {setting} to a list such as {default!r} (the default)."),
        values=", ".join(first),
        last=last,
    )


def entries(what: str, example: str) -> Kind[Sequence[Any]]:
    """Return the kind of a list whose entries have a check of their own (``what`` names them)."""
    return _templated(
        lambda value: isinstance(value, (list, tuple)),
        gettext_noop("must be a list of %(what)s"),
        gettext_noop("For example {setting} = %(example)s."),
        what=what,
        example=_literal(example),
    )


class Setting(Generic[T]):
    """One ``AUTH0_DRF`` setting: its default, the values it accepts (its kind) and what it does.

    Declared in the body of ``Auth0Settings``, it is also the typed attribute that reads the setting. The
    first read stores the value on the instance, which then hides this (non-data) descriptor: later reads
    are plain attribute reads (settings are read on every request) until ``Auth0Settings.reload()``.
    """

    def __init__(self, default: T, kind: Kind[T], description: str) -> None:
        self.name = ""
        self.default = default
        self.kind = kind
        self.description = self.__doc__ = description

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<Setting {self.name}={self.default!r}>"

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Setting[T]: ...
    @overload
    def __get__(self, instance: Auth0Settings, owner: type | None = None) -> T: ...
    def __get__(self, instance: Auth0Settings | None, owner: type | None = None) -> Setting[T] | T:
        if instance is None:
            return self
        value: T = instance.user_settings.get(self.name, instance.defaults.get(self.name, self.default))
        instance.__dict__[self.name] = value
        return value

    # No __set__ on purpose: a data descriptor would be consulted on every read, before the instance's
    # __dict__, and the steady state would no longer be a plain attribute read.


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


def derive_issuer(issuer: str | None, domain: str | None) -> str:
    """Return the issuer named by an ``ISSUER`` and a ``DOMAIN``: ``ISSUER`` if set, else ``https://{DOMAIN}/``.

    Returns ``""`` when neither is set. Used for the top-level settings and for each ``ISSUERS`` entry.
    """
    return issuer or (f"https://{domain}/" if domain else "")


def as_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Return a setting that may be one string or a list of strings as a tuple."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


class Auth0Settings:
    """Read ``settings.AUTH0_DRF`` lazily, falling back to each setting's default.

    The class body is the table of every setting (``SETTINGS`` lists it): its default, its kind (the
    system checks refuse other values) and a description. Values are read on first use and cached until
    Django's ``setting_changed`` signal says ``AUTH0_DRF`` changed, so ``override_settings`` works in tests
    without reloads.
    """

    # Which tokens are accepted.
    DOMAIN = Setting(
        None,
        optional_text("example.eu.auth0.com"),
        "The tenant or custom domain, e.g. ``example.eu.auth0.com``: a host name, no scheme, no path.",
    )
    AUDIENCE = Setting(
        None, AUDIENCES, "The API identifier (Auth0 dashboard > APIs), or a list of accepted identifiers."
    )
    ISSUER = Setting(
        None,
        optional_text("https://example.eu.auth0.com/"),
        "Compared to ``iss`` exactly (mind the trailing slash); default ``https://{DOMAIN}/``.",
    )
    JWKS_URI = Setting(
        None,
        optional_text("https://example.eu.auth0.com/.well-known/jwks.json"),
        "Where the signing keys are; default ``{ISSUER}.well-known/jwks.json``.",
    )
    ISSUERS: Setting[Sequence[Mapping[str, Any]]] = Setting(
        [],
        entries(gettext_noop("dicts"), "[{'DOMAIN': 'login.example.com', 'AUDIENCE': 'https://api.example.com'}]"),
        "More issuers (custom domains): ``[{'ISSUER': ..., 'AUDIENCE': ..., 'JWKS_URI': ...}, ...]``.",
    )
    DISCOVERY = Setting(False, FLAG, "Read ``jwks_uri`` from ``{ISSUER}.well-known/openid-configuration``.")
    ALGORITHMS = Setting(
        ["RS256"],
        strings(gettext_noop("algorithm names"), "['RS256']"),
        "Accepted signing algorithms; asymmetric only (RS/PS/ES 256-512, EdDSA).",
    )
    LEEWAY = Setting(5, NUMBER, "Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.")
    MAX_TOKEN_LENGTH = Setting(8192, WHOLE_NUMBER, "Characters; longer tokens are rejected before decoding.")
    TOKEN_PROFILE: Setting[TokenProfile] = Setting(
        "any",
        choice(*get_args(TokenProfile)),
        "``any`` (Auth0's default profile and RFC 9068) or ``rfc9068`` (requires ``typ: at+jwt``, ``client_id``, "
        "``jti``, ``iat``).",
    )
    REQUIRE_KID = Setting(
        False, FLAG, "True: a token without ``kid`` is rejected; False: it is accepted only if exactly one key fits."
    )
    MAX_TOKEN_AGE = Setting(None, OPTIONAL_SECONDS, "Seconds since ``iat`` after which a token is refused.")
    REALM = Setting("api", TEXT, "The realm of ``WWW-Authenticate`` challenges.")
    # Signing keys.
    JWKS_CACHE_TTL = Setting(600, NUMBER, "Seconds keys are used before a refresh, without ``Cache-Control``.")
    JWKS_MIN_TTL = Setting(60, NUMBER, "Lower bound on the JWKS response's ``Cache-Control: max-age``.")
    JWKS_MAX_TTL = Setting(86400, NUMBER, "Upper bound on the JWKS response's ``Cache-Control: max-age``.")
    JWKS_MAX_STALENESS = Setting(86400, NUMBER, "Seconds cached keys keep working while refreshes fail.")
    JWKS_REFETCH_COOLDOWN = Setting(
        30,
        NUMBER,
        "Minimum seconds between fetches caused by unknown ``kid`` values; the longest wait before a failed fetch "
        "is retried (the wait doubles from 1 s); never delays a refresh that is due.",
    )
    JWKS_TIMEOUT = Setting(
        5.0, NUMBER, "Total seconds a request may wait for keys, every fetch included (JWKS, discovery, refetch)."
    )
    JWKS_MAX_BYTES = Setting(512 * 1024, WHOLE_NUMBER, "A larger JWKS response is refused.")
    JWKS_SHARED_CACHE = Setting(None, CACHE_ALIAS, "A Django cache alias through which worker processes share keys.")
    # Verified-token cache (see docs/security.md, "Caching and its security").
    TOKEN_CACHE_SIZE = Setting(4096, WHOLE_NUMBER, "Verified tokens remembered per process; 0 turns the cache off.")
    # Users.
    USER_BACKEND = Setting("auth0_drf.backends.Auth0UserBackend", DOTTED_PATH, "How ``sub`` maps to a user.")
    CREATE_USERS = Setting(True, FLAG, "False: tokens for unknown subjects are rejected.")
    STATELESS_USERS = Setting(False, FLAG, "True: no database at all, ``request.user`` is a ``TokenUser``.")
    MACHINE_USERS: Setting[MachineUsers] = Setting(
        "stateless", choice(*get_args(MachineUsers)), "Client-credentials tokens: ``stateless`` or ``database``."
    )
    USER_CACHE_TTL = Setting(30, NUMBER, "Seconds a looked-up user is reused in this process; 0 turns it off.")
    # Claims to user fields, flags and groups (auth0_drf.usersync; written only when they change).
    USER_FIELDS: Setting[Mapping[str, str]] = Setting(
        {},
        USER_FIELD_MAP,
        "User model fields set from claims, e.g. ``{'email': 'https://myapp.example/email'}`` (a bare name goes "
        "through ``CLAIMS_NAMESPACE`` first).",
    )
    USER_FLAGS: Setting[Mapping[str, Sequence[str]]] = Setting(
        {},
        USER_FLAG_MAP,
        "Boolean user fields true when a claim contains a value, e.g. "
        "``{'is_staff': ('https://myapp.example/roles', 'admin')}``.",
    )
    GROUPS_CLAIM = Setting(
        None,
        optional_text("https://myapp.example/roles"),
        "A claim (a list or space-separated names) whose values are the user's groups, e.g. ``permissions``.",
    )
    MIRROR_GROUPS = Setting(
        False, FLAG, "True: groups named in ``GROUPS_CLAIM`` that do not exist are created; False: they are skipped."
    )
    USERINFO = Setting(
        False,
        FLAG,
        "True: fill ``USER_FIELDS`` the token lacks from the issuer's ``/userinfo``, fetched with the request's "
        "token (when its ``aud`` includes it) in the background, for a new user and once per ``USERINFO_INTERVAL``.",
    )
    USERINFO_INTERVAL = Setting(
        86400, NUMBER, "Seconds (a day) before a user's ``/userinfo`` profile is fetched again."
    )
    # Scopes.
    SCOPE_CLAIMS = Setting(
        ["scope", "permissions"],
        subset("scope", "permissions", "scp"),
        "Where scopes come from: any of ``scope``, ``permissions``, ``scp``, in order.",
    )
    CLAIMS_NAMESPACE = Setting("", TEXT, "Prefix for ``claims.custom(name)``, e.g. ``https://myapp.example/``.")
    # Recording custom claims for the admin.
    RECORD_CLAIMS = Setting(
        True, FLAG, "Record the custom claims of verified tokens for the admin; False turns it off."
    )
    RECORD_INTERVAL = Setting(300, NUMBER, "Seconds between writes for an unchanged subject.")
    RECORD_MAX_ROWS = Setting(1000, WHOLE_NUMBER, "Recorded rows kept (the most recently seen); pruned automatically.")
    RECORD_MAX_AGE = Setting(30 * 86400, NUMBER, "Seconds (30 days) after its last sighting a record is pruned.")
    RECORD_MAX_CHANGES_PER_SUBJECT = Setting(
        20, WHOLE_NUMBER, "Custom-claim changes kept per recorded subject (the newest); 0 keeps no history."
    )
    RECORD_MAX_CHANGES = Setting(
        5000, WHOLE_NUMBER, "Custom-claim changes kept in all (the newest); pruned automatically."
    )
    # Counting rejections for the admin.
    RECORD_REJECTIONS = Setting(
        True, FLAG, "Count rejections (code, verified issuer and client, 10-minute bucket) for the admin."
    )
    REJECTIONS_INTERVAL = Setting(60, NUMBER, "Seconds between two writes of rejection counts by one process.")
    REJECTIONS_MAX_AGE = Setting(7 * 86400, NUMBER, "Seconds (7 days) rejection counts are kept; pruned automatically.")
    REJECTIONS_MAX_ROWS = Setting(
        20000, WHOLE_NUMBER, "Rows of rejection counts kept (the newest buckets); pruned automatically."
    )
    STANDARD_CLAIMS = Setting(
        [
            "iss",
            "sub",
            "aud",
            "exp",
            "nbf",
            "iat",
            "jti",
            "azp",
            "scope",
            "scp",
            "permissions",
            "gty",
            "client_id",
            "cnf",
            "auth_time",
            "acr",
            "amr",
            "sid",
            "org_id",
            "org_name",
        ],
        strings(gettext_noop("claim names"), "['https://myapp.example/secret']"),
        "Claims that are not custom claims (the admin records the others).",
    )
    REDACTED_CLAIMS = Setting(
        [],
        strings(gettext_noop("claim names"), "['https://myapp.example/secret']"),
        'Claim names recorded with their value replaced by ``"[redacted]"``.',
    )
    # Claim rules applied to every token (see auth0_drf.rules); a rule or its dotted path.
    CLAIM_RULES: Setting[Sequence[object]] = Setting(
        [],
        entries(gettext_noop("claim rules"), "['myapp.rules.TenantIsAcme']"),
        "Rules every token must satisfy (rules or dotted paths to them), "
        "e.g. ``[ClaimEquals('https://myapp.example/tenant', 'acme')]``.",
    )
    # DPoP (RFC 9449).
    DPOP: Setting[DPoPMode] = Setting(
        "off",
        choice(*get_args(DPoPMode)),
        "DPoP (RFC 9449): ``off``, ``allowed`` (Bearer and DPoP) or ``required`` (DPoP only).",
    )
    DPOP_PROOF_MAX_AGE = Setting(300, NUMBER, "Seconds a proof's ``iat`` may lie in the past.")
    DPOP_REPLAY_CACHE = Setting(
        None, CACHE_ALIAS, "A Django cache alias for used proof ``jti`` values, shared by workers; None: in-process."
    )
    DPOP_ALGORITHMS = Setting(
        ["ES256", "PS256", "RS256", "EdDSA"],
        strings(gettext_noop("algorithm names"), "['ES256']"),
        "Algorithms accepted for DPoP proofs (asymmetric only); advertised in ``algs``.",
    )
    # A local development issuer (the demo's, never for production; needs DEBUG).
    DEV_ISSUER = Setting(
        False, FLAG, "A local development issuer whose tokens ``manage.py auth0_mint`` mints (requires ``DEBUG``)."
    )
    DEV_ISSUER_KEY_FILE = Setting(
        ".auth0_drf_dev_key.pem",
        FILE_PATH,
        "Where the development issuer keeps its private key (relative to ``BASE_DIR``; keep it out of git).",
    )
    # OpenAPI (drf-spectacular, see auth0_drf.openapi): what Swagger UI's Authorize button does.
    OPENAPI_SCHEME: Setting[OpenAPIScheme] = Setting(
        "bearer",
        choice(*get_args(OpenAPIScheme)),
        "The schema's security scheme: ``bearer`` (paste a token), ``oauth2`` (Auth0's authorization code flow) "
        "or ``openIdConnect`` (the issuer's discovery document).",
    )

    def __init__(self, defaults: Mapping[str, Any] | None = None) -> None:
        self.defaults = defaults or DEFAULTS
        self._issuers: tuple[IssuerConfig, ...] | None = None
        self._reset_callbacks: list[Callable[[], None]] = []

    @property
    def user_settings(self) -> dict[str, Any]:
        """Return ``settings.AUTH0_DRF`` (``{}`` when unset)."""
        return getattr(django_settings, "AUTH0_DRF", None) or {}

    if not TYPE_CHECKING:
        # Hidden from type checkers, so that a misspelt setting is a type error; at run time the
        # error names the setting.

        def __getattr__(self, name: str) -> Any:
            if name not in self.defaults:
                raise AttributeError(f"Invalid AUTH0_DRF setting: {name!r}")
            value = self.user_settings.get(name, self.defaults[name])
            self.__dict__[name] = value
            return value

    @property
    def issuers(self) -> tuple[IssuerConfig, ...]:
        """Return every accepted issuer, from ``ISSUERS`` or from ``DOMAIN``/``ISSUER``."""
        if self._issuers is not None:
            return self._issuers
        configs: list[IssuerConfig] = []
        for entry in self.ISSUERS or []:
            issuer = derive_issuer(entry.get("ISSUER"), entry.get("DOMAIN"))
            audiences = as_tuple(entry.get("AUDIENCE", self.AUDIENCE))
            discovery = bool(entry.get("DISCOVERY", self.DISCOVERY))
            jwks_uri = entry.get("JWKS_URI") or (None if discovery else default_jwks_uri(issuer))
            configs.append(IssuerConfig(issuer, audiences, jwks_uri, discovery))
        issuer = derive_issuer(self.ISSUER, self.DOMAIN)
        if issuer and all(c.issuer != issuer for c in configs):
            jwks_uri = self.JWKS_URI or (None if self.DISCOVERY else default_jwks_uri(issuer))
            configs.insert(0, IssuerConfig(issuer, as_tuple(self.AUDIENCE), jwks_uri, bool(self.DISCOVERY)))
        self._issuers = tuple(configs)
        return self._issuers

    def on_reset(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever the settings change (caches built from them must go)."""
        self._reset_callbacks.append(callback)

    def reload(self) -> None:
        """Forget cached values and everything built from them."""
        self._issuers = None
        for name in [name for name in list(self.__dict__) if name in SETTINGS or name in self.defaults]:
            del self.__dict__[name]
        for callback in self._reset_callbacks:
            callback()


#: The table of every setting, in the order declared (the docs' settings page is generated from it).
SETTINGS: dict[str, Setting[Any]] = {
    name: value for name, value in vars(Auth0Settings).items() if isinstance(value, Setting)
}

#: Every setting with its default, derived from ``SETTINGS``.
DEFAULTS: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}

auth0_settings = Auth0Settings()


@receiver(setting_changed)
def _reload_auth0_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "AUTH0_DRF":
        auth0_settings.reload()


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
