"""Settings of the demo project, read from the environment with django-environ.

Public interface (keep these names): AUTH0_DOMAIN, AUTH0_AUDIENCE, AUTH0_ISSUER, AUTH0_JWKS_URI,
DATABASE_URL; optional: AUTH0_ALGORITHMS, AUTH0_DPOP ("off", "allowed" or "required"),
AUTH0_DISCOVERY, AUTH0_OPENAPI_SCHEME ("bearer", "oauth2" or "openIdConnect": what Swagger UI's
Authorize button does), AUTH0_SPA_CLIENT_ID (the Auth0 application Swagger UI logs in with) and
CORS_ALLOWED_ORIGINS (comma-separated origins of single-page apps allowed to call the API from a browser).
With neither AUTH0_DOMAIN nor AUTH0_ISSUER set and DEBUG on, the demo is its own local development
issuer (see auth0_drf.dev_issuer), so it runs with no Auth0 tenant.
With AUTH0_ISSUER and no AUTH0_JWKS_URI, the keys' location is read from the issuer's OpenID
discovery document (any OpenID provider, not only Auth0, keeps its keys where that says).
"""

import importlib.util
from pathlib import Path
from typing import Any

import django
import environ
from corsheaders.defaults import default_headers as corsheaders_default_headers

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated variable; "a, b" means ["a", "b"] (env.list would keep " b")."""
    return [item.strip() for item in env.list(name, default=default) if item.strip()]


DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="django-insecure-auth0-drf-demo-only-never-in-production")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "auth0_drf",
    "demo_project.api",
]

MIDDLEWARE = [
    # First: it answers CORS preflights itself, before anything (authentication included) can refuse them.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before CommonMiddleware (Django's documented place): error bodies in the
    # client's Accept-Language; WWW-Authenticate stays English whatever the language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers wait up to 20 s for the lock instead of failing with "database is locked" under threads.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    if django.VERSION >= (5, 1):
        # Transactions take the write lock when they begin, so that they queue for it. Before
        # Django 5.1 (no such option) a transaction that reads, then writes can still find the
        # lock taken: auth0_drf retries creating a user then, and answers 503 if it keeps failing.
        DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # 4-byte UTF-8, so that any subject fits (MySQL's "utf8" stops at 3 bytes). Needs the driver:
    # pip install "auth0-drf[mysql]".
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("charset", "utf8mb4")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
# The languages auth0_drf's messages are translated into (auth0_drf/locale), plus English.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("pt-br", "Português (Brasil)"),
    ("ja", "日本語"),
]
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"

REST_FRAMEWORK = {
    # auth0_drf first: DRF takes a 401's WWW-Authenticate challenge from the first class only.
    "DEFAULT_AUTHENTICATION_CLASSES": ["auth0_drf.authentication.Auth0Authentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "demo_project.api.negotiation.JSONFallbackNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "demo_project.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "auth0_drf.exceptions.exception_handler",
}

# OpenAPI, when drf-spectacular is installed (optional): /api/schema/ and Swagger UI at /api/docs/,
# showing the security scheme AUTH0_OPENAPI_SCHEME chooses and each operation's scopes (auth0_drf.openapi).
OPENAPI = importlib.util.find_spec("drf_spectacular") is not None
# drf-spectacular-sidecar serves Swagger UI from this site, not a CDN: Swagger UI's OAuth2 login returns to
# its oauth2-redirect.html, which must be on the same origin as /api/docs/.
OPENAPI_SIDECAR = OPENAPI and importlib.util.find_spec("drf_spectacular_sidecar") is not None
if OPENAPI:
    INSTALLED_APPS.append("drf_spectacular")
    REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
    SPECTACULAR_SETTINGS: dict[str, Any] = {
        "TITLE": "auth0_drf demo API",
        "VERSION": "1.0.0",
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "auth0_drf.openapi.describe_scopes",
        ],
    }
    if OPENAPI_SIDECAR:
        INSTALLED_APPS.append("drf_spectacular_sidecar")
        SPECTACULAR_SETTINGS.update(SWAGGER_UI_DIST="SIDECAR", SWAGGER_UI_FAVICON_HREF="SIDECAR", REDOC_DIST="SIDECAR")

# --- auth0_drf -------------------------------------------------------------------------------
AUTH0_DOMAIN = env("AUTH0_DOMAIN", default="")
AUTH0_ISSUER = env("AUTH0_ISSUER", default="")
AUTH0_JWKS_URI = env("AUTH0_JWKS_URI", default="")
# No tenant configured: act as a local development issuer (only ever with DEBUG on).
DEV_ISSUER = DEBUG and not AUTH0_DOMAIN and not AUTH0_ISSUER
DEV_ISSUER_URL = env("AUTH0_DEV_ISSUER_URL", default="http://127.0.0.1:8000/")
DEV_AUDIENCE = "https://auth0-drf-demo/api"

_audiences = env_list("AUTH0_AUDIENCE", default=[DEV_AUDIENCE] if DEV_ISSUER else [])

AUTH0_DRF = {
    "DOMAIN": AUTH0_DOMAIN or None,
    "ISSUER": AUTH0_ISSUER or (DEV_ISSUER_URL if DEV_ISSUER else None),
    "AUDIENCE": _audiences[0] if len(_audiences) == 1 else _audiences,
    "JWKS_URI": AUTH0_JWKS_URI or None,
    # An issuer given as a URL may be any OpenID provider, whose keys need not be at Auth0's
    # /.well-known/jwks.json: ask its discovery document (Auth0 publishes one too).
    "DISCOVERY": env.bool("AUTH0_DISCOVERY", default=bool(AUTH0_ISSUER and not AUTH0_JWKS_URI and not AUTH0_DOMAIN)),
    "ALGORITHMS": env_list("AUTH0_ALGORITHMS", default=["RS256"]),
    "DPOP": env("AUTH0_DPOP", default="off"),
    "CLAIMS_NAMESPACE": env("AUTH0_CLAIMS_NAMESPACE", default="https://auth0-drf-demo/"),
    # Claims to user fields and roles to groups (docs/users.md): bare names read
    # {CLAIMS_NAMESPACE}email and so on, which `auth0_mint --email --name --role` and the Auth0
    # Action in docs/users.md put in the token. The `editor` group may view and add messages
    # (migration api/0002): /api/role-messages checks Django's model permissions.
    "USER_FIELDS": {"email": "email", "first_name": "given_name", "last_name": "family_name"},
    "GROUPS_CLAIM": "roles",
    # AUTH0_USERINFO=1: fill those fields from the issuer's /userinfo when the token lacks them
    # (`auth0_mint --userinfo --email ... --name ...` shows it with the development issuer).
    "USERINFO": env.bool("AUTH0_USERINFO", default=False),
    "DEV_ISSUER": DEV_ISSUER,
    "DEV_ISSUER_KEY_FILE": ".auth0_drf_dev_key.pem",
    "OPENAPI_SCHEME": env("AUTH0_OPENAPI_SCHEME", default="bearer"),
}


def swagger_ui_settings(scheme: str, client_id: str, audience: str) -> dict[str, Any]:
    """Return the ``SPECTACULAR_SETTINGS`` entries that let Swagger UI log in with ``scheme`` (README, "OpenAPI").

    An Auth0 application (``client_id``, a Single Page Application: no secret in the browser) logs in with
    the authorization code flow and PKCE. In oauth2 mode the schema's authorization URL already carries the
    audience; an openIdConnect scheme has no URL of ours, so Swagger UI adds it to the request (Auth0 would
    otherwise issue a token for its /userinfo only). Sending it both ways would repeat the parameter.
    """
    if scheme not in ("oauth2", "openIdConnect"):
        return {}
    oauth2: dict[str, Any] = {"clientId": client_id, "usePkceWithAuthorizationCodeGrant": True}
    if scheme == "openIdConnect":
        oauth2["additionalQueryStringParams"] = {"audience": audience}
    return {"SWAGGER_UI_OAUTH2_CONFIG": oauth2}


if OPENAPI:
    SPECTACULAR_SETTINGS.update(
        swagger_ui_settings(
            AUTH0_DRF["OPENAPI_SCHEME"], env("AUTH0_SPA_CLIENT_ID", default=""), _audiences[0] if _audiences else ""
        )
    )

# --- Cross-origin single-page apps (django-cors-headers; docs/spa.md) -------------------------------
# A browser sends a preflight OPTIONS without the token before a cross-origin call with an Authorization
# header: CorsMiddleware answers it, and adds Access-Control-Allow-Origin to every answer (401s too), for
# the origins listed here only. With the development issuer, the usual local SPA dev servers are allowed.
DEV_CORS_ALLOWED_ORIGINS = [
    "http://localhost:3000",  # create-react-app, Next.js
    "http://127.0.0.1:3000",
    "http://localhost:5173",  # Vite
    "http://127.0.0.1:5173",
]
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", default=DEV_CORS_ALLOWED_ORIGINS if DEV_ISSUER else [])
CORS_URLS_REGEX = r"^/(api|\.well-known|dev-issuer)/"
# authorization is among the defaults; dpop carries DPoP proofs (AUTH0_DPOP).
CORS_ALLOW_HEADERS = (*corsheaders_default_headers, "dpop")
# So that the SPA can read why a token was refused (a 401's challenge names the error).
CORS_EXPOSE_HEADERS = ["WWW-Authenticate"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"auth0_drf": {"handlers": ["console"], "level": env("AUTH0_DRF_LOG_LEVEL", default="INFO")}},
}

# --- Several workers: keys and DPoP proofs shared through Redis (docs/workers.md) --------------
# AUTH0_REDIS_URL (e.g. redis://127.0.0.1:6379/0) gives the demo a Redis cache, "auth0", through which
# its worker processes share fetched key sets (one JWKS fetch for all of them) and the DPoP proofs they
# have seen (a proof replayed to another worker is refused). Unset, each process keeps its own.
ASGI_APPLICATION = "demo_project.asgi.application"
AUTH0_REDIS_URL = env("AUTH0_REDIS_URL", default="")
if AUTH0_REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "auth0": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": AUTH0_REDIS_URL,
            "KEY_PREFIX": "auth0-drf-demo",
            # A Redis that stops answering must not hang requests: its errors are 503s (replay
            # cache) or a fetch of the keys by each worker (shared key cache), after one second.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    AUTH0_DRF.update(JWKS_SHARED_CACHE="auth0", DPOP_REPLAY_CACHE="auth0")
