"""The demo under uvicorn (ASGI): sync DRF views and adrf's async view authenticate alike, off the event loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from auth0_drf.testing import LocalIssuer
from tests.helpers import wait_until

from .conftest import AUDIENCE
from .demo import demo_env
from .servers import DPoPClient, UvicornDemo

pytestmark = pytest.mark.e2e  # the demo as a server (pyproject.toml's markers)

SYNC, ASYNC = "/api/private", "/api/async-private"
BAD = {"Authorization": "Bearer not-a-jwt"}


def start_uvicorn(folder: Path, **variables: str) -> UvicornDemo:
    database = folder / "demo.sqlite3"
    env = demo_env(
        DATABASE_URL=f"sqlite:///{database}",
        DJANGO_SECRET_KEY="e2e-" + "x" * 60,
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        **variables,
    )
    return UvicornDemo(env, folder / "uvicorn.log", database).start()


@pytest.fixture(scope="module")
def demo(provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornDemo]:
    server = start_uvicorn(
        tmp_path_factory.mktemp("asgi"),
        AUTH0_ISSUER=provider.issuer,
        AUTH0_AUDIENCE=AUDIENCE,
        AUTH0_JWKS_URI=provider.jwks_uri,
        AUTH0_DPOP="allowed",
    )
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize("path", [SYNC, ASYNC])
def test_a_valid_token_is_accepted_by_the_sync_and_the_async_view(demo, provider, path):
    response = demo.get(path, provider.access_token(sub="e2e|both-views"))
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == "e2e|both-views"


def test_the_async_view_answers_with_the_verified_subject(demo, provider):
    token = provider.access_token(sub="e2e|async-subject")
    assert demo.get(ASYNC, token).json() == {
        "message": "Hello from an async private endpoint! You need to be authenticated to see this.",
        "sub": "e2e|async-subject",
    }


def test_the_async_view_rejects_exactly_as_the_sync_view_does(demo, provider):
    forged = provider.access_token()[:-4] + "AAAA"
    cases = [
        (None, 401, "not_authenticated", None),
        ("not-a-jwt", 401, "not_a_jwt", "invalid_token"),
        (forged, 401, "invalid_signature", "invalid_token"),
        (provider.access_token(aud="https://other.example/"), 401, "invalid_audience", "invalid_token"),
    ]
    for token, status, code, error in cases:
        answers = [demo.get(path, token) for path in (SYNC, ASYNC)]
        for response in answers:
            assert response.status_code == status, (code, response.status_code, response.text)
            assert response.json()["code"] == code
            if token is not None:
                assert token not in response.text
        assert answers[0].headers["WWW-Authenticate"] == answers[1].headers["WWW-Authenticate"]
        assert answers[0].json() == answers[1].json()
        if error is not None:
            assert f'error="{error}"' in answers[1].headers["WWW-Authenticate"]


def test_a_scope_failure_in_a_sync_view_is_a_403_under_uvicorn_too(demo, provider):
    response = demo.get("/api/private-scoped", provider.access_token(scope="openid"))
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_a_dpop_bound_token_is_accepted_by_the_async_view_with_a_fresh_proof_once(demo, provider):
    client = DPoPClient()
    token = provider.access_token(style="at+jwt", cnf={"jkt": client.jkt})
    proof = client.proof(demo.url + ASYNC, token)
    assert demo.get(ASYNC, headers=client.headers(token, proof)).status_code == 200
    replayed = demo.get(ASYNC, headers=client.headers(token, proof))
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "invalid_dpop_proof"
    assert 'error="invalid_dpop_proof"' in replayed.headers["WWW-Authenticate"]
    # The same through a sync view, whose URL the proof must name.
    sync_proof = client.proof(demo.url + SYNC, token)
    assert demo.get(SYNC, headers=client.headers(token, sync_proof)).status_code == 200


def test_while_a_request_waits_for_the_keys_the_event_loop_serves_other_requests(tmp_path):
    """The JWKS fetch of a cold start is held at the issuer: other requests, async view included, are answered."""
    issuer = LocalIssuer(audience=AUDIENCE).start()
    held = threading.Event()
    serve_jwks = issuer.routes[issuer.JWKS_PATH]

    def slow_jwks():  # answers once the test lets it (well within the demo's 5 s JWKS_TIMEOUT)
        held.wait(4)
        return serve_jwks()

    issuer.routes[issuer.JWKS_PATH] = slow_jwks
    demo = start_uvicorn(tmp_path, AUTH0_ISSUER=issuer.issuer, AUTH0_AUDIENCE=AUDIENCE, AUTH0_JWKS_URI=issuer.jwks_uri)
    try:
        answers: dict[str, requests.Response] = {}
        waiting = threading.Thread(target=lambda: answers.setdefault("cold", demo.get(ASYNC, issuer.token())))
        waiting.start()
        assert wait_until(lambda: issuer.jwks_hits() == 1, timeout=10), "the cold request never fetched the keys"
        # The fetch is in flight and held: if it ran on the event loop, nothing would be answered now.
        for path, headers, status in [(ASYNC, {}, 401), ("/api/public", {}, 200), (ASYNC, BAD, 401)]:
            assert requests.get(demo.url + path, headers=headers, timeout=3).status_code == status
        assert waiting.is_alive() and "cold" not in answers  # still waiting for its keys
        held.set()
        waiting.join(10)
        assert answers["cold"].status_code == 200, answers["cold"].text
        assert issuer.jwks_hits() == 1
    finally:
        held.set()
        demo.stop()
        issuer.stop()
    assert "Traceback" not in demo.log(), demo.log()
