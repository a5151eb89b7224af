"""Fetch, cache and rotate an issuer's signing keys (its JWKS).

Unlike PyJWT's ``PyJWKClient``, a failed refresh keeps the keys that were still good, and
unknown ``kid`` values cannot make us fetch more than once per ``refetch_cooldown``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from .conf import Auth0Settings
from .errors import KeysUnavailable, UnknownKey
from .fetch import FetchError, FetchResult, check_url, fetch_json

logger = logging.getLogger("auth0_drf")

MIN_RSA_BITS = 2048
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
OKP_CURVES = frozenset({"Ed25519", "Ed448"})
#: The algorithms auth0_drf can verify: asymmetric only, by design (RFC 8725 section 3.1).
SUPPORTED_ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_ALGORITHMS.values()) | {"EdDSA"}
_PUBLIC_MEMBERS = ("kty", "n", "e", "crv", "x", "y")
#: A JWKS nested deeper than this is refused like a failed fetch. Real ones nest four levels
#: (the set, its keys list, a key, its x5c list); hundreds of levels parse, but exhaust the
#: stack when the set is fingerprinted or pickled for the shared cache.
MAX_JWKS_DEPTH = 32


@dataclass(frozen=True)
class SigningKey:
    """A public key from a JWKS, with the algorithms it may verify."""

    kid: str | None
    kty: str
    algorithms: frozenset[str]
    key: Any = field(repr=False)


class KeySet:
    """An immutable set of signing keys, looked up by ``kid`` and algorithm."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = tuple(keys)
        self._by_kid: dict[str | None, tuple[SigningKey, ...]] = {}
        for key in keys:
            self._by_kid[key.kid] = self._by_kid.get(key.kid, ()) + (key,)

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, kid: str | None, alg: str) -> SigningKey | None:
        """Return the key for ``kid`` that may verify ``alg``.

        Without a ``kid``, a key is returned only when exactly one key in the set fits ``alg``:
        an unambiguous choice, never "the first key".
        """
        if kid is None:
            candidates = [k for k in self.keys if alg in k.algorithms]
            return candidates[0] if len(candidates) == 1 else None
        for key in self._by_kid.get(kid, ()):
            if alg in key.algorithms:
                return key
        return None


def parse_jwk(jwk: Mapping[str, Any]) -> SigningKey | None:
    """Return a ``SigningKey`` for one JWK, or None when the key is unusable for signatures.

    Ignored: symmetric (``oct``) keys, encryption keys (``use: enc``), keys whose ``key_ops``
    exclude ``verify``, RSA keys under 2048 bits, unknown key types, and malformed keys.
    A key's own ``alg``, when present, limits it to that one algorithm.
    """
    if not isinstance(jwk, Mapping):
        return None
    kty, kid, use, alg = jwk.get("kty"), jwk.get("kid"), jwk.get("use"), jwk.get("alg")
    if kid is not None and not isinstance(kid, str):
        return None
    if use is not None and use != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if alg is not None and not isinstance(alg, str):
        return None
    public = {name: jwk[name] for name in _PUBLIC_MEMBERS if name in jwk}
    try:
        if kty == "RSA":
            key = RSAAlgorithm.from_jwk(public)
            if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
                return None
            algorithms = RSA_ALGORITHMS
        elif kty == "EC":
            key = ECAlgorithm.from_jwk(public)
            if not isinstance(key, ec.EllipticCurvePublicKey) or jwk.get("crv") not in EC_ALGORITHMS:
                return None
            algorithms = frozenset({EC_ALGORITHMS[jwk["crv"]]})
        elif kty == "OKP":
            if jwk.get("crv") not in OKP_CURVES:
                return None
            key = OKPAlgorithm.from_jwk(public)
            if not isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
                return None
            algorithms = frozenset({"EdDSA"})
        else:
            return None
    except Exception:  # malformed members raise many types; one bad key must not spoil the rest
        return None
    if alg is not None:
        algorithms = algorithms & {alg}
        if not algorithms:
            return None
    return SigningKey(kid=kid, kty=kty, algorithms=algorithms, key=key)


def parse_jwks(data: Mapping[str, Any]) -> KeySet:
    """Return the usable signing keys of a JWKS document (malformed keys are skipped)."""
    keys = data.get("keys")
    if not isinstance(keys, list):
        return KeySet([])
    return KeySet([key for key in map(parse_jwk, keys) if key is not None])


def fingerprint(data: Mapping[str, Any]) -> str:
    """Return a digest that changes whenever the published keys change."""
    return hashlib.sha256(json.dumps(data.get("keys"), sort_keys=True, default=str).encode()).hexdigest()


def _too_deep(value: Any, limit: int) -> bool:
    # Iterative, so that measuring a deep document cannot itself recurse too deep.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


@dataclass(frozen=True)
class _KeySetCopy:
    """A JWKS document turned into keys, with how long they may be used and how old they are."""

    keys: KeySet
    fingerprint: str
    lifetime: float
    age: float = 0.0  # seconds since the document was fetched (a shared copy may be older than ours)


def _keys_of(data: Any, source: str) -> tuple[KeySet, str]:
    """Return the usable keys of a JWKS document and its fingerprint, or raise ``FetchError``.

    Refused: anything but an object with a ``keys`` list, nesting deeper than ``MAX_JWKS_DEPTH``,
    and a set without one usable signing key (garbage never replaces keys that still work; with
    none cached it is an outage, a 503, not a reason to call tokens invalid).
    """
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise FetchError(f"the JWKS from {source} has no 'keys' list")
    if _too_deep(data, MAX_JWKS_DEPTH):
        raise FetchError(f"the JWKS from {source} is nested more than {MAX_JWKS_DEPTH} levels deep")
    keys = parse_jwks(data)
    if not len(keys):
        raise FetchError(f"the JWKS from {source} has no usable signing keys")
    return keys, fingerprint(data)


class JWKSCache:
    """The signing keys of one issuer, fetched on demand and shared by all threads.

    One fetch runs at a time; callers without a usable key wait for it and use its result,
    while a scheduled refresh never holds up callers that still have keys. Keys are
    refreshed after their lifetime (the JWKS's ``Cache-Control: max-age`` within bounds, or
    ``ttl``). A failed fetch keeps the current keys for up to ``max_staleness`` seconds and
    is retried after a backoff that doubles from 1 s up to ``refetch_cooldown``; an unknown
    ``kid`` causes at most one refetch per ``refetch_cooldown``. One key lookup, however many
    fetches it needs (a refresh, a refetch, discovery), ends within ``timeout`` seconds.
    """

    timer: Callable[[], float] = staticmethod(time.monotonic)
    #: The clock that dates copies in ``shared_cache``: shared by processes, so the wall clock.
    wall_clock: Callable[[], float] = staticmethod(time.time)

    def __init__(
        self,
        jwks_uri: str | None,
        *,
        ttl: float = Auth0Settings.JWKS_CACHE_TTL.default,
        min_ttl: float = Auth0Settings.JWKS_MIN_TTL.default,
        max_ttl: float = Auth0Settings.JWKS_MAX_TTL.default,
        max_staleness: float = Auth0Settings.JWKS_MAX_STALENESS.default,
        refetch_cooldown: float = Auth0Settings.JWKS_REFETCH_COOLDOWN.default,
        timeout: float = Auth0Settings.JWKS_TIMEOUT.default,
        max_bytes: int = Auth0Settings.JWKS_MAX_BYTES.default,
        discovery_issuer: str | None = None,
        shared_cache: Any = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.jwks_uri = jwks_uri
        self.ttl, self.min_ttl, self.max_ttl = ttl, min_ttl, max_ttl
        self.max_staleness = max_staleness
        self.refetch_cooldown = refetch_cooldown
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.discovery_issuer = discovery_issuer
        self.shared_cache = shared_cache
        self.on_change = on_change
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
        self._discovered_uri: str | None = None
        self._discovered_at = 0.0
        self._shared_seen = 0.0  # the fetch time of the newest shared copy this process has used
        self.static = False
        self._lock = threading.Lock()

    # --- public API ---------------------------------------------------------------------

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

        With ``static``, these keys are the issuer's keys for good and nothing is ever fetched
        (an in-process issuer: the demo's development issuer, or a test's).
        """
        with self._lock:
            self._install(_KeySetCopy(parse_jwks(data), fingerprint(data), self.ttl))
            self.static = static

    def seconds_until_retry(self) -> int:
        """Return how long a caller should wait before keys may be fetched again."""
        if self._failures:
            return max(1, int(self._retry_at - self.timer() + 0.999))
        if self._last_attempt is None:
            return 1
        return max(1, int(self._last_attempt + self.refetch_cooldown - self.timer() + 0.999))

    def _cooling(self, now: float, force: bool) -> bool:
        # After failures: an exponential backoff (1 s, 2 s, 4 s... up to the cooldown), so an
        # issuer that was down when we started is used within a second of coming back, while a
        # flood of requests still cannot hammer it. An unknown kid may refetch once per cooldown,
        # counted from the last such refetch, not from the last scheduled fetch: a key added
        # just after we fetched is picked up at once (issue 2: "accepted after one refetch").
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
        if self.fetch_count != fetches_before or (
            seen_generation is not None and self.generation != seen_generation
        ):
            # Another thread fetched while we waited for the lock: use its result (if that
            # fetch failed, the kept keys only while they are within max_staleness).
            if self.keys is not None:
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
            copy = self._fetch(deadline)
        except Exception as exc:
            # The boundary between what servers (or other processes, through the shared cache)
            # send and the keys we use. Whatever breaks here, a refused answer or an odd one
            # that trips up the code reading it, is a failed fetch: the cached keys keep working,
            # and without any the request gets a 503 with Retry-After, never a 500.
            reason = str(exc) if isinstance(exc, FetchError) else f"unexpected {type(exc).__name__}: {exc}"
            self.last_error = reason
            self._failed(now)
            if self.keys is not None:
                logger.warning("auth0_drf: JWKS refresh failed, keeping cached keys: %s", reason,
                               exc_info=not isinstance(exc, FetchError))
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

    def _lifetime(self, max_age: int | None) -> float:
        return self.ttl if max_age is None else min(max(max_age, self.min_ttl), self.max_ttl)

    def _time_left(self, deadline: float, what: str) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"{what} not fetched: the key lookup used up its {self.timeout:g} s (JWKS_TIMEOUT)")
        return remaining

    def _fetch(self, deadline: float) -> _KeySetCopy:
        rediscover = self.discovery_issuer is not None and self._discovered_uri is not None
        uri = self._jwks_location(deadline)
        try:
            return self._fetch_from(uri, deadline)
        except FetchError:
            if not rediscover:
                raise
        # The provider may have moved its keys (and said so in its discovery document): a
        # remembered jwks_uri that fails is looked up again at once, not a day later.
        self._discovered_uri = None
        fresh = self._jwks_location(deadline)
        if fresh == uri:
            raise FetchError(f"{uri} could not be fetched, and discovery still names it")
        return self._fetch_from(fresh, deadline)

    def _fetch_from(self, uri: str, deadline: float) -> _KeySetCopy:
        shared = self._read_shared(uri)
        if shared is not None:
            return shared
        claimed = self._claim_shared_fetch(uri)
        # Claimed: the previous holder may have shared its copy just before letting go; look again.
        shared = self._read_shared(uri) if claimed else self._wait_for_shared(uri, deadline)
        if shared is not None:
            if claimed:
                self._release_shared_fetch(uri)
            return shared
        try:
            result = fetch_json(uri, timeout=self._time_left(deadline, uri), max_bytes=self.max_bytes)
            logger.info("auth0_drf: fetched JWKS from %s in %.0f ms", uri, result.elapsed * 1000)
            keys, digest = _keys_of(result.data, uri)
            # Shared only once it proved to hold keys: other workers never adopt garbage from us.
            self._write_shared(uri, result)
        finally:
            if claimed:
                self._release_shared_fetch(uri)
        return _KeySetCopy(keys, digest, self._lifetime(result.max_age))

    def _jwks_location(self, deadline: float) -> str:
        if self.discovery_issuer is None:
            assert self.jwks_uri is not None
            return self.jwks_uri
        # The discovery document is cached like the keys, for at most max_ttl; a failed lookup
        # is not cached at all (the caller's cooldown spaces out retries).
        if self._discovered_uri is None or self.timer() - self._discovered_at >= self.max_ttl:
            timeout = self._time_left(deadline, f"the OpenID configuration of {self.discovery_issuer}")
            self._discovered_uri = discover_jwks_uri(self.discovery_issuer, timeout, self.max_bytes)
            self._discovered_at = self.timer()
        return self._discovered_uri

    def _install(self, copy: _KeySetCopy) -> None:
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

    # --- sharing keys between worker processes --------------------------------------------

    def _shared_key(self, uri: str) -> str:
        return "auth0_drf:jwks:" + hashlib.sha256(uri.encode()).hexdigest()

    def _read_shared(self, uri: str) -> _KeySetCopy | None:
        if self.shared_cache is None:
            return None
        try:
            entry = self.shared_cache.get(self._shared_key(uri))
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

    def _adopt(self, entry: Any, uri: str) -> _KeySetCopy | None:
        """Return the keys of a shared copy, None when it cannot help, or raise for a malformed one."""
        if not isinstance(entry, dict):
            raise FetchError(f"it is a {type(entry).__name__}, not a dict")
        fetched, max_age = entry.get("fetched"), entry.get("max_age")
        if isinstance(fetched, bool) or not isinstance(fetched, (int, float)) or not math.isfinite(fetched):
            raise FetchError("its fetch time is not a number")
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0):
            raise FetchError("its max-age is not a number of seconds")
        # Only a copy newer than ours helps: an unknown kid needs keys fetched after our own.
        if fetched <= self._shared_seen:
            return None
        # Its age counts against its lifetime; a fetch time in the future (a clock ahead on the
        # writer's host) counts as now, so that no copy lives longer than one lifetime.
        age = max(0.0, self.wall_clock() - fetched)
        lifetime = self._lifetime(max_age)
        if age >= lifetime:
            return None  # past its lifetime (a backend that keeps entries beyond their timeout)
        keys, digest = _keys_of(entry.get("data"), f"{uri} (shared copy)")
        self._shared_seen = fetched
        return _KeySetCopy(keys, digest, lifetime, age)

    # Workers that need keys at the same moment (a cold start under load) would all fetch:
    # the first to add a short-lived marker fetches, the others wait for its copy.
    shared_poll_interval = 0.05

    def _claim_shared_fetch(self, uri: str) -> bool:
        if self.shared_cache is None:
            return True
        try:
            return bool(self.shared_cache.add(self._shared_key(uri) + ":fetching", 1, timeout=int(self.timeout) + 1))
        except Exception:
            logger.warning("auth0_drf: the shared JWKS cache could not be written", exc_info=True)
            return True

    def _release_shared_fetch(self, uri: str) -> None:
        if self.shared_cache is None:
            return
        try:
            self.shared_cache.delete(self._shared_key(uri) + ":fetching")
        except Exception:
            logger.warning("auth0_drf: the shared JWKS cache could not be written", exc_info=True)

    def _wait_for_shared(self, uri: str, deadline: float) -> _KeySetCopy | None:
        """Wait until ``deadline`` for another process's fetch; None means fetch ourselves."""
        while time.monotonic() < deadline:
            time.sleep(min(self.shared_poll_interval, max(deadline - time.monotonic(), 0)))
            shared = self._read_shared(uri)
            if shared is not None:
                return shared
            try:
                if self.shared_cache.get(self._shared_key(uri) + ":fetching") is None:
                    return self._read_shared(uri)  # the other fetch ended without a copy: ours
            except Exception:
                return None
        return None

    def _write_shared(self, uri: str, result: FetchResult) -> None:
        if self.shared_cache is None:
            return
        fetched = self.wall_clock()
        self._shared_seen = fetched
        try:
            self.shared_cache.set(
                self._shared_key(uri),
                {"data": result.data, "max_age": result.max_age, "fetched": fetched},
                timeout=self._lifetime(result.max_age),
            )
        except Exception:
            logger.warning("auth0_drf: the shared JWKS cache could not be written", exc_info=True)


def discover_jwks_uri(issuer: str, timeout: float, max_bytes: int) -> str:
    """Return ``jwks_uri`` from the issuer's OpenID configuration, after checking its ``issuer``."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = fetch_json(url, timeout=timeout, max_bytes=max_bytes).data
    if document.get("issuer") != issuer:
        raise FetchError(f"the OpenID configuration at {url} names another issuer")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise FetchError(f"the OpenID configuration at {url} has no jwks_uri")
    check_url(jwks_uri)
    logger.info("auth0_drf: discovered jwks_uri %s for issuer %s", jwks_uri, issuer)
    return jwks_uri
