"""Fetching a JWKS or discovery document: compressed bodies, one deadline, a byte cap, no redirects, real TLS.

Against loopback servers that misbehave on purpose; through ``fetch_json`` itself, or through a
request whose keys must be fetched (a failed fetch is then a 503).
"""

from __future__ import annotations

import gzip
import json
import ssl
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auth0_drf.fetch import MAX_PENDING_PER_HOST, FetchError, fetch_json
from auth0_drf.testing import LocalIssuer, LoopbackServer, json_response

from .helpers import RawResponse, get, m2m_token, self_signed_certificate, slow_headers, timed, wait_until
from .hostile import assert_keys_unavailable

JWKS = {"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB" * 80, "e": "AQAB"}]}


# --- compressed documents (Content-Encoding), as many providers and CDNs send them ----------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", lambda body: body)],
)
def test_a_compressed_document_is_decoded(encoding, compress):
    with LoopbackServer() as server:
        body = compress(json.dumps(JWKS).encode())
        server.routes["/jwks"] = (200, {"Content-Type": "application/json", "Content-Encoding": encoding}, body)
        assert fetch_json(server.url + "/jwks", timeout=5, max_bytes=64 * 1024).data == JWKS


def test_a_compression_bomb_is_stopped_at_the_decoded_size_cap():
    with LoopbackServer() as server:
        bomb = gzip.compress(b" " * (20 * 1024 * 1024))  # 20 MB of spaces in about 20 KB
        server.routes["/jwks"] = (200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, bomb)
        with pytest.raises(FetchError, match="more than 65536 bytes"):
            fetch_json(server.url + "/jwks", timeout=5, max_bytes=64 * 1024)


@pytest.mark.django_db
def test_a_gzipped_jwks_is_used_for_verification(auth0_issuer, client_for, settings):
    auth0_issuer.override = lambda path: (
        200,
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        gzip.compress(json.dumps(auth0_issuer.jwks()).encode()),
    )
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200


# --- helper threads -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_fetches_stuck_on_a_trickling_server_do_not_pile_up_threads():
    stop = threading.Event()

    def trickle(wfile: Any) -> None:
        wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
        while not stop.is_set():  # one header line, a byte at a time: each read is quick
            wfile.write(b"a")
            wfile.flush()
            time.sleep(0.02)
        wfile.write(b"\r\n\r\n{}")

    def stuck() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "auth0-drf-fetch")

    server = LoopbackServer().start()
    server.override = lambda path: RawResponse(trickle)
    before = stuck()
    try:
        for _ in range(30):
            with pytest.raises(FetchError):
                fetch_json(server.url + "/jwks", timeout=0.1, max_bytes=1000)
        assert stuck() - before <= MAX_PENDING_PER_HOST
    finally:
        stop.set()
        wait_until(lambda: stuck() <= before)
        server.stop()


# --- one deadline for the whole fetch -------------------------------------------------------------


def _trickle_headers(seconds: float) -> RawResponse:
    def write(wfile: Any) -> None:
        wfile.write(b"HTTP/1.0 200 OK\r\n")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            wfile.write(b"X")
            wfile.flush()
            time.sleep(0.05)
        wfile.write(b": y\r\n\r\n{}")

    return RawResponse(write)


def _trickle_body(seconds: float, jwks: dict) -> RawResponse:
    def write(wfile: Any) -> None:
        body = json.dumps(jwks).encode()
        wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
        step = max(1, len(body) // int(seconds / 0.05))
        for i in range(0, len(body), step):
            wfile.write(body[i : i + step])
            wfile.flush()
            time.sleep(0.05)

    return RawResponse(write)


@pytest.mark.parametrize("behaviour", ["slow-headers", "trickled-headers", "trickled-body"])
def test_slow_servers_are_cut_off_at_the_total_deadline(auth0_issuer, settings, behaviour):
    timeout = 1.0
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_TIMEOUT=timeout)
    response_for = {
        "slow-headers": lambda: slow_headers(8),
        "trickled-headers": lambda: _trickle_headers(8),
        "trickled-body": lambda: _trickle_body(8, auth0_issuer.jwks()),
    }[behaviour]
    auth0_issuer.override = lambda path: response_for()
    response, elapsed = timed(lambda: get(m2m_token(auth0_issuer)))
    assert_keys_unavailable(response)
    assert elapsed < timeout * 3, f"the request took {elapsed:.1f} s with JWKS_TIMEOUT={timeout}"


# --- a cap on the body, compressed or not ---------------------------------------------------------


def _unbounded_body(chunk: bytes, total: int) -> RawResponse:
    def write(wfile: Any) -> None:
        wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + b'{"keys": [], "pad": "')
        for _ in range(total // len(chunk)):
            wfile.write(chunk)

    return RawResponse(write)


@pytest.mark.parametrize("declared", [True, False])
def test_oversized_body_is_stopped_at_the_cap(auth0_issuer, settings, declared):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_MAX_BYTES=64 * 1024)
    document = auth0_issuer.jwks()
    document["pad"] = "x" * (200 * 1024)
    if declared:
        auth0_issuer.override = lambda path: json_response(document)
    else:
        auth0_issuer.override = lambda path: _unbounded_body(b"x" * 65536, 64 * 1024 * 1024)
    response, elapsed = timed(lambda: get(m2m_token(auth0_issuer)))
    assert_keys_unavailable(response)
    assert elapsed < 5


def test_a_body_just_under_the_cap_is_read(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_MAX_BYTES=64 * 1024)
    document = auth0_issuer.jwks()
    document["pad"] = "x" * (60 * 1024)
    auth0_issuer.override = lambda path: json_response(document)
    assert get(m2m_token(auth0_issuer)).status_code == 200


@pytest.mark.parametrize("encoding", ["gzip", "gzip-bomb"])
def test_compressed_jwks(auth0_issuer, settings, encoding):
    # requests advertises gzip; a CDN in front of the issuer may well use it.
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_MAX_BYTES=64 * 1024)
    document = auth0_issuer.jwks()
    if encoding == "gzip-bomb":
        document["pad"] = "x" * (50 * 1024 * 1024)
    body = gzip.compress(json.dumps(document).encode())
    auth0_issuer.override = lambda path: (200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, body)
    response = get(m2m_token(auth0_issuer))
    if encoding == "gzip":
        assert response.status_code == 200
    else:
        assert_keys_unavailable(response)


# --- redirects and TLS ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(auth0_issuer, settings, clock, status):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_REFETCH_COOLDOWN=10)
    with LoopbackServer() as elsewhere:
        elsewhere.routes["/jwks"] = json_response(auth0_issuer.jwks())
        auth0_issuer.override = lambda path: (status, {"Location": elsewhere.url + "/jwks"}, b"")
        assert_keys_unavailable(get(m2m_token(auth0_issuer)))
        auth0_issuer.override = None
        clock.advance(11)
        assert get(m2m_token(auth0_issuer)).status_code == 200
        auth0_issuer.override = lambda path: (status, {"Location": elsewhere.url + "/jwks"}, b"")
        clock.advance(61)
        assert get(m2m_token(auth0_issuer, claims={"n": 1})).status_code == 200  # keeps its keys
        assert elsewhere.hits() == 0


@pytest.mark.django_db
def test_jwks_redirect_is_not_followed(auth0_issuer, client_for, settings):
    with LoopbackServer() as elsewhere:
        elsewhere.routes["/jwks"] = json_response(auth0_issuer.jwks())
        auth0_issuer.override = lambda path: (302, {"Location": elsewhere.url + "/jwks"}, b"")
        response = client_for(auth0_issuer.token()).get("/api/private")
        assert response.status_code == 503
        assert elsewhere.hits() == 0


def _self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed_certificate(key)
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_self_signed_certificate_is_rejected(auth0_signing_key, settings, tmp_path):
    with LocalIssuer(keys=[auth0_signing_key], ssl_context=_self_signed_context(tmp_path)) as issuer:
        assert issuer.jwks_uri.startswith("https://127.0.0.1:")
        settings.AUTH0_DRF = issuer.settings()
        assert_keys_unavailable(get(m2m_token(issuer)))
        assert issuer.jwks_hits() == 0  # the handshake failed: no HTTP request was ever sent
