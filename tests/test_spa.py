"""A single-page app on another origin calling the demo: CORS (django-cors-headers) and the dev issuer's token endpoint.

Through Django's test client with the demo's own settings (tests/settings.py imports them), the
headers a browser sends (``Origin``, a preflight's ``Access-Control-Request-*``). The same calls from a
real browser are in tests/e2e/test_spa_browser.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from auth0_drf.dev_issuer import SPA_SUBJECT

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
SPA = "http://localhost:5173"
ISSUER = "http://127.0.0.1:8000/"
AUDIENCE = "https://api.example.test/"


@pytest.fixture
def spa_origin(settings: Any) -> str:
    settings.CORS_ALLOWED_ORIGINS = [SPA]
    return SPA


def preflight(path: str, origin: str, headers: str = "authorization") -> Any:
    return Client().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


def test_the_preflight_of_a_call_with_a_token_is_answered_without_one(spa_origin):
    response = preflight("/api/private", spa_origin, "authorization,dpop")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SPA
    allowed = {name.strip() for name in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "dpop", "content-type"} <= allowed
    assert "GET" in response["Access-Control-Allow-Methods"]
    assert "WWW-Authenticate" not in response  # authentication never ran


def test_a_401_is_readable_cross_origin_with_its_challenge_exposed(spa_origin):
    response = Client().get("/api/private", HTTP_ORIGIN=spa_origin)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == SPA
    assert response["Access-Control-Expose-Headers"] == "WWW-Authenticate"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == "not_authenticated"


def test_a_token_from_the_spa_is_accepted_with_the_cors_headers(spa_origin, auth0_token):
    response = Client().get("/api/private", HTTP_ORIGIN=spa_origin, HTTP_AUTHORIZATION=f"Bearer {auth0_token()}")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SPA
    assert "origin" in response["Vary"].lower()  # a cache must not serve one origin's answer to another


def test_an_origin_not_listed_gets_no_cors_headers(spa_origin):
    assert "Access-Control-Allow-Origin" not in preflight("/api/private", "https://evil.example")
    assert "Access-Control-Allow-Origin" not in Client().get("/api/private", HTTP_ORIGIN="https://evil.example")


def test_the_admin_is_not_opened_to_other_origins(spa_origin):
    assert "Access-Control-Allow-Origin" not in Client().get("/admin/login/", HTTP_ORIGIN=spa_origin)


def demo_setting(name: str, **env: str) -> Any:
    """Return a setting of the demo as its settings module computes it from ``env`` alone."""
    variables = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "demo_project.settings", **env}
    code = f"from django.conf import settings; print(repr(settings.{name}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=variables, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout)  # noqa: S307 (a repr of a list of strings, from our own process)


def test_in_dev_issuer_mode_the_usual_spa_dev_servers_are_allowed():
    origins = demo_setting("CORS_ALLOWED_ORIGINS", DJANGO_DEBUG="true")
    assert "http://localhost:3000" in origins and "http://localhost:5173" in origins


def test_with_a_tenant_no_origin_is_allowed_unless_configured():
    tenant = {"DJANGO_DEBUG": "true", "AUTH0_DOMAIN": "example.eu.auth0.com", "AUTH0_AUDIENCE": AUDIENCE}
    assert demo_setting("CORS_ALLOWED_ORIGINS", **tenant) == []
    configured = demo_setting(
        "CORS_ALLOWED_ORIGINS", **tenant, CORS_ALLOWED_ORIGINS="https://app.example.com, http://localhost:4200"
    )
    assert configured == ["https://app.example.com", "http://localhost:4200"]


# --- the development issuer's token endpoint --------------------------------------------------------


@pytest.fixture
def dev_issuer(settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.DEBUG = True
    settings.AUTH0_DRF = {
        "ISSUER": ISSUER,
        "AUDIENCE": AUDIENCE,
        "DEV_ISSUER": True,
        "DEV_ISSUER_KEY_FILE": str(tmp_path / "dev.pem"),
    }
    return settings.AUTH0_DRF


def test_the_token_endpoint_mints_a_token_the_api_accepts(dev_issuer):
    response = Client().post("/dev-issuer/token", {"scope": "read:messages  write:messages"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "read:messages write:messages"
    authorization = f"Bearer {body['access_token']}"
    assert Client().get("/api/private-scoped", HTTP_AUTHORIZATION=authorization).status_code == 200
    assert Client().get("/api/private", HTTP_AUTHORIZATION=authorization).json()["sub"] == SPA_SUBJECT


def test_the_token_endpoint_takes_a_subject(dev_issuer):
    token = Client().post("/dev-issuer/token", {"sub": "auth0|frontend-dev"}).json()["access_token"]
    assert Client().get("/api/private", HTTP_AUTHORIZATION=f"Bearer {token}").json()["sub"] == "auth0|frontend-dev"


def test_the_token_endpoint_answers_loopback_clients_only(dev_issuer):
    assert Client().post("/dev-issuer/token", REMOTE_ADDR="192.0.2.7").status_code == 404
    assert Client().post("/dev-issuer/token", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200
    assert Client().post("/dev-issuer/token", REMOTE_ADDR="::1").status_code == 200


def test_the_token_endpoint_wants_a_post(dev_issuer):
    response = Client().get("/dev-issuer/token")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_the_token_endpoint_is_404_without_debug_or_without_the_dev_issuer(dev_issuer, settings):
    settings.DEBUG = False
    assert Client().post("/dev-issuer/token").status_code == 404
    settings.DEBUG = True
    settings.AUTH0_DRF = {**dev_issuer, "DEV_ISSUER": False}
    assert Client().post("/dev-issuer/token").status_code == 404


def test_a_spa_may_fetch_a_development_token_cross_origin(dev_issuer, spa_origin):
    response = Client().post("/dev-issuer/token", {"scope": "read:messages"}, HTTP_ORIGIN=spa_origin)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SPA


# --- the settings docs/spa.md gives to copy ----------------------------------------------------------


def documented_cors_settings() -> dict[str, Any]:
    """Execute the ``# settings.py`` snippet of docs/spa.md; return the settings it sets (``...`` left in)."""
    page = (ROOT / "docs" / "spa.md").read_text(encoding="utf-8")
    [code] = [block for block in page.split("```python\n")[1:] if block.startswith("# settings.py")]
    namespace: dict[str, Any] = {}
    exec(code.split("```")[0], namespace)  # noqa: S102 (our own documentation)
    return {name: value for name, value in namespace.items() if name.isupper()}


def test_the_documented_cors_settings_let_a_spa_call_a_project_that_had_none(settings):
    documented = documented_cors_settings()
    assert "corsheaders" in documented["INSTALLED_APPS"]
    # A project without CORS: the demo's middleware, less CorsMiddleware, is what "..." stands for.
    before = [name for name in settings.MIDDLEWARE if name != "corsheaders.middleware.CorsMiddleware"]
    settings.MIDDLEWARE = before
    assert preflight("/api/private", "https://app.example.com").status_code == 401  # the forum threads' first step
    settings.MIDDLEWARE = [name for name in documented["MIDDLEWARE"] if name is not ...] + before
    for name in ("CORS_ALLOWED_ORIGINS", "CORS_URLS_REGEX", "CORS_ALLOW_HEADERS", "CORS_EXPOSE_HEADERS"):
        setattr(settings, name, documented[name])
    response = preflight("/api/private", "https://app.example.com", "authorization,dpop")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    refused = Client().get("/api/private", HTTP_ORIGIN="https://app.example.com")
    assert refused.status_code == 401
    assert refused["Access-Control-Expose-Headers"] == "WWW-Authenticate"
    assert "Access-Control-Allow-Origin" not in Client().get("/admin/login/", HTTP_ORIGIN="https://app.example.com")
