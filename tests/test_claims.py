"""``request.auth``: the verified claims, their helpers, and what makes a token a machine's."""

from __future__ import annotations

import pytest
from rest_framework.request import Request

from auth0_drf.authentication import Auth0Authentication
from auth0_drf.models import Auth0Identity

pytestmark = pytest.mark.django_db


def test_request_auth_offers_claims_helpers(auth0_issuer, rf, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIMS_NAMESPACE="https://auth0-drf-demo/")
    token = auth0_issuer.token(
        sub="auth0|carol", scope="read:a", permissions=["write:b"], claims={"https://auth0-drf-demo/tier": "gold"}
    )
    request = Request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {token}"))
    user, claims = Auth0Authentication().authenticate(request)
    assert claims.sub == "auth0|carol" and claims["sub"] == "auth0|carol"
    assert claims.scopes == {"read:a"} and claims.permissions == {"write:b"}
    assert claims.has_scope("read:a", "write:b") and not claims.has_scope("read:b")
    assert claims.custom("tier") == "gold"
    assert claims.custom("tier", namespace="") is None
    assert claims.token == token and token not in repr(claims)
    with pytest.raises(TypeError):
        claims["sub"] = "mallory"  # read-only


@pytest.mark.parametrize(
    ("sub", "claims", "machine"),
    [
        ("abc123@clients", {}, True),  # no gty: a bare "<client id>@clients" is a client
        ("auth0|svc", {"gty": "client-credentials"}, True),  # gty decides when present
        ("abc123@clients", {"gty": "password"}, False),
        ("abc123@clients", {"gty": "refresh_token"}, False),
        ("auth0|abc123@clients", {}, False),
        ("google-oauth2|1@clients", {}, False),
        ("@clients", {}, False),
        ("bob@example.com@clients", {}, False),
        ("abc123@clients.evil", {}, False),
    ],
)
def test_machine_tokens_are_client_credentials_or_a_bare_client_id_at_clients(
    auth0_issuer, client_for, sub, claims, machine
):
    body = client_for(auth0_issuer.token(sub=sub, claims=claims)).get("/api/claims").json()
    assert body["user"]["is_machine"] is machine
    assert body["user"]["stored_in_database"] is not machine
    assert Auth0Identity.objects.filter(subject=sub).exists() is not machine
