"""First requests of many new subjects at once on SQLite with Django's default settings, under uvicorn.

Each first request creates a user. SQLite has one writer at a time, and a deferred transaction that
read first gets "database is locked" at once when another one writes: auth0_drf retries the creation
within a bound, then answers 503 with Retry-After, never 500.
"""

from __future__ import annotations

import threading

import pytest
import requests

from .conftest import AUDIENCE
from .demo import demo_env
from .servers import UvicornDemo

pytestmark = pytest.mark.e2e  # the demo as a server (pyproject.toml's markers)

SUBJECTS = 40


@pytest.fixture
def demo(provider, tmp_path):
    database = tmp_path / "demo.sqlite3"
    env = demo_env(
        DJANGO_SETTINGS_MODULE="tests.e2e.sqlite_defaults",
        DATABASE_URL=f"sqlite:///{database}",
        DJANGO_SECRET_KEY="e2e-" + "x" * 60,
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        AUTH0_ISSUER=provider.issuer,
        AUTH0_AUDIENCE=AUDIENCE,
        AUTH0_JWKS_URI=provider.jwks_uri,
        AUTH0_DRF_LOG_LEVEL="WARNING",
    )
    server = UvicornDemo(env, tmp_path / "uvicorn.log", database).start()
    yield server
    server.stop()


def test_forty_new_subjects_at_once_get_200_or_503_with_retry_after_never_500(demo, provider):
    # Keys fetched and one user created first: what is measured is the user creations alone.
    assert demo.get("/api/private", provider.access_token()).status_code == 200
    tokens = [provider.access_token(sub=f"e2e|first-{n:02d}") for n in range(SUBJECTS)]
    # Half through the sync view, half through the async one: both authenticate in threads.
    paths = ["/api/private" if n % 2 else "/api/async-private" for n in range(SUBJECTS)]
    answers: list[requests.Response | None] = [None] * SUBJECTS
    start = threading.Barrier(SUBJECTS)

    def first_request(n: int) -> None:
        start.wait()
        answers[n] = demo.get(paths[n], tokens[n])

    threads = [threading.Thread(target=first_request, args=(n,)) for n in range(SUBJECTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 503}, statuses
    refused = [n for n, answer in enumerate(answers) if answer.status_code == 503]
    for n in refused:
        answer = answers[n]
        assert answer.json()["code"] == "database_unavailable"
        assert int(answer.headers["Retry-After"]) >= 1
    assert statuses.count(200) > SUBJECTS // 2, statuses  # the retries serve most of them at once
    # Those told to come back are served when they do.
    for n in refused:
        assert demo.get(paths[n], tokens[n]).status_code == 200
    log = demo.log()
    assert "Traceback" not in log and "Internal Server Error" not in log, log
    print(f"{statuses.count(200)} x 200, {len(refused)} x 503 with Retry-After")
