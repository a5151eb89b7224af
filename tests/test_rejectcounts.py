"""Rejection counts: real rejected requests through the loopback issuer, counted in memory, added to the database.

The write bound is asserted with a hand-moved interval clock (``RejectionCounter.timer``); the
buckets with a hand-set wall clock. Two processes merging counts is a real second Python process
writing into the same test database.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from auth0_drf.models import RejectionCount
from auth0_drf.rejectcounts import (
    BUCKET_SECONDS,
    OTHER,
    UNVERIFIED,
    RejectionCounter,
    prune_rejections,
    rejection_counter,
    rejection_key,
)
from tests.helpers import Clock, get, send

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


@pytest.fixture
def interval_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Move the counter's interval clock by hand; the interval starts now."""
    fake = Clock()
    monkeypatch.setattr(RejectionCounter, "timer", staticmethod(fake))
    rejection_counter.clear()
    return fake


def forged(token: str, **changes: Any) -> str:
    """Return ``token`` with claims changed but the original signature: its payload is unverified."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    text = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{text}.{signature}"


def counted() -> dict[tuple[str, str, str, str], int]:
    """Return the database's counts by (code, issuer, client, audience), buckets summed."""
    totals: dict[tuple[str, str, str, str], int] = {}
    for row in RejectionCount.objects.all():
        key = (row.code, row.issuer, row.client_id, row.audience)
        totals[key] = totals.get(key, 0) + row.count
    return totals


def rejection_write_queries(queries: list[dict[str, Any]]) -> list[str]:
    return [q["sql"] for q in queries if "auth0_drf_rejectioncount" in q["sql"]]


# --- what is counted -------------------------------------------------------------------------------


def test_a_token_whose_signature_was_not_checked_is_counted_as_unverified(auth0_issuer, interval_clock):
    valid = auth0_issuer.token(sub="auth0|alice")
    # Claims naming a trusted issuer and a client, but not signed by the issuer: none of it is believed.
    assert get(forged(valid, azp="evil-client", aud="https://evil.example/")).status_code == 401
    assert get("not-a-jwt").status_code == 401
    assert rejection_counter.flush() == 2
    assert counted() == {
        ("invalid_signature", UNVERIFIED, UNVERIFIED, ""): 1,
        ("not_a_jwt", UNVERIFIED, UNVERIFIED, ""): 1,
    }


def test_a_verified_token_is_counted_with_its_issuer_client_and_for_invalid_audience_its_aud(
    auth0_issuer, interval_clock
):
    assert get(auth0_issuer.token(audience="https://other-api.example/")).status_code == 401
    assert get(auth0_issuer.token(lifetime=-3600, claims={"azp": "mobile-app"})).status_code == 401
    assert get(auth0_issuer.token(claims={"azp": None, "client_id": "m2m-app"}, lifetime=-3600)).status_code == 401
    assert get(auth0_issuer.token(scope="write:other"), "/api/private-scoped").status_code == 403
    rejection_counter.flush()
    issuer = auth0_issuer.issuer
    assert counted() == {
        ("invalid_audience", issuer, "test-client-id", "https://other-api.example/"): 1,
        ("token_expired", issuer, "mobile-app", ""): 1,
        ("token_expired", issuer, "m2m-app", ""): 1,
        ("insufficient_scope", issuer, "test-client-id", ""): 1,
    }


def test_keys_that_are_unavailable_are_counted_as_a_503(auth0_issuer, interval_clock, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_URI="http://127.0.0.1:9/jwks.json", JWKS_TIMEOUT=0.5)
    assert get(auth0_issuer.token()).status_code == 503
    rejection_counter.flush()
    assert counted() == {("jwks_unavailable", UNVERIFIED, UNVERIFIED, ""): 1}


def test_rejections_are_counted_in_ten_minute_buckets(interval_clock, monkeypatch):
    start = 1_700_000_400.0  # a bucket boundary
    assert start % BUCKET_SECONDS == 0
    for moment in (start, start + 599, start + 600, start + 1300):
        monkeypatch.setattr(RejectionCounter, "clock", staticmethod(lambda moment=moment: moment))
        assert send("Bearer garbage").status_code == 401
    rejection_counter.flush()
    rows = {row.bucket: row.count for row in RejectionCount.objects.all()}
    boundary = datetime.fromtimestamp(start, tz=dt_timezone.utc)
    assert rows == {
        boundary: 2,
        boundary + timedelta(minutes=10): 1,
        boundary + timedelta(minutes=20): 1,
    }


def test_the_key_holds_verified_values_only():
    now = 1_700_000_523.0
    assert rejection_key("not_a_jwt", {}, now) == (1_700_000_400, "not_a_jwt", UNVERIFIED, UNVERIFIED, "")
    verified = {"iss": "https://t.example/", "client": "app\x00\n1", "aud": ["https://a/", "https://b/"]}
    assert rejection_key("invalid_audience", verified, now)[2:] == (
        "https://t.example/",
        "app1",
        "https://a/ https://b/",
    )
    # The audience is kept for invalid_audience only.
    assert rejection_key("token_expired", verified, now)[2:] == ("https://t.example/", "app1", "")
    assert rejection_key("token_expired", {"iss": "https://t.example/", "client": None}, now)[3] == ""


def test_distinct_keys_in_memory_are_bounded_and_the_rest_is_counted_as_other(monkeypatch):
    counter = RejectionCounter()
    monkeypatch.setattr(counter, "max_keys", 3)
    for index in range(10):
        counter.count("token_expired", {"iss": "https://t.example/", "client": f"client-{index}"})
    pending = counter.pending()
    assert len(pending) == 4
    assert sum(pending.values()) == 10
    assert [count for key, count in pending.items() if key[2:4] == (OTHER, OTHER)] == [7]


# --- how often it writes ------------------------------------------------------------------------------


def test_a_flood_of_rejected_requests_costs_at_most_one_write_per_interval(interval_clock, settings):
    settings.AUTH0_DRF = {**settings.AUTH0_DRF, "REJECTIONS_INTERVAL": 60}
    rejection_counter.clear()
    writes = rejection_counter.writes
    with CaptureQueriesContext(connection) as first_interval:
        for _ in range(200):
            assert send("Bearer garbage").status_code == 401
    # Nothing is written before the interval has passed.
    assert rejection_counter.writes == writes
    assert rejection_write_queries(first_interval.captured_queries) == []
    assert RejectionCount.objects.count() == 0

    interval_clock.advance(60)
    with CaptureQueriesContext(connection) as second_interval:
        for _ in range(200):
            assert send("Bearer garbage").status_code == 401
    assert rejection_counter.writes == writes + 1
    # One key: one update, then one insert (the row was new); a prune follows the first write.
    statements = rejection_write_queries(second_interval.captured_queries)
    assert [sql.split()[0] for sql in statements if "DELETE" not in sql and "ORDER BY" not in sql] == [
        "UPDATE",
        "INSERT",
    ]
    assert counted() == {("not_a_jwt", UNVERIFIED, UNVERIFIED, ""): 201}
    assert sum(rejection_counter.pending().values()) == 199  # the rest waits for the next interval

    interval_clock.advance(60)
    with CaptureQueriesContext(connection) as third_interval:
        assert send("Bearer garbage").status_code == 401
    assert rejection_counter.writes == writes + 2
    assert [sql.split()[0] for sql in rejection_write_queries(third_interval.captured_queries)] == ["UPDATE"]
    assert counted() == {("not_a_jwt", UNVERIFIED, UNVERIFIED, ""): 401}


def test_a_rejection_that_is_not_due_costs_no_query(interval_clock):
    with CaptureQueriesContext(connection) as queries:
        assert send("Bearer garbage").status_code == 401
    assert queries.captured_queries == []


def test_turned_off_it_counts_and_writes_nothing(auth0_issuer, interval_clock, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(RECORD_REJECTIONS=False)
    for token in ("garbage", auth0_issuer.token(lifetime=-60)):
        for _ in range(5):
            assert get(token).status_code == 401
    interval_clock.advance(3600)
    assert get("garbage").status_code == 401
    assert len(rejection_counter) == 0
    assert rejection_counter.flush() == 0
    assert RejectionCount.objects.count() == 0


# Outside a test transaction: MySQL and MariaDB commit on DDL (the RENAME) anyway.
@pytest.mark.django_db(transaction=True)
def test_a_failed_write_never_fails_the_request_and_keeps_the_counts(interval_clock, caplog, settings):
    settings.AUTH0_DRF = {**settings.AUTH0_DRF, "REJECTIONS_INTERVAL": 10}
    rejection_counter.clear()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE auth0_drf_rejectioncount RENAME TO auth0_drf_rejectioncount_gone")
    try:
        interval_clock.advance(10)
        for _ in range(3):
            assert send("Bearer garbage").status_code == 401
        interval_clock.advance(10)
        assert send("Bearer garbage").status_code == 401
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE auth0_drf_rejectioncount_gone RENAME TO auth0_drf_rejectioncount")
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "rejection counts" in r.getMessage()]
    assert len(warnings) == 1  # logged once, then at DEBUG
    assert "could not write rejection counts (the request goes on)" in warnings[0].getMessage()
    assert sum(rejection_counter.pending().values()) == 4
    assert rejection_counter.flush() == 1
    assert counted() == {("not_a_jwt", UNVERIFIED, UNVERIFIED, ""): 4}


# --- retention ------------------------------------------------------------------------------------


def make_row(bucket: datetime, code: str = "not_a_jwt", count: int = 1) -> RejectionCount:
    key = (int(bucket.timestamp()), code, UNVERIFIED, UNVERIFIED, "")
    return RejectionCount.objects.create(
        bucket=bucket,
        code=code,
        issuer=UNVERIFIED,
        client_id=UNVERIFIED,
        lookup_key=RejectionCount.key_for(*key),
        count=count,
        last_seen=bucket,
    )


def test_prune_removes_old_buckets_and_rows_beyond_the_limit():
    now = timezone.now().replace(microsecond=0)
    old = make_row(now - timedelta(days=8))
    recent = [make_row(now - timedelta(minutes=10 * index)) for index in range(5)]
    assert prune_rejections(max_age=7 * 86400, max_rows=3, now=now) == 3
    assert set(RejectionCount.objects.values_list("pk", flat=True)) == {row.pk for row in recent[:3]}
    assert not RejectionCount.objects.filter(pk=old.pk).exists()


def test_a_write_prunes_automatically_with_the_settings(interval_clock, settings):
    settings.AUTH0_DRF = {**settings.AUTH0_DRF, "REJECTIONS_MAX_AGE": 3600, "REJECTIONS_MAX_ROWS": 5}
    rejection_counter.clear()
    stale = make_row(timezone.now() - timedelta(hours=2))
    interval_clock.advance(3600)
    assert send("Bearer garbage").status_code == 401
    assert not RejectionCount.objects.filter(pk=stale.pk).exists()
    assert counted() == {("not_a_jwt", UNVERIFIED, UNVERIFIED, ""): 1}


# --- several processes ---------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, sys.argv[1])
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    from django.conf import settings
    settings.DATABASES["default"]["NAME"] = sys.argv[2]
    import django
    django.setup()
    from rest_framework.test import APIClient
    from auth0_drf.rejectcounts import rejection_counter
    client = APIClient()
    for _ in range(int(sys.argv[3])):
        for _ in range(5):
            assert client.get("/api/private", HTTP_AUTHORIZATION="Bearer garbage").status_code == 401
        rejection_counter.flush()
    print("done", rejection_counter.writes)
    """
)


@pytest.mark.django_db(transaction=True)
def test_two_processes_add_their_counts_to_the_same_rows(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rounds = 30
    child = subprocess.Popen(
        [sys.executable, str(script), str(ROOT), connection.settings_dict["NAME"], str(rounds)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(rounds):
            for _ in range(5):
                assert send("Bearer garbage").status_code == 401
            rejection_counter.flush()
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out.split() == ["done", str(rounds)]
    assert counted() == {("not_a_jwt", UNVERIFIED, UNVERIFIED, ""): 2 * rounds * 5}
    assert len(rejection_counter) == 0


# --- nothing token-like is stored -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_nothing_of_the_tokens_reaches_the_database_file(auth0_issuer, interval_clock):
    if connection.vendor != "sqlite":
        pytest.skip("reads the SQLite database file")
    tokens = [
        auth0_issuer.token(sub="auth0|secret-subject", audience="https://other-api.example/"),
        auth0_issuer.token(sub="auth0|secret-subject", lifetime=-60),
        forged(auth0_issuer.token(sub="auth0|secret-subject"), azp="evil-client-id"),
        "opaque-garbage-token-value-1234567890",
    ]
    for token in tokens:
        assert get(token, HTTP_USER_AGENT="secret-agent/1.0", REMOTE_ADDR="203.0.113.77").status_code == 401
    assert rejection_counter.flush() == 4
    connection.close()  # everything on disk
    name = Path(connection.settings_dict["NAME"])
    data = b"".join(path.read_bytes() for path in name.parent.glob(name.name + "*"))
    assert b"invalid_audience" in data and b"test-client-id" in data  # what is stored, is there
    for token in tokens:
        for part in {token, *token.split(".")}:
            assert part.encode() not in data
    for text in ("secret-subject", "evil-client-id", "secret-agent", "203.0.113.77"):
        assert text.encode() not in data
