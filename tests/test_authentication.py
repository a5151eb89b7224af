"""The authentication class through real DRF requests against the demo endpoints.

What it accepts, what is not ours (a bare challenge), the first, friendlier rejections (the
hostile ones are in the rejection matrix, test_rejections.py), and the steady state: a known
user with a verified token costs no query and no fetch. Users are in test_backends.py, keys in
test_jwks.py, ``request.auth`` in test_claims.py.
"""

from __future__ import annotations

import json
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.auth import get_user_model
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from auth0_drf.authentication import Auth0Authentication
from auth0_drf.errors import InvalidAuthorizationHeader
from auth0_drf.models import Auth0Identity
from auth0_drf.signing import LocalKey

from .helpers import warm_up
from .hostile import assert_rejected, b64, unsigned

pytestmark = pytest.mark.django_db

User = get_user_model()


N = 25


# --- accepted ----------------------------------------------------------------------------


def test_valid_token_gives_200_and_creates_the_user_once(auth0_issuer, client_for):
    client = client_for(auth0_issuer.token(sub="auth0|alice"))
    assert client.get("/api/private").status_code == 200
    assert client.get("/api/private").status_code == 200
    assert User.objects.count() == 1
    identity = Auth0Identity.objects.get()
    assert (identity.issuer, identity.subject) == (auth0_issuer.issuer, "auth0|alice")
    assert identity.user.username == "auth0|alice"
    assert not identity.user.has_usable_password()


def test_claims_endpoint_returns_every_verified_claim(auth0_issuer, client_for):
    token = auth0_issuer.token(
        sub="auth0|bob",
        scope="openid read:messages",
        permissions=["read:messages", "write:messages"],
        claims={"https://auth0-drf-demo/state": {"plan": "pro"}},
    )
    body = client_for(token).get("/api/claims").json()
    assert body["claims"]["sub"] == "auth0|bob"
    assert body["claims"]["https://auth0-drf-demo/state"] == {"plan": "pro"}
    assert body["custom_claims"] == {"https://auth0-drf-demo/state": {"plan": "pro"}}
    assert body["scopes"] == ["openid", "read:messages", "write:messages"]
    assert body["user"]["username"] == "auth0|bob"


def test_scheme_is_case_insensitive_and_multiple_spaces_are_allowed(auth0_issuer, get_with):
    token = auth0_issuer.token()
    assert get_with("/api/private", f"bearer {token}").status_code == 200
    assert get_with("/api/private", f"BEARER   {token}").status_code == 200


class GeneralPathOnly(Auth0Authentication):
    keyword = "bearer"  # compares equal case-insensitively, but skips the one-regex fast path


def raw_token(auth: Auth0Authentication, header: str):
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=header))
    try:
        return ("token", auth.get_raw_token(request))
    except InvalidAuthorizationHeader as exc:
        return ("error", exc.code)


@hypothesis_settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Bearerx", " Bearer", "DPoP"]),
    st.sampled_from([" ", "  ", "\t", "", " \t "]),
    st.text(alphabet='Aa0-._~+/=é ,"', max_size=12),
)
def test_bearer_fast_path_agrees_with_the_general_path(scheme, gap, token):
    header = scheme + gap + token
    assert raw_token(Auth0Authentication(), header) == raw_token(GeneralPathOnly(), header)


# --- not ours: 401 with a bare challenge ---------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz", "Token abc", "Bearerabc"])
def test_no_bearer_token_is_401_with_bare_challenge(auth0_issuer, get_with, authorization):
    response = get_with("/api/private", authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "authorization", ["Bearer", "Bearer ", "Bearer a b", "Bearer a,Bearer b", "Bearer t\u00e9st", 'Bearer "x"']
)
def test_malformed_bearer_header_is_400_invalid_request(auth0_issuer, get_with, authorization):
    assert_rejected(get_with("/api/private", authorization), status=400, code="invalid_request")


def test_token_in_query_string_is_not_used_and_the_message_says_where_it_goes(auth0_issuer, get_with):
    token = auth0_issuer.token()
    response = get_with(f"/api/private?access_token={token}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == "not_authenticated"
    assert "Authorization" in response.json()["detail"] and token not in response.content.decode()


# --- rejected tokens ---------------------------------------------------------------------


def test_token_over_the_size_cap_is_rejected_before_decoding(auth0_issuer, get_with):
    huge = auth0_issuer.token(claims={"pad": "x" * 9000})
    assert_rejected(get_with("/api/private", f"Bearer {huge}"), code="token_too_large")
    assert auth0_issuer.jwks_hits() == 0


@pytest.mark.parametrize("token", ["opaque-token-xyz", "a.b", "a.b.c.d", "...."])
def test_non_jwt_strings_are_not_a_jwt(auth0_issuer, get_with, token):
    response = get_with("/api/private", f"Bearer {token}")
    assert_rejected(response, code="not_a_jwt")
    assert "audience=" in response.json()["detail"]


def test_encrypted_auth0_token_explains_the_missing_audience(auth0_issuer, get_with):
    jwe = ".".join(
        [b64('{"alg":"dir","enc":"A256GCM","iss":"https://x.auth0.com/"}'), "", b64("iv"), b64("ct"), b64("tag")]
    )
    response = get_with("/api/private", f"Bearer {jwe}")
    assert_rejected(response, code="not_a_jwt")
    assert "encrypted" in response.json()["detail"] and "audience=" in response.json()["detail"]


def test_alg_none_is_rejected(auth0_issuer, get_with):
    token = unsigned({"alg": "none", "typ": "JWT"}, auth0_issuer.claims())
    assert_rejected(get_with("/api/private", f"Bearer {token}"), code="unsupported_algorithm")


def test_hs256_signed_with_the_public_key_is_rejected(auth0_issuer, get_with):
    pem = auth0_issuer.signing_key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": auth0_issuer.signing_key.kid}
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(auth0_issuer.claims()))}".encode()
    import hashlib
    import hmac

    forged = signing_input.decode() + "." + b64(hmac.new(pem, signing_input, hashlib.sha256).digest())
    assert_rejected(get_with("/api/private", f"Bearer {forged}"), code="unsupported_algorithm")


def test_token_signed_by_another_key_with_a_known_kid_is_rejected(auth0_issuer, get_with):
    intruder = LocalKey(LocalKey.generate().private_key, kid=auth0_issuer.signing_key.kid)
    token = auth0_issuer.token(key=intruder)
    assert_rejected(get_with("/api/private", f"Bearer {token}"), code="invalid_signature")


def test_unknown_kid_is_rejected(auth0_issuer, get_with):
    token = auth0_issuer.token(key=LocalKey.generate())
    assert_rejected(get_with("/api/private", f"Bearer {token}"), code="unknown_key")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"lifetime": -60}, "token_expired"),
        ({"claims": {"nbf": 4102444800}}, "token_not_yet_valid"),
        ({"claims": {"iat": 4102444800}}, "token_not_yet_valid"),
        ({"issuer": "https://evil.example/"}, "invalid_issuer"),
        ({"audience": "https://other-api/"}, "invalid_audience"),
        ({"drop": ["exp"]}, "missing_claim"),
        ({"drop": ["sub"]}, "missing_claim"),
        ({"drop": ["aud"]}, "missing_claim"),
        ({"claims": {"exp": "4102444800"}}, "invalid_claim"),
        ({"claims": {"exp": None}}, "invalid_claim"),  # present, so not missing: not a number
        ({"claims": {"exp": [4102444800]}}, "invalid_claim"),
        ({"claims": {"exp": True}}, "invalid_claim"),
        ({"claims": {"aud": 42}}, "invalid_claim"),
        ({"claims": {"aud": []}}, "invalid_claim"),
        ({"claims": {"sub": ""}}, "invalid_claim"),
        ({"claims": {"sub": 123}}, "invalid_claim"),
        ({"claims": {"sub": "auth0|a\u0000b"}}, "invalid_claim"),
        ({"claims": {"scope": ["read:messages"]}}, "invalid_claim"),
        ({"claims": {"permissions": "read:messages"}}, "invalid_claim"),
    ],
)
def test_claim_problems_are_401_with_a_code(auth0_issuer, get_with, kwargs, code):
    response = get_with("/api/private", f"Bearer {auth0_issuer.token(**kwargs)}")
    assert_rejected(response, code=code)


def test_id_token_is_rejected_with_a_message_saying_so(auth0_issuer, get_with):
    id_token = auth0_issuer.token(
        audience="spa-client-id", claims={"nonce": "n-0S6", "email": "a@example.com"}, drop=["azp"]
    )
    response = get_with("/api/private", f"Bearer {id_token}")
    assert_rejected(response, code="id_token_not_accepted")
    assert "access token" in response.json()["detail"]


def test_userinfo_only_token_names_the_audience_fix(auth0_issuer, get_with):
    token = auth0_issuer.token(audience="https://tenant.auth0.com/userinfo", scope="openid profile")
    response = get_with("/api/private", f"Bearer {token}")
    assert_rejected(response, code="invalid_audience")
    assert "audience=https://api.example.test/" in response.json()["detail"]


def test_unknown_crit_header_is_rejected(auth0_issuer, get_with):
    token = auth0_issuer.token(headers={"crit": ["exp"], "exp": 1})
    assert_rejected(get_with("/api/private", f"Bearer {token}"), code="invalid_header")


def test_errors_never_echo_the_token_or_claims(auth0_issuer, get_with, caplog):
    marker = 'EVIL"\r\nX-Injected: 1'
    token = auth0_issuer.token(issuer=marker, claims={"note": marker})
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        response = get_with("/api/private", f"Bearer {token}")
    assert_rejected(response, code="invalid_issuer")
    everything = response.content.decode() + response["WWW-Authenticate"] + caplog.text
    assert "EVIL" not in everything and token not in everything


def test_rejections_are_logged_with_their_code(auth0_issuer, get_with, caplog):
    with caplog.at_level(logging.INFO, logger="auth0_drf"):
        get_with("/api/private", f"Bearer {auth0_issuer.token(lifetime=-60, sub='auth0|late')}")
    assert "code=token_expired" in caplog.text and "sub=auth0|late" in caplog.text


# --- the steady state: no queries, no fetches (they are counted; benchmarks/bench.py times them) ---


def test_steady_state_makes_no_queries_and_no_fetches(auth0_issuer, client_for, django_assert_num_queries):
    client = client_for(auth0_issuer.token(sub="auth0|steady", scope="read:messages"))
    warm_up(client)
    fetches = auth0_issuer.jwks_hits()
    assert fetches == 1
    with django_assert_num_queries(0):
        for _ in range(N):
            assert client.get("/api/private").status_code == 200
            assert client.get("/api/private-scoped").status_code == 200
    assert auth0_issuer.jwks_hits() == fetches


def test_many_users_each_cost_queries_only_until_cached(auth0_issuer, client_for, django_assert_num_queries):
    clients = [client_for(auth0_issuer.token(sub=f"auth0|user-{i}")) for i in range(5)]
    for client in clients:
        warm_up(client)
    with django_assert_num_queries(0):
        for client in clients * 3:
            assert client.get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() == 1
