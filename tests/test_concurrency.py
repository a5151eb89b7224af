"""A threaded live server under concurrent requests: users created once, rotation under load, no errors.

Requests travel over real HTTP to pytest-django's ``live_server`` (a threaded WSGI server in
this process), so each request has its own thread and database connection, as in production.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model

from auth0_drf.models import Auth0Identity

pytestmark = pytest.mark.django_db(transaction=True)

User = get_user_model()
WORKERS = 12


def fetch(session: requests.Session, url: str, token: str) -> int:
    return session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def test_first_seen_users_are_created_exactly_once(live_server, auth0_issuer):
    subjects = [f"auth0|concurrent-{i}" for i in range(10)]
    tokens = [auth0_issuer.token(sub=sub, claims={"n": n}) for sub in subjects for n in range(6)]
    url = live_server.url + "/api/private"
    local = threading.local()
    start = threading.Barrier(WORKERS)

    def call(token: str) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            start.wait(timeout=30)  # every worker fires its first request together
        return fetch(local.session, url, token)

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(call, tokens))
    assert Counter(statuses) == {200: len(tokens)}
    for sub in subjects:
        assert Auth0Identity.objects.filter(subject=sub).count() == 1
    assert User.objects.count() == len(subjects)


def test_same_new_subject_from_many_threads_at_once(live_server, auth0_issuer):
    token = auth0_issuer.token(sub="auth0|stampede")
    url = live_server.url + "/api/claims"
    barrier = threading.Barrier(WORKERS)

    def call(_: int) -> Any:
        with requests.Session() as session:
            barrier.wait(timeout=30)
            response = session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            return response.status_code, response.json()["user"]["id"]

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(call, range(WORKERS)))
    assert {status for status, _ in results} == {200}
    assert len({user_id for _, user_id in results}) == 1
    assert Auth0Identity.objects.filter(subject="auth0|stampede").count() == 1


def test_key_rotation_under_load(live_server, auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0)
    url = live_server.url + "/api/private"
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def hammer(worker: int) -> None:
        with requests.Session() as session:
            n = 0
            while not stop.is_set():
                n += 1
                # Always a token from the current signing key: every one must pass.
                token = auth0_issuer.token(
                    sub=f"auth0|rot-{worker % 3}@clients", claims={"gty": "client-credentials", "n": n}
                )
                status = fetch(session, url, token)
                with lock:
                    statuses[status] += 1

    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(hammer, worker) for worker in range(WORKERS)]
        for _ in range(4):
            _wait_for_requests(statuses, lock, 40)
            auth0_issuer.rotate()  # new kid, old key still published
        _wait_for_requests(statuses, lock, 40)
        stop.set()
        for future in futures:
            future.result(timeout=60)
    assert set(statuses) == {200}, statuses
    assert auth0_issuer.jwks_hits() <= 1 + 4 * WORKERS  # each new kid causes a bounded number of fetches


def _wait_for_requests(statuses: Counter[int], lock: threading.Lock, more: int) -> None:
    import time

    with lock:
        target = sum(statuses.values()) + more
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if sum(statuses.values()) >= target:
                return
        time.sleep(0.01)
    raise AssertionError("the workers stopped making progress")


def test_revoked_key_is_rejected_by_every_thread_after_refresh(live_server, auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0, JWKS_CACHE_TTL=0, JWKS_MIN_TTL=0)
    old = auth0_issuer.token(sub="svc@clients", claims={"gty": "client-credentials"})
    url = live_server.url + "/api/private"
    with requests.Session() as session:
        assert fetch(session, url, old) == 200
    auth0_issuer.rotate(keep_old=False)
    with requests.Session() as session:
        assert fetch(session, url, old) == 401  # the refresh that drops the key
    # While a scheduled refresh is in flight, other threads keep the keys they hold (they do not
    # queue behind the network call), so the threads are started once the refresh has happened.
    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(lambda _: fetch(requests.Session(), url, old), range(WORKERS * 2)))
    assert statuses == [401] * (WORKERS * 2)


def test_concurrent_hostile_requests_get_clean_rejections_over_real_http(live_server, auth0_issuer):
    bad = [
        auth0_issuer.token(lifetime=-600),
        "a.b.c",
        auth0_issuer.token(audience="https://other/"),
        auth0_issuer.token()[:-4],
    ]
    host, port = urlsplit(live_server.url).hostname, urlsplit(live_server.url).port

    def call(i: int) -> tuple[int, list[tuple[str, str]]]:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        connection.request("GET", "/api/private", headers={"Authorization": f"Bearer {bad[i % len(bad)]}"})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, response.getheaders()

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(call, range(WORKERS * 4)))
    for status, headers in results:
        assert status == 401
        challenges = [value for name, value in headers if name.lower() == "www-authenticate"]
        assert len(challenges) == 1 and challenges[0].startswith('Bearer realm="api", error="invalid_token"')


@pytest.mark.parametrize(
    "headers",
    [
        [b"Bearer VALID", b"Bearer VALID"],
        [b"Bearer VALID", b"Basic YWRtaW46YWRtaW4="],
        [b"Bearer VALID\xc3\xa9"],
        [b"Bearer \xff\xfe"],
        [b"Bearer VALID, Bearer VALID"],
    ],
    ids=["twice", "bearer-and-basic", "utf8-suffix", "latin1-bytes", "comma-joined"],
)
def test_raw_authorization_headers_over_real_http(live_server, auth0_issuer, headers):
    # Two Authorization headers reach the WSGI environ joined by a comma: more than one token.
    token = auth0_issuer.token().encode()
    parts = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest("GET", "/api/private")
    for value in headers:
        connection.putheader("Authorization", value.replace(b"VALID", token))
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 400, body
    assert token.decode() not in body.decode("utf-8", "replace")
    challenges = [value for name, value in response.getheaders() if name.lower() == "www-authenticate"]
    assert len(challenges) == 1 and 'error="invalid_request"' in challenges[0]
