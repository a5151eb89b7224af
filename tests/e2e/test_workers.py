"""Two gunicorn workers: one JWKS fetch for both and DPoP replays refused by both, through a real Redis.

Each test starts its own OpenID provider (which counts the JWKS fetches), its own ``redis-server``
on a free loopback port where it needs one, and the demo under gunicorn with two sync workers,
configured by its environment only (``AUTH0_REDIS_URL`` gives it a Redis cache for
``JWKS_SHARED_CACHE`` and ``DPOP_REPLAY_CACHE``). A ``HeldRequest`` keeps one worker busy so
that the next request goes to the other: which worker answered comes from gunicorn's access log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_until

from .conftest import AUDIENCE
from .demo import demo_env, manage
from .provider import OpenIDProvider
from .servers import DPoPClient, GunicornDemo, HeldRequest, RedisServer

pytestmark = pytest.mark.e2e  # the demo as a server (pyproject.toml's markers)

PATH = "/api/private"


@pytest.fixture
def provider() -> Iterator[OpenIDProvider]:
    """A provider of this test's own, so that its JWKS fetches are this test's only."""
    provider = OpenIDProvider(AUDIENCE).start()
    yield provider
    provider.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def demo_settings(provider: OpenIDProvider, **variables: str) -> dict[str, str]:
    return demo_env(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="e2e-" + "x" * 60,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        AUTH0_ISSUER=provider.issuer,
        AUTH0_AUDIENCE=AUDIENCE,
        AUTH0_JWKS_URI=provider.jwks_uri,
        AUTH0_DPOP="allowed",
        **variables,
    )


def start_gunicorn(folder: Path, env: dict[str, str]) -> GunicornDemo:
    database = folder / "demo.sqlite3"
    env = {**env, "DATABASE_URL": f"sqlite:///{database}"}
    return GunicornDemo(env, folder / "gunicorn.log", database, workers=2).start()


def on_both_workers(demo: GunicornDemo, first: dict[str, str], second: dict[str, str]) -> list[tuple[Any, ...]]:
    """Send two requests that two different workers answer; return (pid, status, code) for each, in order.

    ``second`` is held (all but its last line sent), which keeps the worker that accepted it waiting;
    ``first`` then goes to the other worker, and ``second`` is completed once ``first`` is answered.
    Each carries a query string of its own (which DPoP's ``htu`` ignores) to find it in the access log.
    """
    tag = uuid.uuid4().hex
    held = HeldRequest(demo.port, f"{PATH}?{tag}=second", second)
    answer = demo.get(f"{PATH}?{tag}=first", headers=first)
    status, _, body = held.finish()

    def logged() -> dict[str, tuple[int, int]]:
        return {query: (pid, code) for pid, _, query, code in demo.answers() if query.startswith(tag)}

    assert wait_until(lambda: len(logged()) == 2), demo.answers()
    (first_pid, first_status), (second_pid, second_status) = logged()[f"{tag}=first"], logged()[f"{tag}=second"]
    assert first_pid != second_pid, logged()  # the held request kept its worker from taking the other one
    assert (first_status, second_status) == (answer.status_code, status)
    return [(first_pid, answer.status_code, answer.json().get("code")), (second_pid, status, body.get("code"))]


def test_two_workers_sharing_redis_fetch_the_keys_once_and_refuse_a_proof_replayed_to_either(
    provider, redis_server, tmp_path
):
    demo = start_gunicorn(tmp_path, demo_settings(provider, AUTH0_REDIS_URL=redis_server.url))
    try:
        client = DPoPClient()
        token = provider.access_token(style="at+jwt", cnf={"jkt": client.jkt})
        proof_a, proof_b = client.proof(demo.url + PATH, token), client.proof(demo.url + PATH, token)
        # Each worker's first request: both need keys, one fetches them, the other adopts its copy.
        (pid_a, *accepted_a), (pid_b, *accepted_b) = on_both_workers(
            demo, client.headers(token, proof_a), client.headers(token, proof_b)
        )
        assert accepted_a == accepted_b == [200, None]
        assert provider.key_requests() == 1
        # proof_a was accepted by worker A: replayed to both workers, it is refused by both.
        replays = on_both_workers(demo, client.headers(token, proof_a), client.headers(token, proof_a))
        assert sorted(pid for pid, *_ in replays) == sorted([pid_a, pid_b])
        assert [answer[1:] for answer in replays] == [(401, "invalid_dpop_proof")] * 2
        # And a fresh proof is accepted, wherever it goes.
        assert demo.get(PATH, headers=client.headers(token, client.proof(demo.url + PATH, token))).status_code == 200
        assert provider.key_requests() == 1

        # Redis gone: a proof cannot be checked, so it is a 503 with Retry-After, never accepted, never a 500.
        redis_server.stop()
        response = demo.get(PATH, headers=client.headers(token, client.proof(demo.url + PATH, token)))
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "dpop_replay_cache_unavailable"
        assert int(response.headers["Retry-After"]) >= 1
        # Bearer tokens need no replay cache: they go on being served with the keys each worker holds.
        assert demo.get(PATH, provider.access_token()).status_code == 200
    finally:
        demo.stop()
    assert 500 not in [status for *_, status in demo.answers()], demo.log()


def test_without_a_shared_cache_each_worker_fetches_the_keys_and_accepts_a_proof_once_as_w005_warns(provider, tmp_path):
    env = demo_settings(provider)
    demo = start_gunicorn(tmp_path, env)
    try:
        client = DPoPClient()
        token = provider.access_token(style="at+jwt", cnf={"jkt": client.jkt})
        proof = client.proof(demo.url + PATH, token)
        headers = client.headers(token, proof)
        (pid_a, status_a, _), (pid_b, status_b, _) = on_both_workers(demo, headers, headers)
        # The same proof, once per worker process: each remembers only what it has seen itself.
        assert (status_a, status_b) == (200, 200)
        assert provider.key_requests() == 2
    finally:
        demo.stop()
    assert 500 not in [status for *_, status in demo.answers()], demo.log()
    check = manage({**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}, "check")
    assert check.returncode == 0, check.stderr
    assert "auth0_drf.W005" in check.stderr and "a proof replayed to another worker is accepted" in check.stderr
    # With the demo's Redis settings the warning is gone (system checks never connect: nothing listens there).
    redis_env = {
        **env,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "AUTH0_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    with_redis = manage(redis_env, "check")
    assert with_redis.returncode == 0 and "W005" not in with_redis.stdout + with_redis.stderr, with_redis.stderr
