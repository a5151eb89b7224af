"""Test settings: the demo's settings, with a database file so threads can share it."""

import os
import tempfile

os.environ.setdefault("DJANGO_DEBUG", "false")

from demo_project.settings import *  # noqa: E402,F401,F403
from demo_project.settings import DATABASES, AUTH0_DRF  # noqa: E402

# A file, not SQLite's shared in-memory database: concurrency tests use several connections.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.gettempdir(), f"auth0_drf_test_{os.getpid()}.sqlite3")}

if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # MySQL/MariaDB (bin/test-mysql): the test database Django creates is 4-byte UTF-8 too (the
    # demo's settings set the connection's); its default, case-insensitive collation is kept on
    # purpose, since that is what auth0_drf must be exact under.
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
# Each test points auth0_drf at its own local issuer (the auth0_issuer fixture).
AUTH0_DRF = {**AUTH0_DRF, "DEV_ISSUER": False, "ISSUER": "https://unconfigured.invalid/", "AUDIENCE": "https://api.example.test/"}
