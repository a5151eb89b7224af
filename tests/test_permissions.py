"""Scope permissions through real DRF requests with tokens from the local issuer."""

from __future__ import annotations

import base64
import logging

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from auth0_drf.permissions import HasScope
from tests.permission_urls import EMPTY_REQUIREMENTS

from .helpers import send

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.permission_urls")]


@pytest.fixture
def call(auth0_issuer):
    """Request ``path`` with a token carrying the given scope claims; return the response."""

    def request(path: str, method: str = "get", **token_kwargs):
        return send(f"Bearer {auth0_issuer.token(**token_kwargs)}", path, method=method)

    return request


def assert_insufficient(response, *missing: str) -> None:
    assert response.status_code == 403, response.content
    assert response["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        f'error_description="The access token lacks required scopes", scope="{" ".join(missing)}"'
    )
    body = response.json()
    assert body["code"] == "insufficient_scope"
    assert body["missing_scopes"] == list(missing)


# --- HasScope, HasAnyScope ------------------------------------------------------------------


def test_has_scope_allows_with_the_scope_claim(call):
    assert call("/single", scope="openid read:messages").status_code == 200


def test_has_scope_allows_with_only_rbac_permissions(call):
    assert call("/single", permissions=["read:messages"]).status_code == 200


def test_has_scope_denies_without_the_scope(call):
    assert_insufficient(call("/single", scope="openid profile"), "read:messages")


def test_unauthenticated_request_is_401_not_403(auth0_issuer):
    response = APIClient().get("/single")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_invalid_token_is_401_not_403(call):
    response = call("/single", scope="read:messages", lifetime=-3600)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("scope", "status"),
    [("read:messages write:messages", 200), ("read:messages", 403), ("write:messages", 403), ("", 403)],
)
def test_several_scopes_in_one_call_are_all_required(call, scope, status):
    assert call("/all", scope=scope).status_code == status


def test_missing_scopes_are_named_exactly(call):
    assert_insufficient(call("/all", scope="read:messages"), "write:messages")


@pytest.mark.parametrize(("scope", "status"), [("admin", 200), ("read:messages", 200), ("write:messages", 403)])
def test_any_of_form(call, scope, status):
    assert call("/any", scope=scope).status_code == status


@pytest.mark.parametrize(
    "scope",
    ["read:msg", "read:messages:extra", "READ:MESSAGES", "read:messagesx", "xread:messages", "read", "messages"],
)
def test_near_miss_scopes_do_not_match(call, scope):
    assert call("/single", scope=scope).status_code == 403


@pytest.mark.parametrize("scope", ["  read:messages  ", "openid  read:messages   profile", "a  read:messages   b"])
def test_extra_spaces_in_scope_string_are_tolerated(call, scope):
    assert call("/single", scope=scope).status_code == 200


@pytest.mark.parametrize("scope", ["openid\tread:messages", "read:messages\u00a0admin", "x\nread:messages"])
def test_only_spaces_delimit_scopes(call, scope):
    # RFC 6749 section 3.3: scope tokens are separated by %x20; other whitespace is part of a token.
    assert call("/single", scope=scope).status_code == 403


def test_empty_scope_string_grants_nothing(call):
    assert_insufficient(call("/single", scope=""), "read:messages")


def test_scope_names_in_custom_claims_grant_nothing(call):
    response = call("/single", claims={"https://x/scope": "read:messages", "roles": ["read:messages"]})
    assert response.status_code == 403


# --- operators --------------------------------------------------------------------------------


@pytest.mark.parametrize(("scope", "status"), [("a", 200), ("b", 200), ("a b", 200), ("c", 403)])
def test_or_composition(call, scope, status):
    assert call("/either", scope=scope).status_code == status


def test_or_composition_denial_names_the_missing_scopes(call):
    response = call("/either", scope="c")
    assert response["WWW-Authenticate"].endswith('scope="a b"')
    assert response.json()["missing_scopes"] == ["a", "b"]


@pytest.mark.parametrize(("scope", "status"), [("read:messages", 200), ("banned", 403), ("", 200)])
def test_not_composition(call, scope, status):
    assert call("/negated", scope=scope).status_code == status


def test_has_scope_rejects_malformed_scope_names():
    with pytest.raises(ValueError):
        HasScope("read messages")
    with pytest.raises(ValueError):
        HasScope("")


# --- required_scopes on views ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "scope", "status"),
    [
        ("get", "read:things", 200),
        ("get", "write:things", 403),
        ("post", "write:things", 200),
        ("post", "read:things", 403),
        ("put", "read:things write:things", 403),  # no mapping entry: denied by default
    ],
)
def test_required_scopes_by_http_method(call, method, scope, status):
    assert call("/method", method=method, scope=scope).status_code == status


@pytest.mark.parametrize(("scope", "status"), [("read:things audit", 200), ("read:things", 403), ("audit", 403)])
def test_required_scopes_list_applies_to_every_method(call, scope, status):
    assert call("/list", scope=scope).status_code == status
    assert call("/list", method="post", scope=scope).status_code == status


def test_view_without_required_scopes_is_denied(call):
    response = call("/undeclared", scope="anything")
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


EVERY_SCOPE = "read:things write:things read:messages write:messages audit admin"


@pytest.mark.parametrize(
    ("url", "view_name"),
    [*EMPTY_REQUIREMENTS.items(), ("empty/function", "bare_function"), ("undeclared", "Undeclared")],
)
def test_a_permission_naming_no_scopes_refuses_every_token_and_warns_naming_the_view(call, caplog, url, view_name):
    if not isinstance(view_name, str):
        view_name = view_name.__name__
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        response = call("/" + url, scope=EVERY_SCOPE, permissions=EVERY_SCOPE.split())
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "insufficient_scope"
    warnings = [r.getMessage() for r in caplog.records if r.name == "auth0_drf" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f" on view tests.permission_urls.{view_name} names no scopes" in warnings[0]


def test_a_view_whose_other_method_names_scopes_still_works(call):
    assert call("/empty/required-scopes-get", method="post", scope="write:things").status_code == 200


def test_a_permission_naming_no_scopes_still_answers_401_without_a_token(auth0_issuer, caplog):
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        response = APIClient().get("/empty/has-scope")
    assert response.status_code == 401
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "auth0_drf"] == []


@pytest.mark.parametrize(
    ("method", "path", "scope", "status"),
    [
        ("get", "/things/", "read:things", 200),
        ("get", "/things/", "write:things", 403),
        ("post", "/things/", "write:things", 200),
        ("post", "/things/publish/", "publish:things", 200),
        ("post", "/things/publish/", "write:things", 403),
        ("get", "/things/1/", "read:things write:things publish:things", 403),  # retrieve not mapped
    ],
)
def test_required_scopes_by_viewset_action(call, method, path, scope, status):
    assert call(path, method=method, scope=scope).status_code == status


@pytest.mark.parametrize(
    ("path", "method", "scope", "status"),
    [
        ("/rw/", "get", "read:messages", 200),
        ("/rw/", "post", "read:messages", 403),
        ("/rw/", "post", "write:messages", 200),
        ("/rw/", "get", "write:messages", 403),
        ("/notes/", "get", "read:notes", 200),
        ("/notes/", "post", "write:notes", 200),
        ("/notes/", "post", "read:notes", 403),
    ],
)
def test_read_write_scopes(call, path, method, scope, status):
    assert call(path, method=method, scope=scope).status_code == status


# --- where scopes come from -----------------------------------------------------------------


def test_scp_array_is_used_only_when_configured(call, auth0_issuer, settings):
    assert call("/single", claims={"scp": ["read:messages"]}).status_code == 403
    settings.AUTH0_DRF = auth0_issuer.settings(SCOPE_CLAIMS=["scp"])
    assert call("/single", claims={"scp": ["read:messages"]}).status_code == 200


def test_permissions_ignored_when_not_configured(call, auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(SCOPE_CLAIMS=["scope"])
    assert call("/single", permissions=["read:messages"]).status_code == 403
    assert call("/single", scope="read:messages").status_code == 200


def test_has_scope_inside_view_code(call):
    assert call("/in-view", scope="read:messages").json() == {"can_read": True, "any": True}
    assert call("/in-view", scope="other").json() == {"can_read": False, "any": False}


# --- other authentication never grants scopes --------------------------------------------------


def test_basic_authenticated_user_never_passes_a_scope_check(auth0_issuer):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"root:pw").decode())
    response = client.get("/basic-or-token")
    assert response.status_code == 403
    assert "insufficient_scope" not in response.get("WWW-Authenticate", "")


def test_session_authenticated_user_never_passes_a_scope_check(auth0_issuer):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = APIClient()
    client.force_authenticate(user=user)  # as a session would: request.auth is not a token
    assert client.get("/single").status_code == 403


# --- the demo -------------------------------------------------------------------------------


@pytest.mark.urls("demo_project.urls")
def test_demo_private_scoped(call):
    assert call("/api/private-scoped", scope="read:messages").status_code == 200
    assert_insufficient(call("/api/private-scoped", scope="openid"), "read:messages")


@pytest.mark.urls("demo_project.urls")
def test_demo_messages_viewset(auth0_issuer):
    client = APIClient()

    def use(scope: str) -> APIClient:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {auth0_issuer.token(scope=scope)}")
        return client

    created = use("write:messages").post("/api/messages/", {"text": "hello"}, format="json")
    assert created.status_code == 201
    message_id = created.json()["id"]
    assert use("write:messages").get("/api/messages/").status_code == 403
    assert use("read:messages").get("/api/messages/").json()[0]["text"] == "hello"
    assert use("read:messages").get(f"/api/messages/{message_id}/").status_code == 200
    assert use("read:messages").delete(f"/api/messages/{message_id}/").status_code == 403
    assert use("write:messages").post(f"/api/messages/{message_id}/archive/").status_code == 403
    assert use("archive:messages").post(f"/api/messages/{message_id}/archive/").json()["archived"] is True
    assert use("write:messages").patch(f"/api/messages/{message_id}/", {"text": "hi"}, format="json").status_code == 200
    assert use("write:messages").delete(f"/api/messages/{message_id}/").status_code == 204
