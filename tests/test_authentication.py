"""The authentication class through real DRF requests against the demo endpoints."""

from __future__ import annotations

import json
import logging

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.auth import get_user_model

from auth0_drf.backends import Auth0UserBackend
from auth0_drf.signing import LocalKey
from auth0_drf.models import Auth0Identity
from auth0_drf.testing import LoopbackServer, json_response

from .helpers import get, run_together
from .hostile import assert_rejected, b64, unsigned

pytestmark = pytest.mark.django_db

User = get_user_model()


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


def test_request_auth_offers_claims_helpers(auth0_issuer, rf, settings):
    from rest_framework.request import Request

    from auth0_drf.authentication import Auth0Authentication

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


def test_scheme_is_case_insensitive_and_multiple_spaces_are_allowed(auth0_issuer, get_with):
    token = auth0_issuer.token()
    assert get_with("/api/private", f"bearer {token}").status_code == 200
    assert get_with("/api/private", f"BEARER   {token}").status_code == 200


def test_machine_to_machine_token_gets_a_stateless_user(auth0_issuer, client_for):
    token = auth0_issuer.token(sub="abc123@clients", claims={"gty": "client-credentials", "azp": "abc123"})
    body = client_for(token).get("/api/claims").json()
    assert body["user"] == {"id": "abc123@clients", "username": "abc123@clients", "is_machine": True, "stored_in_database": False}
    assert User.objects.count() == 0


def test_a_person_whose_enterprise_sub_ends_in_at_clients_gets_a_database_user_that_can_be_blocked(auth0_issuer, client_for):
    # A SAML connection's user "bob@clients": Auth0 makes the sub "samlp|acme|bob@clients".
    client = client_for(auth0_issuer.token(sub="samlp|acme|bob@clients"))
    body = client.get("/api/claims").json()
    assert body["user"]["is_machine"] is False and body["user"]["stored_in_database"] is True
    identity = Auth0Identity.objects.get(subject="samlp|acme|bob@clients")
    User.objects.filter(pk=identity.user_id).update(is_active=False)
    from auth0_drf.testing import reset_caches

    reset_caches()  # forget the cached user, as another worker would after USER_CACHE_TTL
    assert_rejected(client.get("/api/claims"), code="user_inactive")


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
def test_machine_tokens_are_client_credentials_or_a_bare_client_id_at_clients(auth0_issuer, client_for, sub, claims, machine):
    body = client_for(auth0_issuer.token(sub=sub, claims=claims)).get("/api/claims").json()
    assert body["user"]["is_machine"] is machine
    assert body["user"]["stored_in_database"] is not machine
    assert Auth0Identity.objects.filter(subject=sub).exists() is not machine


# --- not ours: 401 with a bare challenge ---------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz", "Token abc", "Bearerabc"])
def test_no_bearer_token_is_401_with_bare_challenge(auth0_issuer, get_with, authorization):
    response = get_with("/api/private", authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "Bearer a b", "Bearer a,Bearer b", "Bearer t\u00e9st", "Bearer \"x\""])
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
    jwe = ".".join([b64('{"alg":"dir","enc":"A256GCM","iss":"https://x.auth0.com/"}'), "", b64("iv"), b64("ct"), b64("tag")])
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
    id_token = auth0_issuer.token(audience="spa-client-id", claims={"nonce": "n-0S6", "email": "a@example.com"}, drop=["azp"])
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


def test_inactive_user_is_rejected(auth0_issuer, client_for):
    client = client_for(auth0_issuer.token(sub="auth0|blocked"))
    assert client.get("/api/private").status_code == 200
    User.objects.filter(username="auth0|blocked").update(is_active=False)
    user = User.objects.get(username="auth0|blocked")
    user.save()  # the save signal drops the cached user at once
    assert_rejected(client.get("/api/private"), code="user_inactive")


def test_sub_equal_to_an_existing_username_gets_its_own_user(auth0_issuer, client_for):
    admin = User.objects.create_superuser("admin", "admin@example.com", "pw")
    body = client_for(auth0_issuer.token(sub="admin")).get("/api/claims").json()
    assert body["user"]["id"] != admin.pk
    assert body["user"]["username"].startswith("auth0-")


def test_same_sub_from_two_issuers_maps_to_two_users(auth0_issuer, client_for, settings):
    from auth0_drf.testing import LocalIssuer

    with LocalIssuer(audience=auth0_issuer.audience, keys=[LocalKey.generate()]) as other:
        settings.AUTH0_DRF = auth0_issuer.settings(
            ISSUERS=[{"ISSUER": other.issuer, "JWKS_URI": other.jwks_uri, "AUDIENCE": other.audience}]
        )
        first = client_for(auth0_issuer.token(sub="auth0|same")).get("/api/claims").json()["user"]["id"]
        second = client_for(other.token(sub="auth0|same")).get("/api/claims").json()["user"]["id"]
    assert first != second


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


# --- keys: rotation, outages, floods --------------------------------------------------------


def test_key_rotation_is_picked_up_with_one_refetch(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0)
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() == 1
    auth0_issuer.rotate()
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() == 2


def test_removed_key_is_rejected_after_refresh(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0, JWKS_CACHE_TTL=0, JWKS_MIN_TTL=0)
    old_token = auth0_issuer.token()
    assert client_for(old_token).get("/api/private").status_code == 200
    auth0_issuer.rotate(keep_old=False)
    assert_rejected(client_for(old_token).get("/api/private"), code="unknown_key")


def test_jwks_down_after_first_fetch_keeps_cached_keys(auth0_issuer, client_for, settings, caplog):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=0, JWKS_MIN_TTL=0, JWKS_REFETCH_COOLDOWN=0)
    token = auth0_issuer.token()
    assert client_for(token).get("/api/private").status_code == 200
    auth0_issuer.override = lambda path: (500, {}, b"down")
    with caplog.at_level(logging.WARNING, logger="auth0_drf"):
        assert client_for(auth0_issuer.token(sub="auth0|other")).get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() >= 2
    assert "keeping cached keys" in caplog.text


def test_jwks_down_from_the_start_is_503_and_recovers_without_restart(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0)
    auth0_issuer.override = lambda path: (503, {}, b"")
    response = client_for(auth0_issuer.token()).get("/api/private")
    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"
    assert "Retry-After" in response
    auth0_issuer.override = None
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200


def test_random_kid_flood_causes_a_bounded_number_of_fetches(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=60)
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
    for i in range(50):
        token = auth0_issuer.token(headers={"kid": f"random-{i}"})
        assert client_for(token).get("/api/private").status_code == 401
    assert auth0_issuer.jwks_hits() <= 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_for_a_new_sub_create_one_user(auth0_issuer):
    token = auth0_issuer.token(sub="auth0|racer")
    statuses = run_together([lambda: get(token).status_code] * 8)
    assert statuses == [200] * 8
    assert User.objects.filter(auth0_identities__subject="auth0|racer").count() == 1
    assert Auth0Identity.objects.count() == 1


def test_jwks_redirect_is_not_followed(auth0_issuer, client_for, settings):
    with LoopbackServer() as elsewhere:
        elsewhere.routes["/jwks"] = json_response(auth0_issuer.jwks())
        auth0_issuer.override = lambda path: (302, {"Location": elsewhere.url + "/jwks"}, b"")
        response = client_for(auth0_issuer.token()).get("/api/private")
        assert response.status_code == 503
        assert elsewhere.hits() == 0


def test_jku_and_embedded_jwk_headers_are_never_fetched_or_used(auth0_issuer, get_with):
    attacker = LocalKey.generate()
    with LoopbackServer() as bait:
        bait.routes["/jwks"] = json_response({"keys": [attacker.public_jwk()]})
        token = auth0_issuer.token(
            key=attacker,
            headers={"jku": bait.url + "/jwks", "x5u": bait.url + "/cert", "jwk": attacker.public_jwk()},
        )
        response = get_with("/api/private", f"Bearer {token}")
        assert response.status_code == 401
        assert bait.hits() == 0


def test_pyjwt_cannot_decode_our_rejections_differently(auth0_issuer):
    # Sanity check on the fixture itself: its tokens are valid for a standard library too.
    token = auth0_issuer.token()
    claims = jwt.decode(token, auth0_issuer.signing_key.public_key, algorithms=["RS256"], audience=auth0_issuer.audience)
    assert claims["iss"] == auth0_issuer.issuer


@pytest.mark.parametrize("bad_jwks", [{"keys": []}, {"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}, {"keys": "none"}, {}])
def test_refresh_returning_no_usable_keys_keeps_cached_keys(auth0_issuer, client_for, settings, bad_jwks):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_CACHE_TTL=0, JWKS_MIN_TTL=0, JWKS_REFETCH_COOLDOWN=0)
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
    auth0_issuer.override = lambda path: json_response(bad_jwks)
    assert client_for(auth0_issuer.token(sub="auth0|next")).get("/api/private").status_code == 200
    assert auth0_issuer.jwks_hits() >= 2


class StaleCheckBackend(Auth0UserBackend):
    """clean_username() answers as if it had looked just before a local account took the name."""

    def clean_username(self, claims):
        return claims.sub


def test_username_taken_between_check_and_insert_falls_back_to_the_digest(auth0_issuer, client_for, settings):
    local = User.objects.create_user("auth0|late-comer", password="pw")
    settings.AUTH0_DRF = auth0_issuer.settings(USER_BACKEND="tests.test_authentication.StaleCheckBackend")
    response = client_for(auth0_issuer.token(sub="auth0|late-comer")).get("/api/claims")
    assert response.status_code == 200
    assert response.json()["user"]["id"] != local.pk
    assert response.json()["user"]["username"].startswith("auth0-")
