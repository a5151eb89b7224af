"""Share fetched key sets between worker processes through a Django cache (``JWKS_SHARED_CACHE``).

A copy is the raw JWKS with its ``Cache-Control`` max-age and fetch time, stored under
``shared_key(jwks_uri)`` once it proved to hold usable keys. Whoever can write to that cache is
not the issuer, so every worker checks, parses and filters a copy itself, ignores one it cannot
use, and keeps an adopted copy only for what remains of its lifetime.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .fetch import FetchError, FetchResult
from .keys import FetchedKeys, checked_keys

if TYPE_CHECKING:
    from django.core.cache.backends.base import BaseCache

logger = logging.getLogger("auth0_drf")


def shared_key(uri: str) -> str:
    """Return the shared cache's key for the copy of the JWKS at ``uri`` (as docs/security.md documents it)."""
    return "auth0_drf:jwks:" + hashlib.sha256(uri.encode()).hexdigest()


def fetching_key(uri: str) -> str:
    """Return the key of the marker a worker adds while it fetches the JWKS at ``uri`` for all."""
    return shared_key(uri) + ":fetching"


class KeyShare:
    """One process's access to the key sets shared in ``cache`` (None: nothing is shared).

    ``lifetime(max_age)`` turns a copy's max-age into seconds of use, as for keys fetched here;
    ``clock`` is the wall clock copies are dated with (shared by processes, so not monotonic);
    ``claim_timeout`` is how long a worker's claim to fetch for all may hold the others back.
    Errors of the cache itself are logged and never fail a key lookup: without the cache, each
    worker fetches for itself.
    """

    #: Seconds between looks for another worker's copy while it fetches.
    poll_interval = 0.05

    def __init__(
        self,
        cache: BaseCache | None,
        *,
        lifetime: Callable[[int | None], float],
        clock: Callable[[], float],
        claim_timeout: int,
    ) -> None:
        self.cache = cache
        self.lifetime = lifetime
        self.clock = clock
        self.claim_timeout = claim_timeout
        self.newest_seen = 0.0  # the fetch time of the newest copy this process has used or shared

    def fetch(self, uri: str, deadline: float, get: Callable[[], FetchResult]) -> FetchedKeys:
        """Return the keys at ``uri``: a newer copy another worker shared, or those ``get()`` fetches.

        Workers that need keys at the same moment (a cold start under load) would all fetch: the
        first to add a short-lived marker fetches, the others wait (until ``deadline``, a
        ``time.monotonic()`` value) for its copy. Raises ``FetchError`` when the fetch fails.
        """
        shared = self.read(uri)
        if shared is not None:
            return shared
        claimed = self._claim(uri)
        # Claimed: the previous holder may have shared its copy just before letting go; look again.
        shared = self.read(uri) if claimed else self._wait(uri, deadline)
        if shared is not None:
            if claimed:
                self._release(uri)
            return shared
        try:
            result = get()
            keys, digest = checked_keys(result.data, uri)
            # Shared only once it proved to hold keys: other workers never adopt garbage from us.
            self._write(uri, result)
        finally:
            if claimed:
                self._release(uri)
        return FetchedKeys(keys, digest, self.lifetime(result.max_age))

    def read(self, uri: str) -> FetchedKeys | None:
        """Return the keys of a usable copy newer than any this process used, or None."""
        if self.cache is None:
            return None
        try:
            entry = self.cache.get(shared_key(uri))
        except Exception:
            logger.warning("auth0_drf: the shared JWKS cache could not be read", exc_info=True)
            return None
        if entry is None:
            return None
        try:
            return self._adopt(entry, uri)
        except Exception as exc:
            # Whoever can write to the shared cache is not the issuer: a copy that is not what
            # we write is ignored, and the keys are fetched from the issuer instead.
            reason = str(exc) if isinstance(exc, FetchError) else type(exc).__name__
            logger.warning("auth0_drf: ignoring the shared copy of the JWKS from %s (%s)", uri, reason)
            return None

    def _adopt(self, entry: Any, uri: str) -> FetchedKeys | None:
        """Return the keys of a shared copy, None when it cannot help, or raise for a malformed one."""
        if not isinstance(entry, dict):
            raise FetchError(f"it is a {type(entry).__name__}, not a dict")
        fetched, max_age = entry.get("fetched"), entry.get("max_age")
        if isinstance(fetched, bool) or not isinstance(fetched, (int, float)) or not math.isfinite(fetched):
            raise FetchError("its fetch time is not a number")
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0):
            raise FetchError("its max-age is not a number of seconds")
        # Only a copy newer than ours helps: an unknown kid needs keys fetched after our own.
        if fetched <= self.newest_seen:
            return None
        # Its age counts against its lifetime; a fetch time in the future (a clock ahead on the
        # writer's host) counts as now, so that no copy lives longer than one lifetime.
        age = max(0.0, self.clock() - fetched)
        lifetime = self.lifetime(max_age)
        if age >= lifetime:
            return None  # past its lifetime (a backend that keeps entries beyond their timeout)
        keys, digest = checked_keys(entry.get("data"), f"{uri} (shared copy)")
        self.newest_seen = fetched
        return FetchedKeys(keys, digest, lifetime, age)

    def _claim(self, uri: str) -> bool:
        if self.cache is None:
            return True
        try:
            return bool(self.cache.add(fetching_key(uri), 1, timeout=self.claim_timeout))
        except Exception:
            logger.warning("auth0_drf: the shared JWKS cache could not be written", exc_info=True)
            return True

    def _release(self, uri: str) -> None:
        if self.cache is None:
            return
        try:
            self.cache.delete(fetching_key(uri))
        except Exception:
            logger.warning("auth0_drf: the shared JWKS cache could not be written", exc_info=True)

    def _wait(self, uri: str, deadline: float) -> FetchedKeys | None:
        """Wait until ``deadline`` for another process's fetch; None means fetch ourselves."""
        cache = self.cache
        if cache is None:  # no cache, no other process's fetch to wait for
            return None
        while time.monotonic() < deadline:
            time.sleep(min(self.poll_interval, max(deadline - time.monotonic(), 0)))
            shared = self.read(uri)
            if shared is not None:
                return shared
            try:
                if cache.get(fetching_key(uri)) is None:
                    return self.read(uri)  # the other fetch ended without a copy: ours
            except Exception:
                return None
        return None

    def _write(self, uri: str, result: FetchResult) -> None:
        if self.cache is None:
            return
        fetched = self.clock()
        self.newest_seen = fetched
        try:
            self.cache.set(
                shared_key(uri),
                {"data": result.data, "max_age": result.max_age, "fetched": fetched},
                timeout=self.lifetime(result.max_age),
            )
        except Exception:
            logger.warning("auth0_drf: the shared JWKS cache could not be written", exc_info=True)
