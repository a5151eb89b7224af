"""The test helpers our users' suites rely on: issuers, the token factory, fixtures, the unittest mixin."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from rest_framework.test import APITestCase

from auth0_drf.conf import auth0_settings
from auth0_drf.testing import Auth0TestMixin, InProcessIssuer, LocalIssuer, make_issuer, reset_caches
from auth0_drf.tokens import get_verifier

from .helpers import get

pytestmark = pytest.mark.django_db


# --- the token factory --------------------------------------------------------------------


def test_token_factory_sets_every_kind_of_claim_and_header(auth0_issuer):
    token = auth0_issuer.token(
        sub="auth0|dana",
        scope=["read:messages", "write:messages"],
        permissions=["archive:messages"],
        claims={"https://app.example/plan": "pro", "azp": "my-client"},
        lifetime=120,
        headers={"typ": "at+jwt", "x-test": "1"},
        drop=["iat"],
    )
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": auth0_issuer.signing_key.kid, "x-test": "1"}
    assert payload["sub"] == "auth0|dana"
    assert payload["scope"] == "read:messages write:messages"
    assert payload["permissions"] == ["archive:messages"]
    assert payload["https://app.example/plan"] == "pro"
    assert payload["azp"] == "my-client"
    assert payload["exp"] - 125 <= int(time.time()) <= payload["exp"] - 115
    assert "iat" not in payload
    # ...and the API accepts it, with those claims.
    body = get(token, "/api/claims").json()
    assert body["claims"]["sub"] == "auth0|dana"
    assert body["scopes"] == ["archive:messages", "read:messages", "write:messages"]


def test_expired_token_from_the_factory_is_rejected(auth0_issuer):
    response = get(auth0_issuer.token(lifetime=-60), "/api/private")
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


# --- LocalIssuer (loopback HTTP) -----------------------------------------------------------


def test_local_issuer_serves_its_jwks_over_loopback(auth0_issuer):
    assert auth0_issuer.issuer.startswith("http://127.0.0.1:")
    assert auth0_issuer.settings(LEEWAY=0) == {
        "ISSUER": auth0_issuer.issuer,
        "AUDIENCE": "https://api.example.test/",
        "JWKS_URI": auth0_issuer.jwks_uri,
        "ALGORITHMS": ["RS256"],
        "LEEWAY": 0,
    }
    assert get(auth0_issuer.token(), "/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() == 1


def test_pyjwt_cannot_decode_our_rejections_differently(auth0_issuer):
    # Sanity check on the fixture itself: its tokens are valid for a standard library too.
    token = auth0_issuer.token()
    claims = jwt.decode(
        token, auth0_issuer.signing_key.public_key, algorithms=["RS256"], audience=auth0_issuer.audience
    )
    assert claims["iss"] == auth0_issuer.issuer


# --- InProcessIssuer -----------------------------------------------------------------------


@pytest.fixture
def in_process(settings):
    issuer = InProcessIssuer().start()
    settings.AUTH0_DRF = issuer.settings()
    yield issuer
    issuer.stop()


def test_in_process_issuer_needs_no_server(in_process):
    assert in_process.issuer == "https://in-process-issuer.test/"
    response = get(in_process.token(sub="auth0|erin"), "/api/private")
    assert response.status_code == 200, response.content
    assert response.json()["sub"] == "auth0|erin"
    cache = get_verifier().jwks[in_process.issuer]
    assert cache.static and cache.fetch_count == 0


def test_in_process_keys_survive_settings_changes_and_rotation(in_process, settings):
    settings.AUTH0_DRF = in_process.settings(LEEWAY=0)  # a new verifier is built
    assert get(in_process.token(), "/api/private").status_code == 200
    old = in_process.signing_key
    in_process.rotate()
    assert get(in_process.token(), "/api/private").status_code == 200
    assert get(in_process.token(key=old), "/api/private").status_code == 200
    in_process.rotate(keep_old=False)
    response = get(in_process.token(key=old), "/api/private")
    assert response.status_code == 401 and response.json()["code"] == "unknown_key"
    assert get_verifier().jwks[in_process.issuer].fetch_count == 0


def test_in_process_issuer_stop_removes_its_keys(in_process, settings):
    assert get_verifier().jwks[in_process.issuer].keys is not None
    in_process.stop()
    assert get_verifier().jwks[in_process.issuer].keys is None


def test_make_issuer_modes():
    assert isinstance(make_issuer("in-process"), InProcessIssuer)
    with pytest.raises(ValueError, match="mode must be 'loopback' or 'in-process', not 'remote'"):
        make_issuer("remote")


# --- pytest fixtures -----------------------------------------------------------------------


def test_auth0_api_client_is_authenticated_and_can_switch_tokens(auth0_api_client):
    response = auth0_api_client.get("/api/private")
    assert response.status_code == 200
    assert response.json()["sub"] == "auth0|test-user"
    assert auth0_api_client.get("/api/private-scoped").status_code == 403
    auth0_api_client.use_token(scope="read:messages")
    assert auth0_api_client.get("/api/private-scoped").status_code == 200


def test_auth0_token_mints_from_the_issuer(auth0_token, auth0_issuer):
    payload = jwt.decode(auth0_token(sub="auth0|fred"), options={"verify_signature": False})
    assert (payload["iss"], payload["sub"]) == (auth0_issuer.issuer, "auth0|fred")


class TestSettingsOverridesFixture:
    @pytest.fixture
    def auth0_settings_overrides(self):
        return {"SCOPE_CLAIMS": ["permissions"]}

    def test_overrides_are_installed(self, auth0_api_client):
        assert auth0_settings.SCOPE_CLAIMS == ["permissions"]
        auth0_api_client.use_token(scope="read:messages")  # scope is no longer read
        assert auth0_api_client.get("/api/private-scoped").status_code == 403
        auth0_api_client.use_token(permissions=["read:messages"])
        assert auth0_api_client.get("/api/private-scoped").status_code == 200


class TestInProcessMode:
    @pytest.fixture
    def auth0_issuer_mode(self):
        return "in-process"

    def test_fixtures_use_an_in_process_issuer(self, auth0_issuer, auth0_api_client):
        assert isinstance(auth0_issuer, InProcessIssuer)
        assert auth0_api_client.get("/api/private").status_code == 200
        assert get_verifier().jwks[auth0_issuer.issuer].fetch_count == 0


# --- unittest, through DRF's APITestCase ---------------------------------------------------


class MessagesAPITests(Auth0TestMixin, APITestCase):
    """How a project using unittest tests its API: the mixin starts an issuer per class."""

    def setUp(self):
        reset_caches()  # our suite's convention; a user's suite does not need it

    def test_list_needs_read_messages(self):
        self.assertIsInstance(self.auth0_issuer, LocalIssuer)
        self.auth0_authenticate(scope="read:messages")
        self.assertEqual(self.client.get("/api/messages/").status_code, 200)
        self.client.credentials(**self.auth0_credentials(scope="openid"))
        response = self.client.get("/api/messages/")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["missing_scopes"], ["read:messages"])

    def test_create_needs_write_messages(self):
        self.auth0_authenticate(sub="auth0|writer", permissions=["write:messages"])
        response = self.client.post("/api/messages/", {"text": "hello"}, format="json")
        self.assertEqual(response.status_code, 201, response.content)

    def test_no_token_is_401(self):
        response = self.client.get("/api/messages/")
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response["WWW-Authenticate"], 'Bearer realm="api"')


class InProcessMessagesAPITests(Auth0TestMixin, APITestCase):
    auth0_issuer_mode = "in-process"
    auth0_audience = "https://messages.example/"

    def test_list(self):
        self.assertIsInstance(self.auth0_issuer, InProcessIssuer)
        self.auth0_authenticate(scope="read:messages")
        self.assertEqual(self.client.get("/api/messages/").status_code, 200)
        self.assertEqual(auth0_settings.AUDIENCE, "https://messages.example/")


# --- collection ---------------------------------------------------------------------------


def test_pytest_does_not_take_test_issuer_for_a_test_class(tmp_path):
    # A user's test module that imports TestIssuer (to annotate a fixture, say) must not make
    # pytest try to collect it: "cannot collect test class 'TestIssuer'" is a warning, an error here.
    (tmp_path / "test_uses_the_issuer.py").write_text(
        "from auth0_drf.testing import TestIssuer\n\n\ndef test_nothing():\n    assert TestIssuer\n"
    )
    worktree = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:django",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestCollectionWarning",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": worktree},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


# --- the plugin without pytest-django or settings ---------------------------------------------------------

USES_THE_FIXTURE = (
    "def test_uses_the_client(auth0_api_client):\n    assert auth0_api_client.get('/api/private').status_code == 200\n"
)


def run_a_users_suite(
    tmp_path: Path, conftest: str = "", *, django_plugin: bool = False, settings: str | None = "tests.settings"
) -> subprocess.CompletedProcess[str]:
    """Run a user's test that uses ``auth0_api_client``; pytest-django is blocked unless ``django_plugin``."""
    (tmp_path / "test_user_suite.py").write_text(USES_THE_FIXTURE)
    (tmp_path / "conftest.py").write_text(conftest)
    worktree = str(Path(__file__).resolve().parent.parent)
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(PYTHONPATH=worktree, **({"DJANGO_SETTINGS_MODULE": settings} if settings else {}))
    plugins = [] if django_plugin else ["-p", "no:django"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugins, "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_plugin_says_to_install_pytest_django_when_it_is_missing(tmp_path):
    # As if pytest-django were not installed: importlib finds no module recorded as None.
    result = run_a_users_suite(tmp_path, "import sys\n\nsys.modules['pytest_django'] = None\n")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "auth0_drf's pytest fixtures need pytest-django" in output
    assert 'pip install "auth0-drf[test]"' in output
    assert "has no attribute" not in output and "Traceback" not in output


def test_the_plugin_says_to_load_pytest_django_when_it_is_disabled(tmp_path):
    result = run_a_users_suite(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "pytest-django is installed but not loaded" in output and "-p pytest_django.plugin" in output
    assert "has no attribute" not in output and "Traceback" not in output


def test_the_plugin_says_to_set_django_settings_module_when_it_is_not_set(tmp_path):
    result = run_a_users_suite(tmp_path, django_plugin=True, settings=None)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "auth0_drf's pytest fixtures need Django's settings: set DJANGO_SETTINGS_MODULE" in output
    assert "Traceback" not in output
