"""The drf-spectacular extension, through the demo project's generated schema, in each ``OPENAPI_SCHEME`` mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("drf_spectacular")

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles import finders  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402
from drf_spectacular.settings import patched_settings  # noqa: E402
from openapi_spec_validator import OpenAPIV30SpecValidator  # noqa: E402
from rest_framework.permissions import IsAuthenticated  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from auth0_drf.checks import check_settings  # noqa: E402
from auth0_drf.openapi import describe_scopes, scope_alternatives  # noqa: E402
from auth0_drf.permissions import HasAnyScope, HasScope, ReadWriteScopes  # noqa: E402
from demo_project.settings import swagger_ui_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCHEMES = ("bearer", "oauth2", "openIdConnect")
DOMAIN = "tenant.eu.auth0.com"
AUDIENCE = "https://api.example.test/"
#: What each operation of the demo needs (one alternative each; the demo has no "any of" permission).
DEMO_SCOPES = {
    ("/api/public/", "get"): None,  # no token at all
    ("/api/private/", "get"): [],
    ("/api/claims/", "get"): [],
    ("/api/private-scoped/", "get"): ["read:messages"],
    ("/api/messages/", "get"): ["read:messages"],
    ("/api/messages/", "post"): ["write:messages"],
    ("/api/messages/{id}/", "get"): ["read:messages"],
    ("/api/messages/{id}/", "put"): ["write:messages"],
    ("/api/messages/{id}/", "patch"): ["write:messages"],
    ("/api/messages/{id}/", "delete"): ["write:messages"],
    ("/api/messages/{id}/archive/", "post"): ["archive:messages"],
}


def auth0_drf(**overrides: Any) -> override_settings:
    """Override ``AUTH0_DRF``: the test settings, a tenant domain as the issuer, and ``overrides``."""
    return override_settings(AUTH0_DRF={**settings.AUTH0_DRF, "ISSUER": None, "DOMAIN": DOMAIN, **overrides})


def generate(scheme: str = "bearer", urlconf: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Generate the schema as ``manage.py spectacular --validate --fail-on-warn`` does, and validate it again.

    drf-spectacular's ``--validate`` checks the schema against the OpenAPI JSON Schema;
    openapi-spec-validator is an independent validator. Neither knows that OpenAPI 3.0 reserves scope
    lists for oauth2 and openIdConnect schemes: ``assert_security_is_consistent`` checks that.
    """
    out = StringIO()
    options: dict[str, Any] = {"urlconf": urlconf} if urlconf else {"validate": True, "fail_on_warn": True}
    with auth0_drf(OPENAPI_SCHEME=scheme, **overrides):
        call_command("spectacular", format="openapi-json", stdout=out, **options)
    schema: dict[str, Any] = json.loads(out.getvalue())
    OpenAPIV30SpecValidator(schema).validate()
    assert_security_is_consistent(schema)
    return schema


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]


def assert_security_is_consistent(schema: dict[str, Any]) -> None:
    """Every requirement names a defined scheme; only oauth2/openIdConnect ones list scopes; oauth2's are offered."""
    schemes = schema["components"]["securitySchemes"]
    for path, method, operation in operations(schema):
        for requirement in operation.get("security", []):
            for name, scopes in requirement.items():
                scheme = schemes[name]
                if scheme["type"] not in ("oauth2", "openIdConnect"):
                    assert scopes == [], f"{method} {path}: a {scheme['type']} scheme must have an empty scope list"
                if scheme["type"] == "oauth2":
                    offered = set().union(*(flow["scopes"] for flow in scheme["flows"].values()))
                    assert set(scopes) <= offered, f"{method} {path}: {scopes} not in the flows' scopes"


@pytest.fixture(scope="module", params=SCHEMES)
def any_schema(request: pytest.FixtureRequest) -> dict[str, Any]:
    return generate(request.param)


@pytest.fixture(scope="module")
def bearer() -> dict[str, Any]:
    return generate("bearer")


@pytest.fixture(scope="module")
def oauth2() -> dict[str, Any]:
    return generate("oauth2")


@pytest.fixture(scope="module")
def oidc() -> dict[str, Any]:
    return generate("openIdConnect")


def test_the_demo_schema_is_valid_openapi_3_0_in_every_mode(any_schema):
    # The fixture validated it three ways; this test names that, and that the version is 3.0.
    assert any_schema["openapi"] == "3.0.3"
    assert {(path, method) for path, method, _ in operations(any_schema)} >= set(DEMO_SCOPES)


def test_the_default_mode_is_bearer():
    assert settings.AUTH0_DRF.get("OPENAPI_SCHEME", "bearer") == "bearer"
    schema = generate("bearer")
    assert schema == generate(**{})  # the same schema whether the setting is given or left out


def test_bearer_mode_describes_an_http_bearer_jwt(bearer):
    assert bearer["components"]["securitySchemes"] == {
        "auth0": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": f"An Auth0 access token (a JWT), requested with audience={AUDIENCE}, sent as "
            "'Authorization: Bearer <token>'. "
            "Operations' descriptions name the scopes (or RBAC permissions) they need.",
        }
    }


def test_bearer_mode_lists_no_scopes_in_any_security_requirement(bearer):
    for (path, method), scopes in DEMO_SCOPES.items():
        expected = [{}] if scopes is None else [{"auth0": []}]
        assert bearer["paths"][path][method]["security"] == expected, (method, path)


def test_bearer_mode_still_names_the_scopes_in_descriptions(bearer):
    # The demo lists auth0_drf.openapi.describe_scopes in SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"].
    paths = bearer["paths"]
    assert paths["/api/private-scoped/"]["get"]["description"] == (
        "A valid access token with the read:messages scope (or RBAC permission).\n\nRequired scopes: `read:messages`."
    )
    assert paths["/api/messages/{id}/archive/"]["post"]["description"].endswith("Required scopes: `archive:messages`.")
    assert paths["/api/messages/"]["post"]["description"].endswith("Required scopes: `write:messages`.")
    assert "Required scopes" not in paths["/api/private/"]["get"]["description"]


def test_oauth2_mode_describes_auth0s_authorization_code_flow_with_the_audience(oauth2):
    scheme = oauth2["components"]["securitySchemes"]["auth0"]
    assert scheme["type"] == "oauth2"
    assert list(scheme["flows"]) == ["authorizationCode"]
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == f"https://{DOMAIN}/authorize?audience=https%3A%2F%2Fapi.example.test%2F"
    assert flow["tokenUrl"] == f"https://{DOMAIN}/oauth/token"
    assert f"audience={AUDIENCE}" in scheme["description"]


def test_oauth2_mode_offers_every_scope_an_operation_checks_with_a_description(oauth2):
    scopes = oauth2["components"]["securitySchemes"]["auth0"]["flows"]["authorizationCode"]["scopes"]
    assert list(scopes) == ["archive:messages", "read:messages", "write:messages"]
    assert scopes["archive:messages"] == "Used by POST /api/messages/{id}/archive/."
    assert scopes["read:messages"] == "Used by GET /api/messages/, GET /api/messages/{id}/, GET /api/private-scoped/."
    assert scopes["write:messages"] == (
        "Used by POST /api/messages/, PUT /api/messages/{id}/, PATCH /api/messages/{id}/, DELETE /api/messages/{id}/."
    )


@pytest.mark.parametrize("mode", ["oauth2", "openIdConnect"])
def test_scope_schemes_list_each_operations_scopes_in_its_requirement(mode, oauth2, oidc):
    schema = oauth2 if mode == "oauth2" else oidc
    for (path, method), scopes in DEMO_SCOPES.items():
        expected = [{}] if scopes is None else [{"auth0": scopes}]
        assert schema["paths"][path][method]["security"] == expected, (method, path)


def test_openid_connect_mode_points_at_the_issuers_discovery_document(oidc):
    scheme = oidc["components"]["securitySchemes"]["auth0"]
    assert scheme["type"] == "openIdConnect"
    assert scheme["openIdConnectUrl"] == f"https://{DOMAIN}/.well-known/openid-configuration"
    assert f"audience={AUDIENCE}" in scheme["description"]


def test_the_describe_scopes_hook_works_in_scope_modes_too(oauth2):
    assert oauth2["paths"]["/api/private-scoped/"]["get"]["description"].endswith("Required scopes: `read:messages`.")


def test_several_issuers_are_described_by_the_first_and_its_first_audience():
    issuers = [
        {"ISSUER": "https://login.example.com/", "AUDIENCE": ["https://api.example.com", "https://old.example.com"]},
        {"DOMAIN": "second.auth0.com"},
    ]
    schema = generate("oauth2", DOMAIN=None, ISSUERS=issuers)
    flow = schema["components"]["securitySchemes"]["auth0"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "https://login.example.com/authorize?audience=https%3A%2F%2Fapi.example.com"
    assert flow["tokenUrl"] == "https://login.example.com/oauth/token"
    # The top-level DOMAIN or ISSUER, when set, is the first issuer.
    schema = generate("openIdConnect", ISSUERS=issuers)
    url = schema["components"]["securitySchemes"]["auth0"]["openIdConnectUrl"]
    assert url == f"https://{DOMAIN}/.well-known/openid-configuration"


def test_oauth2_scope_descriptions_and_urls_can_be_given_in_spectacular_settings():
    custom = {
        "OAUTH2_SCOPES": {"read:messages": "Read your messages", "openid": "Your identity"},
        "OAUTH2_AUTHORIZATION_URL": "https://login.example.com/oauth2/authorize",
        "OAUTH2_TOKEN_URL": "https://login.example.com/oauth2/token",
        "OAUTH2_REFRESH_URL": "https://login.example.com/oauth2/token",
    }
    with patched_settings(custom):
        schema = generate("oauth2")
    flow = schema["components"]["securitySchemes"]["auth0"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == custom["OAUTH2_AUTHORIZATION_URL"]
    assert flow["tokenUrl"] == flow["refreshUrl"] == custom["OAUTH2_TOKEN_URL"]
    assert flow["scopes"]["read:messages"] == "Read your messages"
    assert flow["scopes"]["openid"] == "Your identity"  # offered although no view checks it
    assert flow["scopes"]["write:messages"].startswith("Used by ")


def test_any_of_permissions_become_alternative_requirements_in_oauth2_mode():
    # tests.permission_urls has every form of scope permission; its views have no serializers (no --validate).
    schema = generate("oauth2", urlconf="tests.permission_urls")
    assert schema["paths"]["/any"]["get"]["security"] == [{"auth0": ["read:messages"]}, {"auth0": ["admin"]}]
    assert schema["paths"]["/all"]["get"]["security"] == [{"auth0": ["read:messages", "write:messages"]}]
    assert generate("bearer", urlconf="tests.permission_urls")["paths"]["/any"]["get"]["security"] == [{"auth0": []}]


def test_describe_scopes_tells_operations_with_the_same_operation_id_apart():
    # Both GETs of tests.permission_urls' ThingViewSet are "things_retrieve" until drf-spectacular renames one,
    # after the hooks; only the list action has scopes (retrieve is denied: nothing satisfies it).
    paths = generate("bearer", urlconf="tests.permission_urls")["paths"]
    assert {paths["/things/"]["get"]["operationId"], paths["/things/{id}/"]["get"]["operationId"]} == {
        "things_retrieve",
        "things_retrieve_2",
    }
    assert paths["/things/"]["get"]["description"].endswith("Required scopes: `read:things`.")
    assert "Required scopes" not in paths["/things/{id}/"]["get"].get("description", "")


def test_describe_scopes_words_alternatives():
    operation = {"security": [{"auth0": ["a", "b"]}, {"auth0": ["c"]}], "description": ""}
    assert describe_scopes({"paths": {"/x": {"get": operation}}})["paths"]["/x"]["get"]["description"] == (
        "Required scopes: `a` and `b`; or `c`."
    )


def test_describe_scopes_says_nothing_when_one_alternative_needs_no_scope():
    # HasScope("a") | IsAuthenticated: any token will do, so `a` is not required.
    operation = {"security": [{"auth0": ["a"]}, {"auth0": []}], "description": "Hello."}
    assert describe_scopes({"paths": {"/x": {"get": operation}}})["paths"]["/x"]["get"]["description"] == "Hello."


@pytest.mark.parametrize("mode, scopes", [("bearer", []), ("oauth2", ["read:messages"])])
def test_the_demo_serves_the_schema(mode, scopes):
    with auth0_drf(OPENAPI_SCHEME=mode):
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert json.loads(response.content)["paths"]["/api/private-scoped/"]["get"]["security"] == [{"auth0": scopes}]


def swagger_ui_oauth2_config(html: str) -> Any:
    """Return what Swagger UI's page passes to ``ui.initOAuth(...)`` (drf-spectacular always calls it)."""
    match = re.search(r"ui\.initOAuth\((.*?)\);", html, re.S)
    return json.loads(match.group(1)) if match else None


def test_swagger_ui_is_served_with_no_oauth2_config_in_bearer_mode():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "SwaggerUIBundle(" in html
    # Served from this site (drf-spectacular-sidecar), not a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert swagger_ui_oauth2_config(html) == {}


@pytest.mark.parametrize("mode", ["oauth2", "openIdConnect"])
def test_swagger_ui_carries_the_demos_oauth2_config_in_scope_modes(mode):
    with patched_settings(swagger_ui_settings(mode, "spa-client-id", AUDIENCE)), auth0_drf(OPENAPI_SCHEME=mode):
        response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    expected: dict[str, Any] = {"clientId": "spa-client-id", "usePkceWithAuthorizationCodeGrant": True}
    if mode == "openIdConnect":
        # The discovery document's /authorize knows nothing of our audience: Swagger UI adds it.
        expected["additionalQueryStringParams"] = {"audience": AUDIENCE}
    assert swagger_ui_oauth2_config(response.content.decode()) == expected


def test_swagger_uis_oauth2_redirect_page_is_served_beside_the_docs():
    # Swagger UI returns from the login to oauth2-redirect.html beside /api/docs/: the Auth0 callback URL.
    response = APIClient().get("/api/docs/oauth2-redirect.html?code=abc&state=xyz")
    assert response.status_code == 302
    page = "drf_spectacular_sidecar/swagger-ui-dist/oauth2-redirect.html"
    assert response["Location"] == f"/static/{page}?code=abc&state=xyz"
    assert finders.find(page)
    # Not Django's default "same-origin": coming back from Auth0 (another origin), the login popup would lose
    # window.opener, and with it the way back to Swagger UI.
    assert response["Cross-Origin-Opener-Policy"] == "unsafe-none"


def demo(*command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` of the demo with its real settings, read from ``env``."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AUTH0_", "DJANGO_"))}
    environment.update(DJANGO_SETTINGS_MODULE="demo_project.settings", DJANGO_DEBUG="false", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("mode", SCHEMES)
def test_the_demo_chooses_its_scheme_and_swagger_ui_login_from_the_environment(mode):
    env = {
        "AUTH0_DOMAIN": DOMAIN,
        "AUTH0_AUDIENCE": AUDIENCE,
        "AUTH0_OPENAPI_SCHEME": mode,
        "AUTH0_SPA_CLIENT_ID": "spa-client-id",
    }
    script = (
        "import json; from django.conf import settings; from django.test import Client; "
        "print(json.dumps({'page': Client().get('/api/docs/').content.decode(), "
        "'scheme': settings.AUTH0_DRF['OPENAPI_SCHEME']}))"
    )
    result = demo("shell", "-c", script, **env)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.splitlines()[-1])  # Django 5.2's shell first reports its automatic imports
    assert output["scheme"] == mode
    config = swagger_ui_oauth2_config(output["page"])
    assert config == swagger_ui_settings(mode, "spa-client-id", AUDIENCE).get("SWAGGER_UI_OAUTH2_CONFIG", {})
    if mode != "bearer":
        assert config["clientId"] == "spa-client-id" and config["usePkceWithAuthorizationCodeGrant"] is True
    result = demo("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", **env)
    assert result.returncode == 0, result.stderr
    scheme = json.loads(result.stdout)["components"]["securitySchemes"]["auth0"]
    assert scheme["type"] == {"bearer": "http", "oauth2": "oauth2", "openIdConnect": "openIdConnect"}[mode]


def test_an_unknown_scheme_is_a_configuration_error():
    with auth0_drf(OPENAPI_SCHEME="openid"):
        errors = [e for e in check_settings() if e.id == "auth0_drf.E007"]
    assert [e.msg for e in errors] == ["AUTH0_DRF['OPENAPI_SCHEME'] must be one of bearer, oauth2, openIdConnect."]


@pytest.mark.parametrize("mode", ["oauth2", "openIdConnect"])
def test_a_login_scheme_with_the_development_issuer_is_warned_about(mode):
    with override_settings(DEBUG=True), auth0_drf(DEV_ISSUER=True, OPENAPI_SCHEME=mode):
        warnings = [e for e in check_settings() if e.id == "auth0_drf.W004"]
        assert len(warnings) == 1
        assert "has no /authorize" in warnings[0].msg
    with override_settings(DEBUG=True), auth0_drf(DEV_ISSUER=True, OPENAPI_SCHEME="bearer"):
        assert not [e for e in check_settings() if e.id == "auth0_drf.W004"]


class View:
    scope_resource = "messages"


@pytest.mark.parametrize(
    "permission, method, expected",
    [
        (HasScope("a", "b")(), "GET", [{"a", "b"}]),
        (HasAnyScope("a", "b")(), "GET", [{"a"}, {"b"}]),
        ((IsAuthenticated & (HasScope("a") | HasScope("b", "c")))(), "GET", [{"a"}, {"b", "c"}]),
        ((HasScope("a") & HasAnyScope("b", "c"))(), "GET", [{"a", "b"}, {"a", "c"}]),
        ((~HasScope("a"))(), "GET", [set()]),
        (ReadWriteScopes(), "GET", [{"read:messages"}]),
        (ReadWriteScopes(), "PATCH", [{"write:messages"}]),
        (IsAuthenticated(), "GET", [set()]),
        # Naming no scopes refuses every request, whatever the composition: nothing satisfies it.
        (HasScope(), "GET", []),
        (HasAnyScope(), "GET", []),
        ((HasScope | HasScope("a"))(), "GET", []),
        ((IsAuthenticated & ~HasScope)(), "GET", []),
    ],
)
def test_scope_alternatives_follow_drf_operators(permission, method, expected):
    assert [set(a) for a in scope_alternatives(permission, View(), method)] == expected


def test_a_read_write_permission_without_a_resource_is_satisfied_by_nothing():
    assert scope_alternatives(ReadWriteScopes(), object(), "GET") == []
