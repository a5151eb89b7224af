"""SQLite's "database is locked" while a first-seen user is created: retried, then a 503, never a 500.

A second connection (Python's own sqlite3, as another process would) holds SQLite's write lock
while a request for a new subject arrives. The request's connection waits only 50 ms for the lock
(its ``timeout``), so each attempt to create the user fails with "database is locked".
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import django
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from auth0_drf.models import Auth0Identity

ROOT = Path(__file__).resolve().parent.parent
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write lock")
pytestmark = [sqlite_only, pytest.mark.django_db(transaction=True)]

User = get_user_model()


@pytest.fixture
def impatient_connection(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the request's connection wait 50 ms for a lock instead of the settings' 20 s."""
    connection.close()
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.05)
    yield
    connection.close()  # the next test connects with the settings' timeout again


@contextmanager
def write_lock_held(seconds: float | None = None) -> Iterator[None]:
    """Hold SQLite's write lock from another connection, for ``seconds`` or the whole block."""
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            holder.execute("ROLLBACK")
            holder.close()

    timer = threading.Timer(seconds, release) if seconds is not None else None
    if timer is not None:
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.join()
        release()


def get_claims(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/claims")


def test_a_first_request_that_finds_the_database_locked_is_retried_until_the_lock_is_released(
    auth0_issuer, impatient_connection
):
    token = auth0_issuer.token(sub="auth0|patient")
    # Three attempts in a row, as before, are over within about 0.15 s; the pauses between
    # retries outlast a lock held for 0.4 s.
    with write_lock_held(seconds=0.4):
        response = get_claims(token)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["username"] == "auth0|patient"
    assert Auth0Identity.objects.filter(subject="auth0|patient").count() == 1
    assert User.objects.filter(username="auth0|patient").count() == 1


def test_a_database_locked_through_every_retry_is_a_503_with_retry_after(auth0_issuer, impatient_connection, caplog):
    token = auth0_issuer.token(sub="auth0|locked-out")
    started = time.monotonic()
    with write_lock_held(), caplog.at_level(logging.INFO, logger="auth0_drf"):
        response = get_claims(token)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "database_unavailable"
    assert response["Retry-After"] == "1"
    # Bounded: six attempts of 50 ms and pauses of at most 1.55 s.
    assert elapsed < 5, elapsed
    errors = [r.getMessage() for r in caplog.records if r.name == "auth0_drf" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "stayed locked" in errors[0], errors
    assert token not in caplog.text and token.split(".")[2] not in caplog.text
    # Nothing half made; the next request, once the lock is gone, creates the user.
    assert not User.objects.filter(username="auth0|locked-out").exists()
    assert get_claims(token).status_code == 200


@pytest.mark.django_db(transaction=False)
def test_the_demo_settings_load_on_this_django_and_ask_for_immediate_transactions_only_where_it_can(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AUTH0_", "DJANGO_", "DATABASE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="demo_project.settings", DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    script = "import django; django.setup(); from django.db import connection; connection.ensure_connection(); "
    script += "print(connection.settings_dict['OPTIONS'])"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    options = result.stdout.strip()
    assert "'timeout': 20" in options
    assert ("'transaction_mode': 'IMMEDIATE'" in options) == (django.VERSION >= (5, 1))
