"""Settings of the benchmark: a bare DRF API on in-memory SQLite, with auth0_drf and a simplejwt peer.

AUTH0_DRF and SIMPLE_JWT are filled in by bench.py once its local issuer and key exist.
"""

import os

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "benchmarks.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "auth0_drf",
]
# The same middleware for every row, so that differences between rows are authentication alone.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
# scale.py needs a file, so that worker processes share the database cache.
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("AUTH0_DRF_BENCH_DB", ":memory:")}
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "jwks": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "auth0_drf_bench_jwks"},
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "auth0_drf.exceptions.exception_handler",
}
AUTH0_DRF = {"ISSUER": "https://unconfigured.invalid/", "AUDIENCE": "https://api.example.test/", "RECORD_CLAIMS": False}
LOGGING = {"version": 1, "disable_existing_loggers": False, "loggers": {"auth0_drf": {"level": "WARNING"}}}
