"""JWKS and discovery documents sent compressed (Content-Encoding), as many providers and CDNs do."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from auth0_drf.fetch import FetchError, fetch_json
from auth0_drf.testing import LoopbackServer

JWKS = {"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB" * 80, "e": "AQAB"}]}


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
        200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, gzip.compress(json.dumps(auth0_issuer.jwks()).encode())
    )
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
