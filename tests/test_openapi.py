"""The drf-spectacular extension, through the demo project's generated schema."""

from __future__ import annotations

import json
from io import StringIO

import pytest

pytest.importorskip("drf_spectacular")

from django.core.management import call_command  # noqa: E402
from rest_framework.permissions import IsAuthenticated  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from auth0_drf.openapi import describe_scopes, scope_alternatives  # noqa: E402
from auth0_drf.permissions import HasAnyScope, HasScope, ReadWriteScopes  # noqa: E402

@pytest.fixture(scope="module")
def schema():
    """The demo project's schema, as ``manage.py spectacular --validate --fail-on-warn`` writes it."""
    out = StringIO()
    call_command("spectacular", format="openapi-json", validate=True, fail_on_warn=True, stdout=out)
    return json.loads(out.getvalue())


def test_security_scheme_is_bearer_jwt(schema):
    assert schema["components"]["securitySchemes"] == {
        "auth0": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An Auth0 access token (a JWT), requested with audience=https://api.example.test/, sent as "
            "'Authorization: Bearer <token>'. Operations list the scopes (or RBAC permissions) they need.",
        }
    }


def test_private_scoped_requires_read_messages(schema):
    assert schema["paths"]["/api/private-scoped/"]["get"]["security"] == [{"auth0": ["read:messages"]}]


def test_private_requires_a_token_and_no_scope(schema):
    assert schema["paths"]["/api/private/"]["get"]["security"] == [{"auth0": []}]


def test_public_has_no_security_requirement(schema):
    assert schema["paths"]["/api/public/"]["get"]["security"] == [{}]


def test_messages_scopes_per_action(schema):
    paths = schema["paths"]
    assert paths["/api/messages/"]["get"]["security"] == [{"auth0": ["read:messages"]}]
    assert paths["/api/messages/"]["post"]["security"] == [{"auth0": ["write:messages"]}]
    assert paths["/api/messages/{id}/"]["get"]["security"] == [{"auth0": ["read:messages"]}]
    assert paths["/api/messages/{id}/"]["put"]["security"] == [{"auth0": ["write:messages"]}]
    assert paths["/api/messages/{id}/"]["delete"]["security"] == [{"auth0": ["write:messages"]}]
    assert paths["/api/messages/{id}/archive/"]["post"]["security"] == [{"auth0": ["archive:messages"]}]


def test_describe_scopes_hook_writes_them_into_descriptions(schema):
    # The demo lists auth0_drf.openapi.describe_scopes in SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"].
    paths = schema["paths"]
    assert paths["/api/private-scoped/"]["get"]["description"] == (
        "A valid access token with the read:messages scope (or RBAC permission).\n\nRequired scopes: `read:messages`."
    )
    assert paths["/api/messages/{id}/archive/"]["post"]["description"].endswith("Required scopes: `archive:messages`.")
    assert "Required scopes" not in paths["/api/private/"]["get"]["description"]


def test_describe_scopes_words_alternatives():
    operation = {"security": [{"auth0": ["a", "b"]}, {"auth0": ["c"]}], "description": ""}
    assert describe_scopes({"paths": {"/x": {"get": operation}}})["paths"]["/x"]["get"]["description"] == (
        "Required scopes: `a` and `b`; or `c`."
    )


@pytest.mark.django_db
def test_demo_serves_the_schema():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert json.loads(response.content)["paths"]["/api/private-scoped/"]["get"]["security"] == [{"auth0": ["read:messages"]}]


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
