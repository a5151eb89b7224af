"""Keep an issuer's signing keys fresh: a cache over a key source (a JWKS URI, discovery, or fixed keys).

Unlike PyJWT's ``PyJWKClient``, a failed refresh keeps the keys that were still good, and
unknown ``kid`` values cannot make us fetch more than once per ``refetch_cooldown``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .conf import Auth0Settings
from .errors import KeysUnavailable, UnknownKey
from .fetch import FetchError, discover_jwks_uri
from .keys import (
    MIN_RSA_BITS,
    SUPPORTED_ALGORITHMS,
    FetchedKeys,
    KeySet,
    SigningKey,
    fingerprint,
    parse_jwk,
    parse_jwks,
)
from .keyshare import KeyShare

if TYPE_CHECKING:
    from django.core.cache.backends.base import BaseCache

# The key sources live in keysources.py, the keys in keys.py; names that lived here still import from here.
__all__ = [
    "JWKSCache",
    "KeySource",
    "MIN_RSA_BITS",
    "SUPPORTED_ALGORITHMS",
    "KeySet",
    "SigningKey",
    "discover_jwks_uri",
    "parse_jwk",
    "parse_jwks",
]

logger = logging.getLogger("auth0_drf")


class KeySource(Protocol):
    """Where one issuer's JWKS comes from: ``JWKSCache`` decides when to ask, the source how.

    ``fetch(cache, deadline)`` returns the keys, or raises ``FetchError`` (anything else it
    raises is a failed fetch too, logged as unexpected). Each network call gets its timeout
    from ``cache.time_left(deadline, what)``, so that one key lookup ends by ``deadline``. A
    ``static`` source is asked once, when its cache is built, and never again. A source serves
    one cache, which calls it under its lock.
    """

    static: bool

    @property
    def jwks_uri(self) -> str | None:
        """The URI the keys come from, when there is one (for messages)."""

    def fetch(self, cache: JWKSCache, deadline: float) -> FetchedKeys:
        """Return the issuer's keys now, or raise ``FetchError``."""


class JWKSCache:
    """The signing keys of one issuer, fetched on demand from ``source`` and shared by all threads.

    ``source`` says where the keys are (``auth0_drf.keysources``: a JWKS URI, discovery, or
    fixed keys). One fetch runs at a time; callers without a usable key wait for it and use its
    result, while a scheduled refresh never holds up callers that still have keys. Keys are
    refreshed after their lifetime (the JWKS's ``Cache-Control: max-age`` within bounds, or
    ``ttl``). A failed fetch keeps the current keys for up to ``max_staleness`` seconds and is
    retried after a backoff that doubles from 1 s up to ``refetch_cooldown``; an unknown ``kid``
    causes at most one refetch per ``refetch_cooldown``. One key lookup, however many fetches it
    needs (a refresh, a refetch, discovery), ends within ``timeout`` seconds. With
    ``shared_cache`` (a Django cache), worker processes share fetched keys (``auth0_drf.keyshare``).
    """

    timer: Callable[[], float] = staticmethod(time.monotonic)
    #: The clock that dates copies in ``shared_cache``: shared by processes, so the wall clock.
    wall_clock: Callable[[], float] = staticmethod(time.time)

    def __init__(
        self,
        source: KeySource,
        *,
        ttl: float = Auth0Settings.JWKS_CACHE_TTL.default,
        min_ttl: float = Auth0Settings.JWKS_MIN_TTL.default,
        max_ttl: float = Auth0Settings.JWKS_MAX_TTL.default,
        max_staleness: float = Auth0Settings.JWKS_MAX_STALENESS.default,
        refetch_cooldown: float = Auth0Settings.JWKS_REFETCH_COOLDOWN.default,
        timeout: float = Auth0Settings.JWKS_TIMEOUT.default,
        max_bytes: int = Auth0Settings.JWKS_MAX_BYTES.default,
        shared_cache: BaseCache | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.ttl, self.min_ttl, self.max_ttl = ttl, min_ttl, max_ttl
        self.max_staleness = max_staleness
        self.refetch_cooldown = refetch_cooldown
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.on_change = on_change
        # The wall clock is read through self, so that swapping wall_clock reaches the share too.
        self.share = KeyShare(
            shared_cache, lifetime=self.lifetime, clock=lambda: self.wall_clock(), claim_timeout=int(timeout) + 1
        )
        self.keys: KeySet | None = None
        self.fingerprint = ""
        self.generation = 0  # bumped whenever the usable key set changes
        self.fetch_count = 0
        self.last_error: str | None = None
        self._fresh_until = 0.0
        self._last_success = 0.0
        self._last_attempt: float | None = None
        self._last_forced: float | None = None  # the last refetch caused by an unknown kid
        self._failures = 0  # consecutive failed fetches
        self._retry_at = 0.0  # after a failure, nothing is fetched before this time
        self._lock = threading.Lock()
        #: Whether the keys are fixed (a static source): read on every cached token, so a plain attribute.
        self.static = self.source.static
        if self.static:
            self._install(self.source.fetch(self, self.lookup_deadline()))

    # --- public API ---------------------------------------------------------------------

    @property
    def jwks_uri(self) -> str | None:
        """The URI the keys come from, when the source has one (discovery: once it found it)."""
        return self.source.jwks_uri

    def expire(self) -> None:
        """Make the keys due for a refresh: the next lookup fetches them (keeping them if that fails)."""
        self._fresh_until = 0.0

    def lookup_deadline(self) -> float:
        """Return the ``time.monotonic()`` by which a key lookup starting now must end."""
        return time.monotonic() + self.timeout

    def get_signing_key(self, kid: str | None, alg: str, *, deadline: float | None = None) -> SigningKey:
        """Return the key for ``kid`` and ``alg``, fetching the JWKS when needed.

        Raises ``UnknownKey`` when no key fits even after an allowed refetch, and
        ``KeysUnavailable`` when no keys have ever been obtained. Every fetch this needs ends
        by ``deadline`` (a ``time.monotonic()`` value; default: ``timeout`` seconds from now).
        """
        if deadline is None:
            deadline = self.lookup_deadline()
        keys = self.keys
        if keys is None or self.timer() >= self._fresh_until:
            keys = self._refresh(force=False, deadline=deadline)
        key = keys.find(kid, alg)
        if key is None:
            # A new key after rotation appears under a new kid: refetch once, rate-limited.
            keys = self._refresh(force=True, seen_generation=self.generation, deadline=deadline)
            key = keys.find(kid, alg)
        if key is None:
            raise UnknownKey()
        return key

    def renewed_key(self, stale: SigningKey, alg: str, *, deadline: float | None = None) -> SigningKey | None:
        """Return the key now published under ``stale``'s kid, after a refetch, or None.

        For a signature that ``stale`` does not verify: the refetch is rate-limited like an
        unknown kid's (at most one per ``refetch_cooldown``), so bad signatures cannot cause a
        fetch storm either. None when nothing was fetched or the key is unchanged. Pass the
        ``deadline`` given to ``get_signing_key``, so that both together stay within it.
        """
        if self.static:
            return None
        if deadline is None:
            deadline = self.lookup_deadline()
        try:
            keys = self._refresh(force=True, seen_generation=self.generation, deadline=deadline)
        except KeysUnavailable:
            return None
        key = keys.find(stale.kid, alg)
        return None if key is None or key is stale or key == stale else key

    def is_fresh(self) -> bool:
        """Return whether the keys are within their lifetime (no refresh is due)."""
        return self.static or self.timer() < self._fresh_until

    def preload(self, data: Mapping[str, Any], *, static: bool = False) -> None:
        """Install a JWKS document without fetching it.

        With ``static``, these keys are the issuer's keys for good and the source is never asked
        again (as if it were a ``StaticJWKS``).
        """
        with self._lock:
            self._install(FetchedKeys(parse_jwks(data), fingerprint(data), self.ttl))
            self.static = self.static or static

    def seconds_until_retry(self) -> int:
        """Return how long a caller should wait before keys may be fetched again."""
        if self._failures:
            return max(1, int(self._retry_at - self.timer() + 0.999))
        if self._last_attempt is None:
            return 1
        return max(1, int(self._last_attempt + self.refetch_cooldown - self.timer() + 0.999))

    def lifetime(self, max_age: int | None) -> float:
        """Return how long keys served with ``Cache-Control: max-age`` (None: without) may be used."""
        return self.ttl if max_age is None else min(max(max_age, self.min_ttl), self.max_ttl)

    def time_left(self, deadline: float, what: str) -> float:
        """Return the seconds ``what`` may take to fetch, or raise ``FetchError`` when ``deadline`` has passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"{what} not fetched: the key lookup used up its {self.timeout:g} s (JWKS_TIMEOUT)")
        return remaining

    def _cooling(self, now: float, force: bool) -> bool:
        # After failures: an exponential backoff (1 s, 2 s, 4 s... up to the cooldown), so an
        # issuer that was down when we started is used within a second of coming back, while a
        # flood of requests still cannot hammer it. An unknown kid may refetch once per cooldown,
        # counted from the last such refetch, not from the last scheduled fetch: a key added
        # just after we fetched is picked up at once (it is accepted after one refetch).
        # A scheduled refresh is never held back by the cooldown: keys whose lifetime (a short
        # Cache-Control max-age, or ttl) is over are refetched, or a removed key would live on
        # for max(lifetime, cooldown). Those refreshes come once per lifetime, not per request.
        if self._failures:
            return now < self._retry_at
        if force:
            return self._last_forced is not None and now - self._last_forced < self.refetch_cooldown
        return False

    # --- fetching -----------------------------------------------------------------------

    def _refresh(self, *, force: bool, deadline: float, seen_generation: int | None = None) -> KeySet:
        if self.static and self.keys is not None:
            return self.keys
        fetches_before = self.fetch_count
        if not force and self.keys is not None:
            # A scheduled refresh of keys we still hold: if another thread is already fetching,
            # keep serving the current keys (within max_staleness) instead of queueing behind a
            # network call that may take up to the timeout. Only callers without usable keys
            # (a cold start, an unknown kid) wait for the fetch, and only until their deadline.
            if not self._lock.acquire(blocking=False):
                return self._keys_or_unavailable()
        elif not self._lock.acquire(timeout=max(deadline - time.monotonic(), 0)):
            return self._keys_or_unavailable()
        try:
            return self._refresh_locked(force, seen_generation, fetches_before, deadline)
        finally:
            self._lock.release()

    def _refresh_locked(self, force: bool, seen_generation: int | None, fetches_before: int, deadline: float) -> KeySet:
        # Another thread fetched while we waited for the lock: use its result (if that fetch
        # failed, the kept keys only while they are within max_staleness).
        another_fetched = self.fetch_count != fetches_before or (
            seen_generation is not None and self.generation != seen_generation
        )
        if another_fetched and self.keys is not None:
            return self._keys_or_unavailable()
        now = self.timer()
        if not force and self.keys is not None and now < self._fresh_until:
            return self.keys
        if self._cooling(now, force):
            return self._keys_or_unavailable()
        self._last_attempt = now
        if force:
            self._last_forced = now
        try:
            copy = self.source.fetch(self, deadline)
        except Exception as exc:
            # The boundary between what servers (or other processes, through the shared cache)
            # send and the keys we use. Whatever breaks here, a refused answer or an odd one
            # that trips up the code reading it, is a failed fetch: the cached keys keep working,
            # and without any the request gets a 503 with Retry-After, never a 500.
            reason = str(exc) if isinstance(exc, FetchError) else f"unexpected {type(exc).__name__}: {exc}"
            self.last_error = reason
            self._failed(now)
            if self.keys is not None:
                logger.warning(
                    "auth0_drf: JWKS refresh failed, keeping cached keys: %s",
                    reason,
                    exc_info=not isinstance(exc, FetchError),
                )
            else:
                logger.warning("auth0_drf: JWKS fetch failed: %s", reason, exc_info=not isinstance(exc, FetchError))
            return self._keys_or_unavailable()
        finally:
            self.fetch_count += 1
        self.last_error = None
        self._failures = 0
        self._install(copy)
        assert self.keys is not None
        return self.keys

    def _failed(self, now: float) -> None:
        self._failures += 1
        delay = min(self.refetch_cooldown, 2.0 ** (self._failures - 1))
        self._retry_at = now + delay
        # The kept keys are used without a new attempt until the retry, but never beyond
        # max_staleness: past it, every request must reach _keys_or_unavailable (503).
        self._fresh_until = min(now + delay, self._last_success + self.max_staleness)

    def _keys_or_unavailable(self) -> KeySet:
        if self.keys is not None and self.timer() - self._last_success <= self.max_staleness:
            return self.keys
        raise KeysUnavailable()

    def _install(self, copy: FetchedKeys) -> None:
        if copy.fingerprint != self.fingerprint:
            self.fingerprint = copy.fingerprint
            self.keys = copy.keys
            self.generation += 1
            if self.on_change is not None:
                self.on_change()
        elif self.keys is None:
            self.keys = copy.keys
        # Lifetime and staleness count from when the keys were fetched, which for a copy from
        # the shared cache may be well before we adopted it.
        fetched = self.timer() - copy.age
        self._last_success = fetched
        self._fresh_until = fetched + copy.lifetime
