"""Helpers for our own tests only (users' helpers are in auth0_drf.testing).

Requests through DRF's test client, machine tokens, threads released together, the rejection
log lines, a fake clock, hand-written responses, certificates and polling: each written once here
(``tests/hostile.py`` has the token crafting and the one definition of a correct rejection).
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from django.db import connections
from django.test import Client as DjangoClient
from rest_framework.test import APIClient

from auth0_drf.conf import auth0_settings
from auth0_drf.tokens import TokenVerifier

T = TypeVar("T")

DISCOVERY_PATH = "/.well-known/openid-configuration"

#: RFC 7638 section 3.1: an RSA public key and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWK"
        "RXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMic"
        "AtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3"
        "XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# --- requests -------------------------------------------------------------------------------


def bearer_client(token: str | None) -> APIClient:
    """Return an APIClient that sends ``Authorization: Bearer <token>`` (no header for None)."""
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def send(authorization: str | None = None, path: str = "/api/private", *, method: str = "get", **extra: Any) -> Any:
    """Send one request with this raw ``Authorization`` value (none for None) and return the response."""
    if authorization is not None:
        extra["HTTP_AUTHORIZATION"] = authorization
    return getattr(APIClient(), method)(path, **extra)


def get(token: str | None, path: str = "/api/private", **extra: Any) -> Any:
    """GET ``path`` with ``Authorization: Bearer <token>`` (no header for None)."""
    return send(None if token is None else f"Bearer {token}", path, **extra)


def get_as(issuer: Any, path: str, **token_kwargs: Any) -> Any:
    """GET ``path`` with a token that ``issuer`` mints from ``token_kwargs``."""
    return get(issuer.token(**token_kwargs), path)


def claims_of(token: str) -> dict[str, Any]:
    """GET the demo's ``/api/claims`` with ``token``, assert a 200 and return the JSON body."""
    response = get(token, "/api/claims")
    assert response.status_code == 200, response.content
    return response.json()


def warm_up(client: APIClient) -> None:
    """Make two requests: the first creates the user, the second finds it and caches it.

    The first request's cache entry waits for a commit, which a test's transaction never makes.
    """
    assert client.get("/api/private").status_code == 200
    assert client.get("/api/private").status_code == 200


# --- tokens and issuers ---------------------------------------------------------------------


def m2m_token(issuer: Any, **kwargs: Any) -> str:
    """A machine-to-machine token: its user lives only in the token, so threads need no database."""
    claims = {"gty": "client-credentials", **kwargs.pop("claims", {})}
    return issuer.token(sub="m2m-client@clients", claims=claims, **kwargs)


def verifier_like_the_settings(cls: type[TokenVerifier] = TokenVerifier, **options: Any) -> TokenVerifier:
    """Return a new ``cls`` for the configured issuers and algorithms, with ``options`` as its other arguments."""
    return cls(auth0_settings.issuers, algorithms=auth0_settings.ALGORITHMS, **options)


def issuer_entry(issuer: Any, **extra: Any) -> dict[str, Any]:
    """Return an ``ISSUERS`` entry for a local issuer: its issuer, JWKS URI and audience."""
    return {"ISSUER": issuer.issuer, "JWKS_URI": issuer.jwks_uri, "AUDIENCE": issuer.audience, **extra}


# --- threads, time, logs --------------------------------------------------------------------


def run_together(calls: Sequence[Callable[[], T]], timeout: float = 30.0) -> list[T]:
    """Run each call in its own thread, released together by a barrier; return the results in order.

    Each thread closes its database connections when done (Django opens one per thread). The
    first exception a call raised is raised here.
    """
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], T]) -> None:
        try:
            barrier.wait(timeout)
            results[index] = call()
        except BaseException as exc:  # raised in the test's thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish in time"
    if errors:
        raise errors[0]
    return results


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """Return what ``call()`` returns and how many seconds it took."""
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Clock:
    """A monotonic clock that only moves when the test says so (``JWKSCache.timer`` is the swap point)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def rejection_records(caplog: Any) -> list[logging.LogRecord]:
    """Return the ``auth0_drf`` log records of rejected requests (``rejected token: …``)."""
    return [r for r in caplog.records if r.name == "auth0_drf" and "rejected" in r.getMessage()]


# --- the admin --------------------------------------------------------------------------------


def staff_client(*perms: str, superuser: bool = False) -> DjangoClient:
    """Log in a Django test client as ``staff`` with exactly ``perms`` (codenames), or as the superuser ``root``."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    users = get_user_model().objects
    if superuser:
        user = users.create_superuser("root", "root@example.test", "pw")
    else:
        user = users.create_user("staff", "staff@example.test", "pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client = DjangoClient()
    client.force_login(user)
    return client


# --- servers --------------------------------------------------------------------------------


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RawResponse:
    """A response written by hand: ``writer(wfile)`` sends the status line, headers and body.

    Lets tests stall, trickle, lie about lengths or stop mid-way, as broken servers do (a
    ``HandWrittenResponse`` for ``LoopbackServer``).
    """

    def __init__(self, writer: Callable[[io.BufferedIOBase], None]) -> None:
        self.writer = writer

    def write_to(self, wfile: io.BufferedIOBase) -> None:
        self.writer(wfile)


def slow_headers(delay: float) -> RawResponse:
    """A server that waits ``delay`` seconds before it answers ``{}``."""

    def write(wfile: Any) -> None:
        time.sleep(delay)
        wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{}")

    return RawResponse(write)


def self_signed_certificate(private_key: Any, common_name: str = "127.0.0.1") -> x509.Certificate:
    """Return a CA certificate for 127.0.0.1 signed by its own ``private_key``: trusted by nobody."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
