"""The demo's settings with Django's default SQLite options: what a project gets that did not configure SQLite.

The demo waits 20 s for SQLite's lock and, on Django 5.1+, begins transactions IMMEDIATE (see
docs/workers.md); this module undoes both, so that first requests meet SQLite as it is by default
(a 5 s timeout, deferred transactions that fail with "database is locked" when they read, then write).
"""

from demo_project.settings import *  # noqa: F403
from demo_project.settings import DATABASES

DATABASES["default"].get("OPTIONS", {}).pop("timeout", None)
DATABASES["default"].get("OPTIONS", {}).pop("transaction_mode", None)
