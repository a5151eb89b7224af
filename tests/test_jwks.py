"""JWKS faults a real deployment meets, against a loopback issuer the test controls and whose requests it counts.

Time is moved with a fake monotonic clock on ``JWKSCache.timer`` where a test needs minutes to
pass; deadlines are checked with a generous bound around one request (never a micro-benchmark).
"""

from __future__ import annotations

import gzip
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command

from auth0_drf.signing import LocalKey, access_token_claims
from auth0_drf.testing import LocalIssuer, LoopbackServer, json_response

from .helpers import RawResponse, free_port, get, m2m_token, run_together, self_signed_certificate, slow_headers, timed
from .hostile import assert_keys_unavailable, assert_rejected

ROOT = Path(__file__).resolve().parent.parent


# --- down at startup --------------------------------------------------------------------------


def offline_demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo's environment for a tenant that cannot be reached (tenant.invalid)."""
    env = {
        **os.environ,
        "AUTH0_DOMAIN": "tenant.invalid",
        "AUTH0_AUDIENCE": "https://api.example.test/",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "x" * 64,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'offline.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
    }
    env.pop("AUTH0_ISSUER", None)
    return env


def test_checks_migrations_and_wsgi_start_without_the_issuer(tmp_path):
    env = offline_demo_env(tmp_path)
    for command in (["check"], ["migrate", "--verbosity", "0"], ["check", "--database", "default"]):
        result = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    script = "from demo_project.wsgi import application; print(type(application).__name__)"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "WSGIHandler" in result.stdout, result.stderr


def test_the_demo_server_starts_and_answers_while_the_issuer_is_unreachable(tmp_path):
    port = free_port()
    env = {**offline_demo_env(tmp_path), "AUTH0_DRF_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        import requests

        public = None
        for _ in range(200):
            try:
                public = requests.get(f"http://127.0.0.1:{port}/api/public", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert public is not None and public.status_code == 200
        # A token for the unreachable tenant: the keys cannot be fetched, so 503, not 500.
        token = LocalKey.generate().sign(access_token_claims(issuer="https://tenant.invalid/", audience="https://api.example.test/"))
        private = requests.get(f"http://127.0.0.1:{port}/api/private", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert private.status_code == 503 and private.json()["code"] == "jwks_unavailable"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.django_db
def test_system_checks_and_migrate_make_no_fetch(auth0_issuer):
    call_command("check")
    call_command("migrate", verbosity=0)
    assert auth0_issuer.jwks_hits() == 0


def test_issuer_down_at_startup_then_up_needs_no_restart(auth0_signing_key, settings, clock):
    port = free_port()  # nothing listens here yet: connection refused
    issuer_url = f"http://127.0.0.1:{port}/"
    settings.AUTH0_DRF = {
        "ISSUER": issuer_url,
        "AUDIENCE": "https://api.example.test/",
        "JWKS_URI": issuer_url + ".well-known/jwks.json",
        "JWKS_REFETCH_COOLDOWN": 10,
    }
    issuer = LocalIssuer(keys=[auth0_signing_key], port=port)  # bound only to mint tokens
    issuer.httpd.server_close()
    token = m2m_token(issuer)
    response = get(token)
    assert_keys_unavailable(response)
    assert 1 <= int(response["Retry-After"]) <= 10
    assert_keys_unavailable(get(token))  # within the cooldown: no new attempt, same answer
    with LocalIssuer(keys=[auth0_signing_key], port=port) as live:
        clock.advance(11)
        assert get(token).status_code == 200
        assert live.jwks_hits() == 1


# --- down after a good fetch: bounded staleness ------------------------------------------------


def test_cached_keys_outlive_an_outage_only_up_to_max_staleness(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_MAX_STALENESS=300, JWKS_REFETCH_COOLDOWN=10)
    assert get(m2m_token(auth0_issuer)).status_code == 200
    auth0_issuer.override = lambda path: (500, {}, b"down")
    for _ in range(4):  # refreshes fail from t=61 on; the keys keep working
        clock.advance(61)
        assert get(m2m_token(auth0_issuer, claims={"n": clock.now})).status_code == 200
    clock.advance(100)  # now 344 s after the last successful fetch
    assert_keys_unavailable(get(m2m_token(auth0_issuer, claims={"n": clock.now})))
    auth0_issuer.override = None
    clock.advance(11)
    assert get(m2m_token(auth0_issuer, claims={"n": clock.now})).status_code == 200


def test_a_token_verified_before_the_outage_is_not_trusted_beyond_staleness(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_MAX_STALENESS=120, JWKS_REFETCH_COOLDOWN=10)
    token = m2m_token(auth0_issuer)
    assert get(token).status_code == 200
    auth0_issuer.override = lambda path: (503, {}, b"")
    clock.advance(200)
    assert_keys_unavailable(get(token))  # the verified-token cache does not outlive the keys


# --- slow, trickling, garbage ----------------------------------------------------------------


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


GARBAGE = {
    "html": (200, {"Content-Type": "text/html"}, b"<html><body>Maintenance</body></html>"),
    "empty-body": (200, {"Content-Type": "application/json"}, b""),
    "truncated-json": (200, {"Content-Type": "application/json"}, b'{"keys": [{"kty": "RSA"'),
    "json-array": (200, {"Content-Type": "application/json"}, b"[]"),
    "json-string": (200, {"Content-Type": "application/json"}, b'"keys"'),
    "json-null": (200, {"Content-Type": "application/json"}, b"null"),
    "not-utf8": (200, {"Content-Type": "application/json"}, b'{"keys": ["\xff\xfe"]}'),
    "utf16": (200, {"Content-Type": "application/json"}, '{"keys": []}'.encode("utf-16")),
    "binary": (200, {"Content-Type": "application/octet-stream"}, bytes(range(256)) * 4),
    "nan": (200, {"Content-Type": "application/json"}, b'{"keys": NaN}'),
    "deep": (200, {"Content-Type": "application/json"}, b'{"keys": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "keys-null": json_response({"keys": None}),
    "keys-object": json_response({"keys": {"kty": "RSA"}}),
    "keys-string": json_response({"keys": "[]"}),
    "no-keys-member": json_response({"jwks_uri": "x"}),
    "lying-content-length": (200, {"Content-Type": "application/json", "Content-Length": "100"}, b'{"keys": []}'),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_at_startup_is_503_then_keys_at_recovery(auth0_issuer, settings, clock, name):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=10)
    auth0_issuer.override = lambda path: GARBAGE[name]
    assert_keys_unavailable(get(m2m_token(auth0_issuer)))
    auth0_issuer.override = None
    clock.advance(11)
    assert get(m2m_token(auth0_issuer)).status_code == 200


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_on_refresh_keeps_the_good_keys(auth0_issuer, settings, clock, name):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_REFETCH_COOLDOWN=10)
    assert get(m2m_token(auth0_issuer)).status_code == 200
    auth0_issuer.override = lambda path: GARBAGE[name]
    clock.advance(61)
    assert get(m2m_token(auth0_issuer, claims={"n": 1})).status_code == 200
    assert auth0_issuer.jwks_hits() == 2


@pytest.mark.parametrize("status", [204, 304, 400, 401, 403, 404, 410, 429, 500, 502, 503, 504])
def test_error_statuses_are_503_at_startup(auth0_issuer, status):
    auth0_issuer.override = lambda path: (status, {"Content-Type": "application/json"}, json.dumps(auth0_issuer.jwks()).encode())
    assert_keys_unavailable(get(m2m_token(auth0_issuer)))


@pytest.mark.parametrize(
    "keys",
    [[], [None], [1, "x", [], {}], [{"kty": "RSA"}], [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}], [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]],
    ids=["empty", "null", "junk", "rsa-no-members", "rsa-tiny", "ec-off-curve"],
)
def test_key_sets_without_a_usable_key_are_an_outage(auth0_issuer, keys):
    # Nothing can be verified with such a set: the issuer is broken, not the token (503, retried).
    auth0_issuer.override = lambda path: json_response({"keys": keys})
    assert_keys_unavailable(get(m2m_token(auth0_issuer)))


def test_one_malformed_key_beside_good_ones_does_not_spoil_them(auth0_issuer):
    good = auth0_issuer.signing_key.public_jwk()
    broken = [
        {**good, "n": "!!!"},
        {**good, "e": 3},
        {**good, "kid": ["x"]},
        {"kty": "RSA", "kid": good["kid"], "n": "AQAB", "e": "AQAB"},  # same kid, a useless key
        {"kty": "EC", "kid": "ec", "crv": "P-999", "x": "AA", "y": "AA"},
        {"kty": "OKP", "kid": "okp", "crv": "X25519", "x": "AA"},
        "not-a-key",
        None,
    ]
    auth0_issuer.override = lambda path: json_response({"keys": broken + [good]})
    assert get(m2m_token(auth0_issuer)).status_code == 200


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


# --- redirects and TLS ---------------------------------------------------------------------


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


def _self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed_certificate(key)
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_self_signed_certificate_is_rejected(auth0_signing_key, settings, tmp_path):
    with LocalIssuer(keys=[auth0_signing_key], ssl_context=_self_signed_context(tmp_path)) as issuer:
        assert issuer.jwks_uri.startswith("https://127.0.0.1:")
        settings.AUTH0_DRF = issuer.settings()
        assert_keys_unavailable(get(m2m_token(issuer)))
        assert issuer.jwks_hits() == 0  # the handshake failed: no HTTP request was ever sent


# --- rotation ----------------------------------------------------------------------------


def test_added_key_is_picked_up_on_first_use_with_one_fetch(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=600, JWKS_REFETCH_COOLDOWN=30)
    assert get(m2m_token(auth0_issuer)).status_code == 200
    clock.advance(31)
    auth0_issuer.rotate()
    assert get(m2m_token(auth0_issuer)).status_code == 200
    assert get(m2m_token(auth0_issuer, claims={"n": 1})).status_code == 200
    assert auth0_issuer.jwks_hits() == 2


def test_removed_key_is_rejected_after_the_refresh_and_its_cached_tokens_too(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_MIN_TTL=60, JWKS_REFETCH_COOLDOWN=10)
    old = m2m_token(auth0_issuer)
    assert get(old).status_code == 200
    auth0_issuer.rotate(keep_old=False)
    clock.advance(61)
    assert_rejected(get(old), code="unknown_key")
    assert get(m2m_token(auth0_issuer)).status_code == 200


def test_same_kid_with_new_key_material(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=600, JWKS_REFETCH_COOLDOWN=10)
    old_token = m2m_token(auth0_issuer)
    assert get(old_token).status_code == 200
    replacement = LocalKey(LocalKey.generate().private_key, kid=auth0_issuer.signing_key.kid)
    auth0_issuer.keys = [replacement]
    auth0_issuer.signing_key = replacement
    new_token = m2m_token(auth0_issuer)
    # A scheduled fetch does not count against the cooldown: the failed signature refetches once.
    assert get(new_token).status_code == 200
    assert auth0_issuer.jwks_hits() == 2
    # Within the cooldown of that refetch, another failed signature may not cause a fetch.
    assert_rejected(get(old_token), code="invalid_signature")  # the verified-token cache was emptied
    assert auth0_issuer.jwks_hits() == 2
    clock.advance(11)
    assert_rejected(get(old_token), code="invalid_signature")
    assert auth0_issuer.jwks_hits() == 3  # the refetch found nothing new: rejected all the same


def test_bad_signature_flood_fetches_at_most_once_per_cooldown(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=30, JWKS_CACHE_TTL=3600)
    assert get(m2m_token(auth0_issuer)).status_code == 200
    forger = LocalKey(LocalKey.generate().private_key, kid=auth0_issuer.signing_key.kid)
    for round_ in range(3):
        for i in range(40):
            assert_rejected(get(m2m_token(auth0_issuer, key=forger, claims={"n": f"{round_}-{i}"})), code="invalid_signature")
            clock.advance(0.5)
        assert auth0_issuer.jwks_hits() <= 2 + round_
        clock.advance(15)
    assert auth0_issuer.jwks_hits() <= 4


def test_random_kid_flood_fetches_at_most_once_per_cooldown(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=30, JWKS_CACHE_TTL=3600)
    assert get(m2m_token(auth0_issuer)).status_code == 200
    for round_ in range(3):
        for i in range(40):
            token = m2m_token(auth0_issuer, headers={"kid": f"flood-{round_}-{i}"})
            assert_rejected(get(token), code="unknown_key")
            clock.advance(0.5)  # 40 requests over 20 s: within one cooldown
        assert auth0_issuer.jwks_hits() <= 2 + round_
        clock.advance(15)
    assert auth0_issuer.jwks_hits() <= 4


def test_concurrent_requests_on_an_empty_cache_fetch_once(auth0_issuer):
    def slow_jwks(path: str) -> Any:
        time.sleep(0.3)  # keep the fetch in flight while the other threads arrive
        return json_response(auth0_issuer.jwks())

    auth0_issuer.override = slow_jwks
    tokens = [m2m_token(auth0_issuer, claims={"n": i}) for i in range(16)]
    statuses = run_together([lambda token=token: get(token).status_code for token in tokens])
    assert statuses == [200] * len(tokens)
    assert auth0_issuer.jwks_hits() == 1


# --- Cache-Control -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "lifetime"),
    [
        ("max-age=120", 120),
        ("public, max-age=120, must-revalidate", 120),
        ("max-age=0", 60),
        ("max-age=5", 60),
        ("no-cache", 60),
        ("no-store", 60),
        ("max-age=999999999", 3600),
        ("max-age=99999999999999999999999", 3600),
        ("max-age=-5", 600),
        ("max-age=abc", 600),
        ("s-maxage=5", 600),
        ("", 600),
    ],
)
def test_cache_control_max_age_is_kept_within_bounds(auth0_issuer, settings, clock, cache_control, lifetime):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=600, JWKS_MIN_TTL=60, JWKS_MAX_TTL=3600)
    auth0_issuer.jwks_headers = {"Cache-Control": cache_control} if cache_control else {}
    assert get(m2m_token(auth0_issuer)).status_code == 200
    clock.advance(lifetime - 1)
    assert get(m2m_token(auth0_issuer, claims={"n": 1})).status_code == 200
    assert auth0_issuer.jwks_hits() == 1
    clock.advance(2)
    assert get(m2m_token(auth0_issuer, claims={"n": 2})).status_code == 200
    assert auth0_issuer.jwks_hits() == 2


# --- discovery (DISCOVERY = True) ------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        lambda issuer: {"issuer": issuer.issuer.rstrip("/"), "jwks_uri": issuer.jwks_uri},
        lambda issuer: {"issuer": "https://evil.example/", "jwks_uri": issuer.jwks_uri},
        lambda issuer: {"issuer": issuer.issuer, "jwks_uri": "http://jwks.example/keys"},
        lambda issuer: {"issuer": issuer.issuer, "jwks_uri": "file:///etc/passwd"},
        lambda issuer: {"issuer": issuer.issuer, "jwks_uri": ""},
        lambda issuer: {"issuer": issuer.issuer, "jwks_uri": ["x"]},
        lambda issuer: {"issuer": issuer.issuer},
    ],
    ids=["issuer-without-slash", "other-issuer", "plain-http-elsewhere", "file-url", "empty-uri", "uri-list", "no-uri"],
)
def test_untrustworthy_discovery_documents_are_refused(auth0_issuer, settings, document):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_URI=None, DISCOVERY=True)
    auth0_issuer.routes["/.well-known/openid-configuration"] = json_response(document(auth0_issuer))
    assert_keys_unavailable(get(m2m_token(auth0_issuer)))
    assert auth0_issuer.jwks_hits() == 0


def test_discovery_finds_the_keys(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_URI=None, DISCOVERY=True)
    assert get(m2m_token(auth0_issuer)).status_code == 200
    assert auth0_issuer.jwks_hits() == 1


# --- odd answers that parse: a failed fetch, never a 500 -------------------------------------


def _deep_junk_beside(good: dict, levels: int = 960) -> bytes:
    # Built as text: json.dumps itself would recurse too deep. It still parses (in the fetch's
    # own thread); fingerprinting it on a request's deeper stack would not.
    return b'{"keys": [' + json.dumps(good).encode() + b", " + b"[" * levels + b"]" * levels + b"]}"


ODD_ANSWERS: dict[str, Callable[[LocalIssuer], Any]] = {
    "max-age-of-thousands-of-digits": lambda issuer: json_response(issuer.jwks(), **{"Cache-Control": "max-age=" + "9" * 5000}),
    "junk-nested-1000-levels-beside-a-good-key": lambda issuer: (
        200, {"Content-Type": "application/json"}, _deep_junk_beside(issuer.signing_key.public_jwk())
    ),
}


@pytest.mark.parametrize("name", sorted(ODD_ANSWERS))
def test_an_odd_jwks_at_startup_is_503_with_retry_after_then_keys_at_recovery(auth0_issuer, settings, clock, name):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=10)
    auth0_issuer.override = lambda path: ODD_ANSWERS[name](auth0_issuer)
    response = get(m2m_token(auth0_issuer))
    assert_keys_unavailable(response)
    assert int(response["Retry-After"]) >= 1
    auth0_issuer.override = None
    clock.advance(int(response["Retry-After"]))
    assert get(m2m_token(auth0_issuer)).status_code == 200


@pytest.mark.parametrize("name", sorted(ODD_ANSWERS))
def test_an_odd_jwks_on_a_scheduled_refresh_keeps_the_cached_keys(auth0_issuer, settings, clock, name):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_REFETCH_COOLDOWN=10)
    assert get(m2m_token(auth0_issuer)).status_code == 200
    auth0_issuer.override = lambda path: ODD_ANSWERS[name](auth0_issuer)
    clock.advance(61)
    assert get(m2m_token(auth0_issuer, claims={"n": 1})).status_code == 200
    assert auth0_issuer.jwks_hits() == 2  # the refresh was attempted, and failed


def test_a_discovered_jwks_uri_that_is_not_a_url_is_503_at_startup(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_URI=None, DISCOVERY=True)
    document = {"issuer": auth0_issuer.issuer, "jwks_uri": "http://[::1/jwks.json"}
    auth0_issuer.routes["/.well-known/openid-configuration"] = json_response(document)
    response = get(m2m_token(auth0_issuer))
    assert_keys_unavailable(response)
    assert int(response["Retry-After"]) >= 1
    assert auth0_issuer.jwks_hits() == 0


def test_a_rediscovered_jwks_uri_that_is_not_a_url_keeps_the_cached_keys(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_URI=None, DISCOVERY=True, JWKS_CACHE_TTL=60, JWKS_REFETCH_COOLDOWN=10)
    assert get(m2m_token(auth0_issuer)).status_code == 200
    # The remembered jwks_uri stops answering, and discovery now names something unparseable.
    auth0_issuer.routes[auth0_issuer.JWKS_PATH] = (503, {}, b"")
    document = {"issuer": auth0_issuer.issuer, "jwks_uri": "http://[::1/jwks.json"}
    auth0_issuer.routes["/.well-known/openid-configuration"] = json_response(document)
    clock.advance(61)
    assert get(m2m_token(auth0_issuer, claims={"n": 1})).status_code == 200
    assert auth0_issuer.hits("/.well-known/openid-configuration") == 2


# --- one deadline for a request's whole key lookup ----------------------------------------------


def test_a_refresh_through_rediscovery_takes_one_jwks_timeout_not_three(auth0_issuer, settings, clock):
    timeout = 0.5
    settings.AUTH0_DRF = auth0_issuer.settings(
        JWKS_URI=None, DISCOVERY=True, JWKS_TIMEOUT=timeout, JWKS_CACHE_TTL=60, JWKS_REFETCH_COOLDOWN=10
    )
    assert get(m2m_token(auth0_issuer)).status_code == 200
    # The remembered JWKS stalls; discovery answers just within the timeout, naming a new JWKS
    # that stalls too. Each step alone respects JWKS_TIMEOUT; the request must as well.
    moved = auth0_issuer.url + "/moved/jwks.json"
    auth0_issuer.routes[auth0_issuer.JWKS_PATH] = lambda: slow_headers(5)
    auth0_issuer.routes["/moved/jwks.json"] = lambda: slow_headers(5)

    def slow_discovery() -> Any:
        time.sleep(timeout * 0.8)
        return json_response({"issuer": auth0_issuer.issuer, "jwks_uri": moved})

    auth0_issuer.routes["/.well-known/openid-configuration"] = slow_discovery
    clock.advance(61)
    response, elapsed = timed(lambda: get(m2m_token(auth0_issuer, claims={"n": 1})))
    assert response.status_code == 200  # the refresh failed: the cached keys serve the request
    assert elapsed < timeout * 2, f"the request took {elapsed:.2f} s with JWKS_TIMEOUT={timeout}"


def test_a_cold_start_through_slow_discovery_takes_one_jwks_timeout(auth0_issuer, settings):
    timeout = 1.0
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_URI=None, DISCOVERY=True, JWKS_TIMEOUT=timeout)

    def slow_discovery() -> Any:
        time.sleep(timeout * 0.9)
        return json_response({"issuer": auth0_issuer.issuer, "jwks_uri": auth0_issuer.jwks_uri})

    auth0_issuer.routes["/.well-known/openid-configuration"] = slow_discovery
    auth0_issuer.routes[auth0_issuer.JWKS_PATH] = lambda: slow_headers(5)
    response, elapsed = timed(lambda: get(m2m_token(auth0_issuer)))
    assert_keys_unavailable(response)
    assert elapsed < timeout * 1.5, f"the request took {elapsed:.2f} s with JWKS_TIMEOUT={timeout}"
