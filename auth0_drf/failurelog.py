"""Failures of work a request only triggers (recording claims, counting rejections): logged, never raised.

A database that is down would otherwise log one WARNING per request: ``FailureLog`` logs one
per ``warn_every`` seconds and the rest at DEBUG, on the ``auth0_drf`` logger.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("auth0_drf")


class FailureLog:
    """Mixin: ``_log_failure()`` for a writer with a ``timer``, a ``warn_every``, a ``_lock`` and a ``_last_warning``.

    Only the exception's class and the first line of its message are logged: the database's
    message names the table and the constraint (tokens are never sent to the database), while the
    lines after it (PostgreSQL's DETAIL and CONTEXT) may quote the data being written.
    """

    timer: Callable[[], float]
    #: Minimum seconds between two warnings about failed writes (the rest are logged at DEBUG).
    warn_every: float = 60
    _lock: threading.Lock
    _last_warning: float | None

    def _failure_message(self, exc: Exception) -> str:
        return str(exc).strip().split("\n", 1)[0][:300]

    def _log_failure(self, action: str, exc: Exception) -> None:
        now = self.timer()
        with self._lock:
            loud = self._last_warning is None or now - self._last_warning >= self.warn_every
            if loud:
                self._last_warning = now
        logger.log(
            logging.WARNING if loud else logging.DEBUG,
            "auth0_drf: could not %s (the request goes on): %s: %s",
            action,
            type(exc).__name__,
            self._failure_message(exc),
        )
