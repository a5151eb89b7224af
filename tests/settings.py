"""Settings of the test suite, standing alone: nothing is read from the demo's settings module.

The tests exercise the demo's API (``demo_project.api``, ``demo_project.urls``), so its app, URLs and
REST framework configuration are here too, written out. The database comes from ``DATABASE_URL``
(SQLite in a temporary file when unset or empty; ``bin/test-postgres`` sets a PostgreSQL URL).
Each test points auth0_drf at its own issuer (the pytest plugin's ``auth0_issuer`` fixture).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

import environ
from corsheaders.defaults import default_headers as corsheaders_default_headers

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = False
SECRET_KEY = "auth0-drf-tests-only-" + "x" * 40
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]

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
    # A custom user model without email, names or groups, for USER_FIELDS' system check; never AUTH_USER_MODEL
    # but in the tests that say so.
    "tests.plainuser",
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"

# The demo's CORS setup (tests/test_spa.py): no origin is allowed unless a test allows one.
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_URLS_REGEX = r"^/(api|\.well-known|dev-issuer)/"
CORS_ALLOW_HEADERS = (*corsheaders_default_headers, "dpop")
CORS_EXPOSE_HEADERS = ["WWW-Authenticate"]

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

# A file, not SQLite's shared in-memory database: the concurrency tests use several connections.
# Only the timeout, not the demo's transaction_mode: auth0_drf must cope with SQLite's default
# (deferred) transactions, which every Django version has.
_SQLITE_TEST_FILE = os.path.join(tempfile.gettempdir(), f"auth0_drf_test_{os.getpid()}.sqlite3")
_DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": environ.Env.db_url_config(_DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["TEST"] = {"NAME": _SQLITE_TEST_FILE}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # 4-byte UTF-8 on the connection and in the test database Django creates, so that any subject
    # fits (MySQL's "utf8" stops at 3 bytes); the default, case-insensitive collation is kept on
    # purpose, since that is what auth0_drf must be exact under.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("charset", "utf8mb4")
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK: dict[str, Any] = {
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

# OpenAPI as the demo serves it (demo_project.urls reads OPENAPI and OPENAPI_SIDECAR), when
# drf-spectacular is installed; tests/test_openapi.py skips without it.
OPENAPI = importlib.util.find_spec("drf_spectacular") is not None
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

# No issuer anyone can reach: each test installs its own (the auth0_issuer fixture), and a test
# that forgets gets invalid_issuer, never a real tenant. The namespace is the demo's, whose
# custom claims the tests send.
AUTH0_DRF: dict[str, Any] = {
    "ISSUER": "https://unconfigured.invalid/",
    "AUDIENCE": "https://api.example.test/",
    "CLAIMS_NAMESPACE": "https://auth0-drf-demo/",
    "DEV_ISSUER": False,
    "DEV_ISSUER_KEY_FILE": ".auth0_drf_dev_key.pem",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"auth0_drf": {"level": "INFO"}},
}
