"""Where an issuer's signing keys come from: its JWKS URI, OpenID discovery, or keys held in this process.

Each class is a ``KeySource`` for ``JWKSCache``. Keys held in this process (the development
issuer's, a test's ``InProcessIssuer``) come in through one call, ``register_static_keys``;
``key_source_for`` picks an issuer's source when a verifier is built.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .conf import IssuerConfig, default_jwks_uri
from .fetch import FetchError, FetchResult, discover_jwks_uri, fetch_json
from .jwks import JWKSCache, KeySource
from .keys import FetchedKeys, fingerprint, parse_jwks

logger = logging.getLogger("auth0_drf")


class HttpJWKS:
    """The keys published at a JWKS URI (shared with other workers through ``cache.share``)."""

    static = False

    def __init__(self, jwks_uri: str) -> None:
        self.jwks_uri = jwks_uri

    def fetch(self, cache: JWKSCache, deadline: float) -> FetchedKeys:
        uri = self.jwks_uri

        def get() -> FetchResult:
            result = fetch_json(uri, timeout=cache.time_left(deadline, uri), max_bytes=cache.max_bytes)
            logger.info("auth0_drf: fetched JWKS from %s in %.0f ms", uri, result.elapsed * 1000)
            return result

        return cache.share.fetch(uri, deadline, get)


class Discovery:
    """The keys at the ``jwks_uri`` named by ``issuer``'s OpenID configuration, found again when it moves."""

    static = False

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._jwks_uri: str | None = None
        self._discovered_at = 0.0

    @property
    def jwks_uri(self) -> str | None:
        """The ``jwks_uri`` discovery named last (None before the first discovery)."""
        return self._jwks_uri

    def fetch(self, cache: JWKSCache, deadline: float) -> FetchedKeys:
        rediscover = self._jwks_uri is not None
        uri = self._locate(cache, deadline)
        try:
            return HttpJWKS(uri).fetch(cache, deadline)
        except FetchError:
            if not rediscover:
                raise
        # The provider may have moved its keys (and said so in its discovery document): a
        # remembered jwks_uri that fails is looked up again at once, not a day later.
        self._jwks_uri = None
        fresh = self._locate(cache, deadline)
        if fresh == uri:
            raise FetchError(f"{uri} could not be fetched, and discovery still names it")
        return HttpJWKS(fresh).fetch(cache, deadline)

    def _locate(self, cache: JWKSCache, deadline: float) -> str:
        # The discovery document is cached like the keys, for at most max_ttl; a failed lookup
        # is not cached at all (the cache's cooldown spaces out retries).
        if self._jwks_uri is None or cache.timer() - self._discovered_at >= cache.max_ttl:
            timeout = cache.time_left(deadline, f"the OpenID configuration of {self.issuer}")
            self._jwks_uri = discover_jwks_uri(self.issuer, timeout, cache.max_bytes)
            self._discovered_at = cache.timer()
        return self._jwks_uri


#: A JWKS document, or a function returning the current one.
StaticKeys = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


class StaticJWKS:
    """A fixed key set, held in this process: never fetched, never refreshed.

    ``keys`` is a JWKS document or a function returning one (read once, when the cache is built).
    For issuers living in-process: the development issuer's key, a test's ``InProcessIssuer``.
    """

    static = True
    jwks_uri = None

    def __init__(self, keys: StaticKeys) -> None:
        self.keys = keys

    def fetch(self, cache: JWKSCache, deadline: float) -> FetchedKeys:
        document = self.keys() if callable(self.keys) else self.keys
        return FetchedKeys(parse_jwks(document), fingerprint(document), cache.ttl)


# --- keys held in this process ----------------------------------------------------------------

_static_keys: dict[str, StaticKeys] = {}
_static_keys_lock = threading.Lock()
_static_keys_callbacks: list[Callable[[], None]] = []


def register_static_keys(issuer: str, keys: StaticKeys) -> None:
    """Make ``keys`` the signing keys of ``issuer``, so that nothing is ever fetched for it.

    ``keys`` is a JWKS document or a function returning the current one; it is read when a
    verifier builds ``issuer``'s key cache (``key_source_for``). Every change, registering
    again after a rotation included, resets the verifier built from the settings, so the next
    request uses the new keys. This is how issuers living in this process come in: the
    development issuer and ``auth0_drf.testing.InProcessIssuer``. The keys are trusted as they
    are: register only keys your own process holds.
    """
    with _static_keys_lock:
        _static_keys[issuer] = keys
    _static_keys_changed()


def unregister_static_keys(issuer: str) -> None:
    """Fetch ``issuer``'s keys again as configured (nothing happens when none were registered)."""
    with _static_keys_lock:
        removed = _static_keys.pop(issuer, None)
    if removed is not None:
        _static_keys_changed()


def static_keys(issuer: str) -> StaticKeys | None:
    """Return the keys registered for ``issuer``, or None."""
    return _static_keys.get(issuer)


def on_static_keys_change(callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever static keys are registered or removed (objects built with them must go)."""
    _static_keys_callbacks.append(callback)


def _static_keys_changed() -> None:
    for callback in list(_static_keys_callbacks):
        callback()


def key_source_for(config: IssuerConfig) -> KeySource:
    """Return where ``config``'s keys come from: registered static keys, discovery, or its JWKS URI."""
    keys = static_keys(config.issuer)
    if keys is not None:
        return StaticJWKS(keys)
    if config.discovery and not config.jwks_uri:
        return Discovery(config.issuer)
    # Settings always name a JWKS URI without discovery; an IssuerConfig made by hand may not.
    return HttpJWKS(config.jwks_uri or default_jwks_uri(config.issuer))
