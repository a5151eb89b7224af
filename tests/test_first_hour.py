"""A newcomer's first hour: what went wrong when the README was followed to the letter, each now right.

``manage.py test`` on the documented development setup, ``auth0_inspect`` on a development token, the
401 of an untrusted issuer, ``auth0_mint``'s usage errors, and a server left without an ``AUDIENCE``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from auth0_drf.dev_issuer import mint_token
from auth0_drf.diagnosis import diagnose
from tests.e2e.demo import demo_env, manage

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
AUDIENCE = "https://api.example.test/"
TENANT = {"DOMAIN": "example.eu.auth0.com", "AUDIENCE": AUDIENCE}


def dev_settings(tmp_path: Path, issuer: str = "http://127.0.0.1:8000/") -> dict[str, Any]:
    return {
        "ISSUER": issuer,
        "AUDIENCE": AUDIENCE,
        "DEV_ISSUER": True,
        "DEV_ISSUER_KEY_FILE": str(tmp_path / "dev.pem"),
    }


def get(path: str, token: str) -> Any:
    return APIClient().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


# --- 1. manage.py test on the documented development setup ----------------------------------------

SETTINGS_ADDITIONS = """
INSTALLED_APPS += ["rest_framework", "auth0_drf", "myapp"]

REST_FRAMEWORK = {
    # List auth0_drf FIRST: DRF takes the WWW-Authenticate challenge of a 401 from the first class only.
    "DEFAULT_AUTHENTICATION_CLASSES": ["auth0_drf.authentication.Auth0Authentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Adds RFC 6750's insufficient_scope challenge to 403s caused by missing scopes.
    "EXCEPTION_HANDLER": "auth0_drf.exceptions.exception_handler",
}

AUTH0_DRF = {
    "DOMAIN": "example.eu.auth0.com",          # your tenant or custom domain: no scheme, no path
    "AUDIENCE": "https://api.example.com",     # your API identifier (Auth0 dashboard > APIs)
}

if DEBUG:
    AUTH0_DRF = {
        "ISSUER": "http://127.0.0.1:8000/",        # where runserver listens; tokens carry it as iss
        "AUDIENCE": "https://api.example.com",
        "DEV_ISSUER": True,
    }
"""

VIEWS = """
from rest_framework.decorators import api_view
from rest_framework.response import Response


@api_view(["GET"])
def me(request):
    claims = request.auth
    return Response({"sub": claims.sub, "user": request.user.username, "scopes": sorted(claims.scopes)})
"""

URLS = """
from django.contrib import admin
from django.urls import include, path

from myapp.views import me

urlpatterns = [path("admin/", admin.site.urls), path("api/me", me)]

urlpatterns += [path("", include("auth0_drf.dev_urls"))]
"""

TESTS = """
from rest_framework.test import APITestCase

from auth0_drf.testing import Auth0TestMixin


class MeTests(Auth0TestMixin, APITestCase):
    auth0_issuer_mode = "in-process"  # or "loopback" (the default)

    def test_me_needs_a_token(self):
        self.assertEqual(self.client.get("/api/me").status_code, 401)

    def test_me_with_a_token(self):
        self.auth0_authenticate(scope="read:messages")
        response = self.client.get("/api/me")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["scopes"], ["read:messages"])
"""


def new_project(folder: Path) -> tuple[Path, dict[str, str]]:
    """Create a project as a newcomer would (startproject, startapp) and set it up as the README says."""
    folder.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "AUTH0_"))}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's auth0_drf, not the one installed in the venv
    for command in (["startproject", "mysite", "."], ["startapp", "myapp"]):
        subprocess.run([sys.executable, "-m", "django", *command], cwd=folder, env=env, check=True)
    settings = folder / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + textwrap.dedent(SETTINGS_ADDITIONS))
    (folder / "mysite" / "urls.py").write_text(URLS)
    (folder / "myapp" / "views.py").write_text(VIEWS)
    (folder / "myapp" / "tests.py").write_text(TESTS)
    return folder, env


def run_tests(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "test"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def test_manage_py_test_passes_for_the_documented_development_setup(tmp_path):
    project, env = new_project(tmp_path / "project")
    assert "DEBUG = True" in (project / "mysite" / "settings.py").read_text()
    result = run_tests(project, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "auth0_drf.E010" not in result.stderr
    assert "Ran 2 tests" in result.stderr and "\nOK\n" in result.stderr


def test_manage_py_test_still_refuses_the_dev_issuer_in_a_settings_file_without_debug(tmp_path):
    project, env = new_project(tmp_path / "project")
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text().replace("DEBUG = True", "DEBUG = False").replace("if DEBUG:", "if True:"))
    for command in ("test", "check"):
        result = subprocess.run(
            [sys.executable, "manage.py", command], cwd=project, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode != 0
        assert "auth0_drf.E010" in result.stderr, result.stderr


# --- 2. auth0_inspect on a development token, with a tenant's settings --------------------------------


def test_inspect_calls_a_development_token_what_it_is_not_a_custom_domain(settings, tmp_path):
    settings.DEBUG = True
    settings.AUTH0_DRF = dev_settings(tmp_path)
    token = mint_token(sub="auth0|dev")
    settings.AUTH0_DRF = TENANT
    [(code, message)] = [(p.code, p.message) for p in diagnose(token).problems]
    assert code == "invalid_issuer"
    assert message == (
        'iss is "http://127.0.0.1:8000/"; this API trusts https://example.eu.auth0.com/. The token comes from a local '
        "development issuer (its iss is a loopback address: manage.py auth0_mint, the demo, or a test issuer), not "
        "from an Auth0 tenant or custom domain, and this API trusts no local issuer. Send an access token from your "
        "tenant (your app's getTokenSilently(), or the Test tab of your API in the Auth0 dashboard); to develop "
        'without a tenant instead, run with AUTH0_DRF = {"ISSUER": "http://127.0.0.1:8000/", "AUDIENCE": ..., '
        '"DEV_ISSUER": True} (DEBUG only).'
    )
    assert "custom domain, but" not in message and "127.0.0.1," not in message


def test_inspect_explains_a_development_token_minted_for_another_port(settings, tmp_path):
    settings.DEBUG = True
    settings.AUTH0_DRF = dev_settings(tmp_path)
    token = mint_token(sub="auth0|dev")
    settings.AUTH0_DRF = dev_settings(tmp_path, "http://127.0.0.1:8001/")
    [problem] = diagnose(token).problems
    assert problem.code == "invalid_issuer"
    assert problem.message.endswith(
        "Both are local issuers (loopback addresses), at different addresses: tokens carry the address of the issuer "
        "that minted them. Mint the token with the server's settings (in the demo, set "
        "AUTH0_DEV_ISSUER_URL=http://127.0.0.1:8001/ for manage.py auth0_mint, as bin/demo does from PORT)."
    )


# --- 3. the 401 of an untrusted issuer, and of an expired development token --------------------------------


def test_the_401_of_an_untrusted_issuer_names_the_trusted_one_and_never_the_tokens(auth0_issuer):
    response = get("/api/private", auth0_issuer.token(issuer="https://attacker.example/"))
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail == (
        f"The access token was issued by an issuer this API does not trust; it trusts {auth0_issuer.issuer}. iss must "
        "be exactly one of these (a custom domain and the tenant's *.auth0.com domain are different issuers)."
    )
    assert auth0_issuer.issuer in response["WWW-Authenticate"]
    assert "attacker" not in response.content.decode() + response["WWW-Authenticate"]


def test_many_trusted_issuers_are_named_up_to_three(auth0_issuer, settings):
    others = [{"ISSUER": f"https://login{n}.example.com/"} for n in range(4)]
    settings.AUTH0_DRF = auth0_issuer.settings(ISSUERS=others)
    detail = get("/api/private", auth0_issuer.token(issuer="https://attacker.example/")).json()["detail"]
    assert (
        f"it trusts {auth0_issuer.issuer}, https://login0.example.com/, https://login1.example.com/ and 2 more."
        in detail
    )


def test_in_dev_issuer_mode_the_401_points_at_the_issuer_url_of_the_server(settings, tmp_path):
    settings.DEBUG = True
    settings.AUTH0_DRF = dev_settings(tmp_path)
    token = mint_token(sub="auth0|dev")  # what `manage.py auth0_mint` gives without the server's PORT
    settings.AUTH0_DRF = dev_settings(tmp_path, "http://127.0.0.1:8001/")
    response = get("/api/private", token)
    assert response.status_code == 401
    assert response.json() == {
        "detail": "The access token was issued by an issuer this API does not trust; it trusts http://127.0.0.1:8001/, "
        "its local development issuer. Mint the token with the server's settings: manage.py auth0_mint signs for "
        "AUTH0_DRF['ISSUER'] (in the demo, set AUTH0_DEV_ISSUER_URL=http://127.0.0.1:8001/).",
        "code": "invalid_issuer",
    }
    assert "AUTH0_DEV_ISSUER_URL=http://127.0.0.1:8001/" in response["WWW-Authenticate"]


def test_an_expired_development_token_is_to_be_minted_again_not_fetched_from_auth0(settings, tmp_path):
    settings.DEBUG = True
    settings.AUTH0_DRF = dev_settings(tmp_path)
    token = mint_token(sub="auth0|dev", lifetime=-600)
    response = get("/api/private", token)
    assert response.status_code == 401
    assert response.json() == {
        "detail": "The access token has expired: mint a new one (manage.py auth0_mint).",
        "code": "token_expired",
    }
    [problem] = diagnose(token).problems
    assert problem.message.endswith(": mint a new one (manage.py auth0_mint).")


def test_an_expired_tenant_token_is_still_to_be_fetched_again(auth0_issuer):
    response = get("/api/private", auth0_issuer.token(lifetime=-600))
    assert response.json()["detail"] == "The access token has expired: get a new one from Auth0."


# --- 5. auth0_mint's usage errors ----------------------------------------------------------------------------


def mint_command(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = demo_env(DJANGO_DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env["PYTHONPATH"] = str(ROOT)
    return manage(env, "auth0_mint", *args)


@pytest.mark.parametrize(
    ("claim", "error"),
    [
        ("plan", "CommandError: --claim takes name=value (the value may be JSON), not 'plan': e.g. --claim plan=pro"),
        ("=pro", "CommandError: --claim takes name=value (the value may be JSON), not '=pro': e.g. --claim plan=pro"),
        (
            'x=["a",',
            "CommandError: --claim x: '[\"a\",' is not valid JSON (Expecting value: line 1 column 6 (char 5)).",
        ),
        (
            "x={plan: 1}",
            "CommandError: --claim x: '{plan: 1}' is not valid JSON (Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)).",
        ),
        (
            'x="pro',
            "CommandError: --claim x: '\"pro' is not valid JSON (Unterminated string starting at: line 1 "
            "column 1 (char 0)).",
        ),
        ("x=1e400", "CommandError: --claim x: '1e400' is not valid JSON (1e400 is too large for a JSON number)."),
    ],
)
def test_a_bad_claim_is_a_one_line_usage_error(claim, error, tmp_path):
    result = mint_command("--claim", claim, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [error]


def test_claim_values_are_json_when_they_parse_and_strings_otherwise(settings, tmp_path):
    settings.DEBUG = True
    settings.AUTH0_DRF = dev_settings(tmp_path)
    out = StringIO()
    claims = ["n=3", "ok=true", "none=null", "plan=pro", "day=2024-01-01", 'tags=["a", "b"]', "x=NaN", "empty="]
    call_command("auth0_mint", *[f"--claim={claim}" for claim in claims], stdout=out)
    verified = get("/api/claims", out.getvalue().strip()).json()["claims"]
    assert {name: verified[name] for name in ("n", "ok", "none", "plan", "day", "tags", "x", "empty")} == {
        "n": 3,
        "ok": True,
        "none": None,
        "plan": "pro",
        "day": "2024-01-01",
        "tags": ["a", "b"],
        "x": "NaN",
        "empty": "",
    }


def test_mint_refuses_an_empty_audience(settings, tmp_path):
    settings.DEBUG = True
    settings.AUTH0_DRF = dev_settings(tmp_path)
    with pytest.raises(CommandError, match=r"^--audience is empty: give your API identifier"):
        call_command("auth0_mint", "--audience", " ", stdout=StringIO())
    settings.AUTH0_DRF = {**dev_settings(tmp_path), "AUDIENCE": None}
    with pytest.raises(CommandError, match=r"^No audience for the development token: set AUTH0_DRF\['AUDIENCE'\]"):
        call_command("auth0_mint", stdout=StringIO())
    with pytest.raises(ImproperlyConfigured):
        mint_token(sub="auth0|dev", audience="")


# --- 7. a server without AUDIENCE whose checks were skipped -------------------------------------------------


def test_without_an_audience_the_api_answers_503_and_logs_a_configuration_error(auth0_issuer, settings, caplog):
    settings.AUTH0_DRF = auth0_issuer.settings(AUDIENCE=None)
    with caplog.at_level(logging.WARNING, logger="auth0_drf"):
        response = get("/api/private", auth0_issuer.token())
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The API cannot check access tokens: its configuration names no audience (AUTH0_DRF['AUDIENCE']). "
        "The token was not examined.",
        "code": "audience_not_configured",
    }
    assert response["Retry-After"] == "300"
    assert "audience=" not in response.content.decode()  # the client is not told to fix its token
    [record] = [record for record in caplog.records if record.name == "auth0_drf"]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith(
        f"auth0_drf: configuration error: no AUDIENCE is configured for the issuer {auth0_issuer.issuer}, so every "
        "token is refused with 503 (code=audience_not_configured): set AUTH0_DRF['AUDIENCE']"
    )
    assert "auth0_drf.E002" in record.getMessage()
    assert auth0_issuer.jwks_hits() == 0  # nothing fetched for a token that cannot be accepted


def test_an_issuer_of_issuers_without_an_audience_is_refused_the_same_way(auth0_issuer, settings):
    settings.AUTH0_DRF = {"ISSUERS": [{**auth0_issuer.settings(), "AUDIENCE": []}], "AUDIENCE": AUDIENCE}
    response = get("/api/private", auth0_issuer.token())
    assert (response.status_code, response.json()["code"]) == (503, "audience_not_configured")


def test_inspect_says_the_audience_is_missing_from_the_settings_not_from_the_token(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(AUDIENCE=None)
    problems = [(p.code, p.message) for p in diagnose(auth0_issuer.token()).problems]
    assert problems == [
        (
            "audience_not_configured",
            f"No AUDIENCE is configured for {auth0_issuer.issuer}, so this API accepts no token at all (it answers "
            "503): set AUTH0_DRF['AUDIENCE'] to your API identifier (system check auth0_drf.E002).",
        )
    ]
