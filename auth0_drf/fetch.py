"""Fetch a small JSON document (a JWKS or an OpenID configuration) with strict limits; discover ``jwks_uri``.

HTTPS only (plain HTTP for loopback hosts, which tests and the demo use), a total deadline,
no redirects, a cap on the body size, and one plain-words reason when anything goes wrong.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

logger = logging.getLogger("auth0_drf")

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|$)", re.IGNORECASE)


class FetchError(Exception):
    """The document could not be fetched; the message says why in plain words."""


@dataclass(frozen=True)
class FetchResult:
    """A fetched JSON object and the freshness lifetime its server asked for, if any."""

    data: dict[str, Any]
    max_age: int | None
    elapsed: float


def is_loopback_url(url: str) -> bool:
    """Return whether ``url`` points at this machine (localhost, 127.0.0.0/8 or ::1)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # not a URL at all (an unclosed "[" for instance): no host, no loopback
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_fetchable_url(url: str) -> bool:
    """Return whether ``url`` may be fetched: HTTPS, or plain HTTP to a loopback host (tests, the demo)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # urlsplit refuses some malformed URLs ("http://[::1/jwks.json")
        return False
    return scheme == "https" or (scheme == "http" and is_loopback_url(url))


def check_url(url: str) -> None:
    """Raise ``FetchError`` unless ``url`` is HTTPS, or plain HTTP to a loopback host."""
    if is_fetchable_url(url):
        return
    try:
        urlsplit(url)
    except ValueError:
        raise FetchError(f"refusing to fetch {url!r}: it is not a valid URL") from None
    raise FetchError(f"refusing to fetch {url!r}: only https:// URLs (or http:// on loopback) are allowed")


def parse_max_age(cache_control: str | None) -> int | None:
    """Return the ``max-age`` of a ``Cache-Control`` header (0 for no-cache/no-store), or None.

    Raises ``ValueError`` for a value with more digits than Python converts to an integer
    (``sys.get_int_max_str_digits()``, 4300 by default); ``fetch_json`` then fails the fetch.
    """
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


#: Helper threads allowed at once per host and port (they come from the configuration and discovery).
MAX_PENDING_PER_HOST = 4
_pending: dict[str, int] = {}
_pending_lock = threading.Lock()


def fetch_json(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchResult:
    """GET ``url`` and return its JSON object, within ``timeout`` seconds in total.

    ``headers`` are sent besides ``Accept`` (``Authorization`` for ``/userinfo``: no message
    ever includes a header's value).

    Redirects are not followed (a JWKS that moves is a configuration change, not something an
    attacker on the path should be able to cause), and bodies over ``max_bytes`` are refused.

    The deadline covers the whole exchange. ``requests`` bounds each socket read, not the total,
    so a server trickling its headers a byte at a time could hold the caller for ever: the
    exchange runs in a helper thread that the caller stops waiting for at the deadline (the
    thread ends with the connection). A server that keeps such threads alive cannot pile them
    up: at most ``MAX_PENDING_PER_HOST`` run for one host, and further fetches from it fail at
    once until one ends.

    Whatever the server sends, the only exception raised is ``FetchError``.
    """
    check_url(url)
    host = urlsplit(url).netloc.lower()  # host and port
    with _pending_lock:
        if _pending.get(host, 0) >= MAX_PENDING_PER_HOST:
            raise FetchError(f"{url} not fetched: {MAX_PENDING_PER_HOST} earlier fetches from {host} have not ended")
        _pending[host] = _pending.get(host, 0) + 1
    started = time.monotonic()
    outcome: list[FetchResult | BaseException] = []
    done = threading.Event()

    def exchange() -> None:
        try:
            outcome.append(_fetch_json(url, started, timeout, max_bytes, session, headers))
        except BaseException as exc:  # handed to the caller, which re-raises it
            outcome.append(exc)
        finally:
            _release(host)
            done.set()

    try:
        threading.Thread(target=exchange, name="auth0-drf-fetch", daemon=True).start()
    except BaseException:
        _release(host)
        raise
    if not done.wait(max(started + timeout - time.monotonic(), 0) + 0.05):
        raise FetchError(f"{url} did not answer within {timeout:g} s")
    result = outcome[0]
    if isinstance(result, Exception) and not isinstance(result, FetchError):
        # An answer odd enough to break the parsing below (a max-age of thousands of digits...):
        # still one plain-words reason, so callers need to handle FetchError alone.
        raise FetchError(f"{url} sent an answer that could not be read ({type(result).__name__})") from result
    if isinstance(result, BaseException):
        raise result
    return result


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


def _release(host: str) -> None:
    with _pending_lock:
        left = _pending.get(host, 1) - 1
        if left > 0:
            _pending[host] = left
        else:
            _pending.pop(host, None)


def _fetch_json(
    url: str,
    started: float,
    timeout: float,
    max_bytes: int,
    session: requests.Session | None,
    extra_headers: Mapping[str, str] | None = None,
) -> FetchResult:
    deadline = started + timeout
    getter = session.get if session is not None else requests.get
    try:
        response = getter(
            url,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
            # Identity asked for, so the size cap is the size received; a server that compresses
            # anyway is decoded below, with the cap applied to the decoded bytes.
            headers={**(extra_headers or {}), "Accept": "application/json", "Accept-Encoding": "identity"},
        )
    except requests.exceptions.SSLError:
        raise FetchError(f"TLS certificate of {url} could not be verified") from None
    except requests.exceptions.Timeout:
        raise FetchError(f"{url} did not answer within {timeout:g} s") from None
    except requests.exceptions.RequestException as exc:
        raise FetchError(f"{url} could not be reached ({type(exc).__name__})") from None
    with response:
        if 300 <= response.status_code < 400:
            raise FetchError(f"{url} answered with a redirect (HTTP {response.status_code}), which is not followed")
        if response.status_code != 200:
            raise FetchError(f"{url} answered HTTP {response.status_code}")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{url} sent more than {max_bytes} bytes")
        body = _read_body(response, deadline, max_bytes, url, timeout)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FetchError(f"{url} did not answer with JSON") from None
    if not isinstance(data, dict):
        raise FetchError(f"{url} did not answer with a JSON object")
    max_age = parse_max_age(response.headers.get("Cache-Control"))
    return FetchResult(data, max_age, time.monotonic() - started)


def _read_body(response: requests.Response, deadline: float, max_bytes: int, url: str, timeout: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"{url} did not answer within {timeout:g} s")
        _shrink_socket_timeout(raw, remaining)
        try:
            # decode_content: requests asks for gzip/deflate, and providers (or their CDNs) use
            # it; the cap below then applies to the decoded bytes, so a compression bomb stops
            # at max_bytes too.
            if hasattr(raw, "read1"):
                chunk = raw.read1(65536, decode_content=True)
            else:  # urllib3 1.x
                chunk = raw.read(65536, decode_content=True)
        except Exception:  # socket timeouts and protocol errors surface as many types
            raise FetchError(f"{url} did not answer within {timeout:g} s or broke the connection") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{url} sent more than {max_bytes} bytes")
        chunks.append(chunk)


def _shrink_socket_timeout(raw: Any, remaining: float) -> None:
    # A server that trickles a byte at a time would reset a per-read timeout forever; bounding
    # each read by what is left of the total deadline keeps the worker from hanging.
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(remaining, 0.001))
