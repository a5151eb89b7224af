"""An issuer's keys in ``JWKSCache``: outages, garbage, rotation, floods, Cache-Control, discovery, refetch timing.

Every fault a real deployment meets, against a loopback issuer the test controls and whose
requests it counts (the limits of the fetch itself are in test_fetch.py).

Time is moved with a fake monotonic clock on ``JWKSCache.timer`` where a test needs minutes to
pass; deadlines are checked with a generous bound around one request (never a micro-benchmark).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from auth0_drf.signing import LocalKey, access_token_claims
from auth0_drf.testing import LocalIssuer, LoopbackServer, json_response
from auth0_drf.tokens import get_verifier

from .helpers import DISCOVERY_PATH, Clock, free_port, get, m2m_token, run_together, slow_headers, timed
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
        result = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
    script = "from demo_project.wsgi import application; print(type(application).__name__)"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "WSGIHandler" in result.stdout, result.stderr


def test_the_demo_server_starts_and_answers_while_the_issuer_is_unreachable(tmp_path):
    port = free_port()
    env = {**offline_demo_env(tmp_path), "AUTH0_DRF_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
        token = LocalKey.generate().sign(
            access_token_claims(issuer="https://tenant.invalid/", audience="https://api.example.test/")
        )
        private = requests.get(
            f"http://127.0.0.1:{port}/api/private", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
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


@pytest.mark.django_db(transaction=True)
def test_keys_beyond_max_staleness_are_not_used_during_the_retry_backoff(auth0_issuer, settings, clock):
    # A failed refresh used to mark the stale keys fresh for the backoff delay: the request that
    # tried the fetch got 503, and every request in the next seconds got 200 with those keys.
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_MAX_STALENESS=120, JWKS_REFETCH_COOLDOWN=10)
    cached = m2m_token(auth0_issuer)
    assert get(cached).status_code == 200
    auth0_issuer.override = lambda path: (503, {}, b"")
    clock.advance(200)
    assert_keys_unavailable(get(m2m_token(auth0_issuer, claims={"n": 1})))
    fetches = auth0_issuer.jwks_hits()
    # Same instant, inside the backoff: the keys are still 200 s old.
    assert_keys_unavailable(get(m2m_token(auth0_issuer, claims={"n": 2})))
    assert_keys_unavailable(get(cached))
    assert auth0_issuer.jwks_hits() == fetches  # and still no fetch storm


@pytest.mark.django_db(transaction=True)
def test_requests_with_good_keys_do_not_wait_for_a_slow_refresh(auth0_issuer, settings, clock):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=60, JWKS_TIMEOUT=20)
    token = m2m_token(auth0_issuer)
    assert get(token).status_code == 200
    release = threading.Event()
    fetch_started = threading.Event()
    jwks = auth0_issuer.jwks()

    def slow(path: str) -> Any:
        fetch_started.set()
        release.wait(15)
        from auth0_drf.testing import json_response

        return json_response(jwks)

    auth0_issuer.override = slow
    clock.advance(61)  # the keys are due for a refresh
    results: dict[str, int] = {}

    def request(name: str, tok: str) -> None:
        results[name] = get(tok).status_code

    first = threading.Thread(target=request, args=("refreshing", m2m_token(auth0_issuer, claims={"n": 1})))
    first.start()
    assert fetch_started.wait(10)
    second = threading.Thread(target=request, args=("waiting", token))
    second.start()
    second.join(10)
    finished_during_fetch = not second.is_alive()
    release.set()
    first.join(20)
    second.join(20)
    assert finished_during_fetch, "a request with a token and keys that still work waited for the JWKS fetch"
    assert results == {"refreshing": 200, "waiting": 200}


@pytest.mark.django_db
def test_jwks_down_after_first_fetch_keeps_cached_keys(auth0_issuer, client_for, settings, caplog):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=0, JWKS_MIN_TTL=0, JWKS_REFETCH_COOLDOWN=0)
    token = auth0_issuer.token()
    assert client_for(token).get("/api/private").status_code == 200
    auth0_issuer.override = lambda path: (500, {}, b"down")
    with caplog.at_level(logging.WARNING, logger="auth0_drf"):
        assert client_for(auth0_issuer.token(sub="auth0|other")).get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() >= 2
    assert "keeping cached keys" in caplog.text


@pytest.mark.django_db
def test_jwks_down_from_the_start_is_503_and_recovers_without_restart(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0)
    auth0_issuer.override = lambda path: (503, {}, b"")
    response = client_for(auth0_issuer.token()).get("/api/private")
    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"
    assert "Retry-After" in response
    auth0_issuer.override = None
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad_jwks", [{"keys": []}, {"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}, {"keys": "none"}, {}]
)
def test_refresh_returning_no_usable_keys_keeps_cached_keys(auth0_issuer, client_for, settings, bad_jwks):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=0, JWKS_MIN_TTL=0, JWKS_REFETCH_COOLDOWN=0)
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
    auth0_issuer.override = lambda path: json_response(bad_jwks)
    assert client_for(auth0_issuer.token(sub="auth0|next")).get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() >= 2


# --- garbage, error statuses, no usable key --------------------------------------------------


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
    auth0_issuer.override = lambda path: (
        status,
        {"Content-Type": "application/json"},
        json.dumps(auth0_issuer.jwks()).encode(),
    )
    assert_keys_unavailable(get(m2m_token(auth0_issuer)))


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [None],
        [1, "x", [], {}],
        [{"kty": "RSA"}],
        [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}],
        [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}],
    ],
    ids=["empty", "null", "junk", "rsa-no-members", "rsa-tiny", "ec-off-curve"],
)
def test_key_sets_without_a_usable_key_are_an_outage(auth0_issuer, keys):
    # Nothing can be verified with such a set: the issuer is broken, not the token (503, retried).
    auth0_issuer.override = lambda path: json_response({"keys": keys})
    assert_keys_unavailable(get(m2m_token(auth0_issuer)))


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
            assert_rejected(
                get(m2m_token(auth0_issuer, key=forger, claims={"n": f"{round_}-{i}"})), code="invalid_signature"
            )
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


@pytest.mark.django_db
def test_key_rotation_is_picked_up_with_one_refetch(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0)
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() == 1
    auth0_issuer.rotate()
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() == 2


@pytest.mark.django_db
def test_removed_key_is_rejected_after_refresh(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0, JWKS_CACHE_TTL=0, JWKS_MIN_TTL=0)
    old_token = auth0_issuer.token()
    assert client_for(old_token).get("/api/private").status_code == 200
    auth0_issuer.rotate(keep_old=False)
    assert_rejected(client_for(old_token).get("/api/private"), code="unknown_key")


@pytest.mark.django_db
def test_random_kid_flood_causes_a_bounded_number_of_fetches(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=60)
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
    for i in range(50):
        token = auth0_issuer.token(headers={"kid": f"random-{i}"})
        assert client_for(token).get("/api/private").status_code == 401
    assert auth0_issuer.jwks_hits() <= 2


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


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cache_control", "fresh_until"),
    [
        ("public, max-age=120", 120),  # honoured
        ("max-age=5", 60),  # raised to JWKS_MIN_TTL
        ("max-age=99999999", 3600),  # lowered to JWKS_MAX_TTL
        ("no-store", 60),  # the minimum, never "fetch on every request"
        ("no-cache, max-age=500", 60),
        (None, 600),  # JWKS_CACHE_TTL
        ("max-age=garbage", 600),
    ],
)
def test_cache_control_max_age_is_honoured_within_bounds(settings, issuer_a, cache_control, fresh_until):
    if cache_control is not None:
        issuer_a.jwks_headers = {"Cache-Control": cache_control}
    settings.AUTH0_DRF = issuer_a.settings(JWKS_MIN_TTL=60, JWKS_MAX_TTL=3600, JWKS_CACHE_TTL=600)
    clock = Clock()
    get_verifier().jwks[issuer_a.issuer].timer = clock
    assert get(issuer_a.token(sub="auth0|1")).status_code == 200
    clock.now += fresh_until - 1
    assert get(issuer_a.token(sub="auth0|2")).status_code == 200
    assert issuer_a.jwks_hits() == 1
    clock.now += 2
    assert get(issuer_a.token(sub="auth0|3")).status_code == 200
    assert issuer_a.jwks_hits() == 2


@pytest.mark.django_db
def test_a_cached_token_is_rechecked_once_the_keys_are_due(settings, issuer_a):
    issuer_a.jwks_headers = {"Cache-Control": "max-age=120"}
    settings.AUTH0_DRF = issuer_a.settings(JWKS_MIN_TTL=60)
    clock = Clock()
    get_verifier().jwks[issuer_a.issuer].timer = clock
    token = issuer_a.token()
    assert get(token).status_code == 200
    assert get(token).status_code == 200
    assert issuer_a.jwks_hits() == 1
    clock.now += 121
    issuer_a.rotate(keep_old=False)  # the key that signed the token is revoked
    assert_rejected(get(token), code="unknown_key")


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


def discovering(issuer: LocalIssuer, **extra: Any) -> dict[str, Any]:
    """Return settings that trust ``issuer`` and find its keys through OpenID discovery."""
    return {"ISSUER": issuer.issuer, "AUDIENCE": issuer.audience, "DISCOVERY": True, **extra}


@pytest.mark.django_db
def test_discovery_finds_the_jwks(settings, issuer_a):
    settings.AUTH0_DRF = discovering(issuer_a)
    assert get(issuer_a.token()).status_code == 200
    assert get(issuer_a.token(sub="auth0|2")).status_code == 200
    assert (issuer_a.hits(DISCOVERY_PATH), issuer_a.jwks_hits()) == (1, 1)


@pytest.mark.django_db
def test_discovery_follows_jwks_uri_to_another_host(settings, issuer_a):
    with LoopbackServer() as keys_host:
        keys_host.routes["/keys"] = json_response(issuer_a.jwks())
        issuer_a.routes[DISCOVERY_PATH] = json_response(
            {"issuer": issuer_a.issuer, "jwks_uri": keys_host.url + "/keys"}
        )
        settings.AUTH0_DRF = {
            "ISSUERS": [{"ISSUER": issuer_a.issuer, "AUDIENCE": issuer_a.audience, "DISCOVERY": True}]
        }
        assert get(issuer_a.token()).status_code == 200
        assert keys_host.hits("/keys") == 1
    assert issuer_a.jwks_hits() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "document",
    [
        {"issuer": "https://evil.example/"},
        {"issuer": "ISSUER-WITHOUT-SLASH"},
        {"issuer": "ISSUER"},  # no jwks_uri
        {"issuer": "ISSUER", "jwks_uri": "http://203.0.113.9/jwks.json"},  # plain http off loopback
        {"issuer": "ISSUER", "jwks_uri": 42},
    ],
)
def test_a_bad_discovery_document_is_refused(settings, issuer_a, document):
    data = dict(document)
    if data["issuer"] == "ISSUER":
        data["issuer"] = issuer_a.issuer
    elif data["issuer"] == "ISSUER-WITHOUT-SLASH":
        data["issuer"] = issuer_a.issuer.rstrip("/")
    if "jwks_uri" not in document and document["issuer"] != "ISSUER":
        data["jwks_uri"] = issuer_a.jwks_uri
    issuer_a.routes[DISCOVERY_PATH] = json_response(data)
    settings.AUTH0_DRF = discovering(issuer_a)
    assert_keys_unavailable(get(issuer_a.token()))
    assert issuer_a.jwks_hits() == 0


@pytest.mark.django_db
def test_a_failed_discovery_is_retried_after_the_cooldown(settings, issuer_a):
    settings.AUTH0_DRF = discovering(issuer_a, JWKS_REFETCH_COOLDOWN=0)
    issuer_a.override = lambda path: (500, {}, b"down") if path == DISCOVERY_PATH else None
    assert_keys_unavailable(get(issuer_a.token()))
    issuer_a.override = None
    assert get(issuer_a.token()).status_code == 200
    assert issuer_a.hits(DISCOVERY_PATH) == 2


@pytest.mark.django_db
def test_a_failed_discovery_is_not_retried_during_the_cooldown(settings, issuer_a):
    settings.AUTH0_DRF = discovering(issuer_a, JWKS_REFETCH_COOLDOWN=60)
    issuer_a.override = lambda path: (500, {}, b"down") if path == DISCOVERY_PATH else None
    for _ in range(5):
        assert_keys_unavailable(get(issuer_a.token()))
    assert issuer_a.hits(DISCOVERY_PATH) == 1


@pytest.mark.django_db
def test_a_moved_jwks_is_found_again_through_discovery(settings, issuer_a):
    settings.AUTH0_DRF = discovering(issuer_a, JWKS_REFETCH_COOLDOWN=0)
    assert get(issuer_a.token()).status_code == 200
    with LoopbackServer() as new_home:
        # The provider moves its keys and rotates: the old jwks_uri is gone.
        new_key = issuer_a.rotate()
        new_home.routes["/jwks"] = lambda: json_response(issuer_a.jwks())
        issuer_a.routes[DISCOVERY_PATH] = json_response({"issuer": issuer_a.issuer, "jwks_uri": new_home.url + "/jwks"})
        issuer_a.routes.pop(issuer_a.JWKS_PATH)
        assert get(issuer_a.token(key=new_key)).status_code == 200
        assert new_home.hits("/jwks") == 1


@pytest.mark.django_db
def test_the_discovery_document_is_cached_for_jwks_max_ttl(settings, issuer_a):
    settings.AUTH0_DRF = discovering(issuer_a, JWKS_CACHE_TTL=600, JWKS_MAX_TTL=3600)
    clock = Clock()
    get_verifier().jwks[issuer_a.issuer].timer = clock
    assert get(issuer_a.token(sub="auth0|1")).status_code == 200
    clock.now += 601  # keys due, discovery not
    assert get(issuer_a.token(sub="auth0|2")).status_code == 200
    assert (issuer_a.hits(DISCOVERY_PATH), issuer_a.jwks_hits()) == (1, 2)
    clock.now += 3000  # discovery due too
    assert get(issuer_a.token(sub="auth0|3")).status_code == 200
    assert (issuer_a.hits(DISCOVERY_PATH), issuer_a.jwks_hits()) == (2, 3)


# --- odd answers that parse: a failed fetch, never a 500 -------------------------------------


def _deep_junk_beside(good: dict, levels: int = 960) -> bytes:
    # Built as text: json.dumps itself would recurse too deep. It still parses (in the fetch's
    # own thread); fingerprinting it on a request's deeper stack would not.
    return b'{"keys": [' + json.dumps(good).encode() + b", " + b"[" * levels + b"]" * levels + b"]}"


ODD_ANSWERS: dict[str, Callable[[LocalIssuer], Any]] = {
    "max-age-of-thousands-of-digits": lambda issuer: json_response(
        issuer.jwks(), **{"Cache-Control": "max-age=" + "9" * 5000}
    ),
    "junk-nested-1000-levels-beside-a-good-key": lambda issuer: (
        200,
        {"Content-Type": "application/json"},
        _deep_junk_beside(issuer.signing_key.public_jwk()),
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
    settings.AUTH0_DRF = auth0_issuer.settings(
        JWKS_URI=None, DISCOVERY=True, JWKS_CACHE_TTL=60, JWKS_REFETCH_COOLDOWN=10
    )
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


# --- when keys are (re)fetched: unknown kids after a scheduled fetch, and backoff after failures ---


@pytest.mark.django_db
def test_a_key_added_just_after_the_first_fetch_is_accepted_with_the_default_cooldown(auth0_issuer, clock):
    # The default JWKS_REFETCH_COOLDOWN (30 s) limits refetches caused by unknown kids, not the
    # first one after an ordinary fetch: a rotation right after startup must not give 401s.
    assert get(auth0_issuer.token()).status_code == 200
    clock.now += 1
    auth0_issuer.rotate()
    assert get(auth0_issuer.token()).status_code == 200
    assert auth0_issuer.jwks_hits() == 2


@pytest.mark.django_db
def test_unknown_kids_refetch_at_most_once_per_cooldown(auth0_issuer, clock):
    assert get(auth0_issuer.token()).status_code == 200
    for i in range(5):
        assert get(auth0_issuer.token(headers={"kid": f"random-{i}"})).status_code == 401
    assert auth0_issuer.jwks_hits() == 2
    clock.now += 29
    auth0_issuer.rotate()
    assert get(auth0_issuer.token()).status_code == 401  # still cooling down
    assert auth0_issuer.jwks_hits() == 2
    clock.now += 2
    assert get(auth0_issuer.token()).status_code == 200
    assert auth0_issuer.jwks_hits() == 3


@pytest.mark.django_db
def test_an_issuer_down_at_startup_is_retried_with_a_growing_backoff(auth0_issuer, clock):
    auth0_issuer.override = lambda path: (503, {}, b"")
    token = auth0_issuer.token()
    response = get(token)
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert get(token).status_code == 503  # within the backoff: no fetch
    assert auth0_issuer.jwks_hits() == 1
    waits = []
    for _ in range(7):
        clock.now += int(get(token)["Retry-After"])
        assert get(token).status_code == 503
        waits.append(int(get(token)["Retry-After"]))
    assert waits == [2, 4, 8, 16, 30, 30, 30]  # doubling, capped at JWKS_REFETCH_COOLDOWN
    assert auth0_issuer.jwks_hits() == 8
    auth0_issuer.override = None
    clock.now += 30
    assert get(token).status_code == 200
    # Recovered: the next failure starts the backoff from 1 s again.
    assert auth0_issuer.jwks_hits() == 9


@pytest.mark.django_db
def test_a_flood_during_an_outage_is_bounded_by_the_backoff(auth0_issuer, clock):
    auth0_issuer.override = lambda path: (500, {}, b"down")
    token = auth0_issuer.token()
    for _ in range(20):
        assert get(token).status_code == 503
    assert auth0_issuer.jwks_hits() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "unusable",
    [
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]},
        {"keys": [{"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"}]},
    ],
)
def test_a_first_jwks_with_no_usable_key_is_an_outage_not_an_invalid_token(auth0_issuer, clock, unusable):
    # No key to verify anything with is the server's problem: 503 and a retry, not a 401 that
    # tells clients their (good) token is bad.
    auth0_issuer.override = lambda path: (200, {"Content-Type": "application/json"}, json.dumps(unusable).encode())
    response = get(auth0_issuer.token())
    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"
    auth0_issuer.override = None
    clock.now += int(response["Retry-After"])
    assert get(auth0_issuer.token()).status_code == 200


@pytest.mark.django_db
def test_new_key_material_under_the_same_kid_is_used_after_one_refetch(auth0_issuer, clock):
    from auth0_drf.signing import LocalKey

    assert get(auth0_issuer.token()).status_code == 200
    clock.now += 1
    # The issuer restarts with a new key under the old kid.
    replacement = LocalKey.generate(kid=auth0_issuer.signing_key.kid)
    auth0_issuer.keys = [replacement]
    auth0_issuer.signing_key = replacement
    assert get(auth0_issuer.token()).status_code == 200
    assert auth0_issuer.jwks_hits() == 2


@pytest.mark.django_db
def test_bad_signatures_refetch_at_most_once_per_cooldown(auth0_issuer, clock):
    from auth0_drf.signing import LocalKey

    assert get(auth0_issuer.token()).status_code == 200
    forger = LocalKey.generate(kid=auth0_issuer.signing_key.kid)
    for _ in range(10):
        response = get(auth0_issuer.token(key=forger))
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_signature"
    assert auth0_issuer.jwks_hits() == 2
    clock.now += 31
    assert get(auth0_issuer.token(key=forger)).status_code == 401
    assert auth0_issuer.jwks_hits() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "headers"),
    [({"JWKS_MIN_TTL": 5}, {"Cache-Control": "max-age=10"}), ({"JWKS_CACHE_TTL": 10}, {})],
    ids=["cache-control", "jwks-cache-ttl"],
)
def test_a_removed_key_stops_working_after_a_lifetime_shorter_than_the_cooldown(
    auth0_issuer, clock, settings, overrides, headers
):
    # JWKS_REFETCH_COOLDOWN (30 s by default) spaces out unknown-kid refetches and retries after
    # failures; it must not stretch a 10 s key lifetime to 30 s.
    settings.AUTH0_DRF = auth0_issuer.settings(**overrides)
    auth0_issuer.jwks_headers = headers
    old = auth0_issuer.token()
    assert get(old).status_code == 200
    auth0_issuer.rotate(keep_old=False)
    clock.now += 9
    assert get(old).status_code == 200  # within its lifetime
    assert auth0_issuer.jwks_hits() == 1
    clock.now += 2
    response = get(old)
    assert response.status_code == 401
    assert response.json()["code"] == "unknown_key"
    hits = auth0_issuer.jwks_hits()
    assert hits >= 2  # the refresh (and the unknown kid's one refetch)
    clock.now += 11
    assert get(auth0_issuer.token()).status_code == 200
    assert auth0_issuer.jwks_hits() == hits + 1  # the next lifetime ended too: refreshed again


@pytest.mark.django_db
def test_a_short_lifetime_does_not_let_unknown_kids_refetch_more_than_once_per_cooldown(auth0_issuer, clock, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=10)
    assert get(auth0_issuer.token()).status_code == 200
    for i in range(5):
        clock.now += 1
        assert get(auth0_issuer.token(headers={"kid": f"random-{i}"})).status_code == 401
    assert auth0_issuer.jwks_hits() == 2  # one refetch for the first unknown kid, none after
