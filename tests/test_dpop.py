"""DPoP (RFC 9449): sender-constrained tokens through real DRF requests, in each DPOP mode."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from auth0_drf.dpop import MemoryReplayCache, access_token_hash, jwk_thumbprint, normalize_htu
from auth0_drf.signing import LocalKey
from auth0_drf.testing import dpop_proof

from . import helpers
from .helpers import RFC7638_JWK, RFC7638_THUMBPRINT, run_together
from .hostile import b64

pytestmark = pytest.mark.django_db

URL = "http://testserver/api/private"
ALGS = 'algs="ES256 PS256 RS256 EdDSA"'


@pytest.fixture(scope="module")
def proof_keys() -> dict[str, LocalKey]:
    return {alg: LocalKey.generate(alg) for alg in ("ES256", "PS256", "EdDSA")}


@pytest.fixture
def proof_key(proof_keys: dict[str, LocalKey]) -> LocalKey:
    return proof_keys["ES256"]


@pytest.fixture
def dpop_mode(settings: Any, auth0_issuer: Any) -> str:
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="allowed")
    return "allowed"


def bound_token(issuer: Any, key: LocalKey, **kwargs: Any) -> str:
    claims = {"cnf": {"jkt": key.thumbprint()}, **kwargs.pop("claims", {})}
    return issuer.token(claims=claims, **kwargs)


def send(
    token: str | None,
    proof: str | None = None,
    *,
    path: str = "/api/private",
    method: str = "get",
    scheme: str = "DPoP",
    **extra: Any,
) -> Any:
    """Send ``token`` under ``scheme`` (DPoP unless told), with ``proof`` as the DPoP header."""
    if proof is not None:
        extra["HTTP_DPOP"] = proof
    return helpers.send(None if token is None else f"{scheme} {token}", path, method=method, **extra)


def assert_dpop_rejected(response: Any, code: str = "invalid_dpop_proof", error: str = "invalid_dpop_proof") -> None:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == code
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith(f'DPoP realm="api", {ALGS}, error="{error}", error_description="'), challenge


# --- accepted ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "PS256", "EdDSA"])
def test_a_valid_proof_is_accepted(auth0_issuer, dpop_mode, proof_keys, alg):
    key = proof_keys[alg]
    token = bound_token(auth0_issuer, key)
    response = send(token, dpop_proof(key, url=URL, token=token))
    assert response.status_code == 200, response.content


def test_the_proof_is_checked_on_every_request_even_for_a_cached_token(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key)
    assert send(token, dpop_proof(proof_key, url=URL, token=token)).status_code == 200
    assert send(token, dpop_proof(proof_key, url=URL, token=token)).status_code == 200
    assert_dpop_rejected(send(token))  # no proof: the cached token alone is not enough
    other = LocalKey.generate("ES256")
    assert_dpop_rejected(send(token, dpop_proof(other, url=URL, token=token)))
    assert auth0_issuer.jwks_hits() == 1


def test_the_proof_may_target_the_url_with_another_query_and_normalised_host(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key)
    for htu in (URL + "?a=1#frag", "HTTP://TestServer:80/api/private", "http://testserver/api/%70rivate"):
        assert send(token, dpop_proof(proof_key, url=htu, token=token), path="/api/private?b=2").status_code == 200


def test_a_post_with_a_proof_for_post(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key, permissions=["write:messages"])
    proof = dpop_proof(proof_key, method="POST", url="http://testserver/api/messages/", token=token)
    response = send(token, proof, path="/api/messages/", method="post", data={"text": "hi"}, format="json")
    assert response.status_code == 201, response.content


def test_scheme_name_is_case_insensitive(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key)
    assert send(token, dpop_proof(proof_key, url=URL, token=token), scheme="dpop").status_code == 200


# --- rejected proofs ----------------------------------------------------------------------


def test_a_replayed_proof_is_rejected(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key)
    proof = dpop_proof(proof_key, url=URL, token=token)
    assert send(token, proof).status_code == 200
    response = send(token, proof)
    assert_dpop_rejected(response)
    assert "already used" in response.json()["detail"]


def test_a_rejected_proof_does_not_use_up_its_jti(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key)
    assert_dpop_rejected(send(token, dpop_proof(proof_key, method="POST", url=URL, token=token, jti="j-1")))
    assert send(token, dpop_proof(proof_key, url=URL, token=token, jti="j-1")).status_code == 200


@pytest.mark.parametrize(
    ("proof_kwargs", "words"),
    [
        ({"method": "POST"}, "method"),
        ({"method": "get"}, "method"),
        ({"url": "http://testserver/api/claims"}, "URL"),
        ({"url": "http://testserver/api/private/"}, "URL"),
        ({"url": "https://testserver/api/private"}, "URL"),
        ({"url": "http://other.example/api/private"}, "URL"),
        ({"url": "http://testserver:8080/api/private"}, "URL"),
        ({"url": "http://testserver:bad/api/private"}, "URL"),
        ({"iat": time.time() - 311}, "too old"),
        ({"iat": time.time() + 60}, "future"),
        ({"claims": {"iat": "now"}}, "iat"),
        ({"drop": ["iat"]}, "iat"),
        ({"drop": ["jti"]}, "jti"),
        ({"claims": {"jti": ""}}, "jti"),
        ({"claims": {"jti": "x" * 300}}, "jti"),
        ({"drop": ["htu"]}, "URL"),
        ({"drop": ["htm"]}, "method"),
    ],
)
def test_a_proof_for_another_request_or_time_is_rejected(auth0_issuer, dpop_mode, proof_key, proof_kwargs, words):
    token = bound_token(auth0_issuer, proof_key)
    kwargs = {"url": URL, "token": token, **proof_kwargs}
    response = send(token, dpop_proof(proof_key, **kwargs))
    assert_dpop_rejected(response)
    assert words in response.json()["detail"]


def test_a_proof_within_the_window_is_accepted(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key)
    assert send(token, dpop_proof(proof_key, url=URL, token=token, iat=time.time() - 280)).status_code == 200
    assert send(token, dpop_proof(proof_key, url=URL, token=token, iat=time.time() + 3)).status_code == 200


def test_proof_max_age_is_configurable(settings, auth0_issuer, proof_key):
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="allowed", DPOP_PROOF_MAX_AGE=30)
    token = bound_token(auth0_issuer, proof_key)
    assert_dpop_rejected(send(token, dpop_proof(proof_key, url=URL, token=token, iat=time.time() - 60)))


def test_a_proof_by_another_key_than_cnf_jkt_is_rejected(auth0_issuer, dpop_mode, proof_keys):
    token = bound_token(auth0_issuer, proof_keys["ES256"])
    response = send(token, dpop_proof(proof_keys["EdDSA"], url=URL, token=token))
    assert_dpop_rejected(response)
    assert "another key" in response.json()["detail"]


def test_a_proof_carrying_the_bound_key_but_signed_by_another_is_rejected(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key)
    intruder = LocalKey.generate("ES256")
    public = {k: v for k, v in proof_key.public_jwk().items() if k not in ("kid", "alg", "use")}
    response = send(token, dpop_proof(intruder, url=URL, token=token, headers={"jwk": public}))
    assert_dpop_rejected(response)
    assert "signature" in response.json()["detail"]


@pytest.mark.parametrize("ath", ["wrong", None, "TOKEN_OF_ANOTHER"])
def test_a_wrong_ath_is_rejected(auth0_issuer, dpop_mode, proof_key, ath):
    token = bound_token(auth0_issuer, proof_key)
    if ath == "TOKEN_OF_ANOTHER":
        ath = access_token_hash(bound_token(auth0_issuer, proof_key, sub="auth0|other"))
    claims = {"ath": ath} if ath is not None else {}
    proof = dpop_proof(proof_key, url=URL, claims=claims)
    response = send(token, proof)
    assert_dpop_rejected(response)
    assert "ath" in response.json()["detail"]


def test_a_missing_proof_is_rejected(auth0_issuer, dpop_mode, proof_key):
    response = send(bound_token(auth0_issuer, proof_key))
    assert_dpop_rejected(response)
    assert "no DPoP proof" in response.json()["detail"]


def jwk_of(key: LocalKey) -> dict[str, Any]:
    return {k: v for k, v in key.public_jwk().items() if k not in ("kid", "alg", "use")}


def hs256_proof(key: LocalKey, token: str) -> str:
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk_of(key)}
    payload = {"jti": "h", "htm": "GET", "htu": URL, "iat": int(time.time()), "ath": access_token_hash(token)}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    secret = json.dumps(jwk_of(key)).encode()
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


@pytest.mark.parametrize(
    "make",
    [
        lambda k, t: dpop_proof(k, url=URL, token=t, headers={"typ": "JWT"}),
        lambda k, t: dpop_proof(k, url=URL, token=t, headers={"typ": "at+jwt"}),
        lambda k, t: dpop_proof(k, url=URL, token=t, headers={"jwk": None}),
        lambda k, t: dpop_proof(k, url=URL, token=t, headers={"jwk": {**jwk_of(k), "d": "AAAA"}}),
        lambda k, t: dpop_proof(k, url=URL, token=t, headers={"jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
        lambda k, t: dpop_proof(k, url=URL, token=t, headers={"jwk": {**jwk_of(k), "crv": "P-384"}}),
        lambda k, t: dpop_proof(k, url=URL, token=t, headers={"crit": ["exp"]}),
        lambda k, t: hs256_proof(k, t),
        lambda k, t: dpop_proof(k, url=URL, token=t).rsplit(".", 1)[0] + ".",
        lambda k, t: dpop_proof(k, url=URL, token=t).rsplit(".", 1)[0] + ".!!",
        lambda k, t: dpop_proof(k, url=URL, token=t) + "," + dpop_proof(k, url=URL, token=t),
        lambda k, t: "not-a-jwt",
        lambda k, t: "a.b.c",
        lambda k, t: t,  # the access token itself
        lambda k, t: "x" * 9000,
    ],
)
def test_malformed_proofs_are_rejected(auth0_issuer, dpop_mode, proof_key, make):
    token = bound_token(auth0_issuer, proof_key)
    assert_dpop_rejected(send(token, make(proof_key, token)))


def test_an_unlisted_proof_algorithm_is_rejected(settings, auth0_issuer, proof_keys):
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="allowed", DPOP_ALGORITHMS=["ES256", "HS256"])
    key = proof_keys["PS256"]
    token = bound_token(auth0_issuer, key)
    response = send(token, dpop_proof(key, url=URL, token=token))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('DPoP realm="api", algs="ES256", error="invalid_dpop_proof"')


# Recent PyJWT warns about the short key (jwt.warnings.InsecureKeyLengthWarning, a UserWarning, raised
# from our caller); older ones have no such class, so the filter names the message, not the class.
@pytest.mark.filterwarnings("ignore:The RSA key is:UserWarning")
def test_a_proof_with_an_rsa_key_under_2048_bits_is_rejected(auth0_issuer, dpop_mode):
    weak = LocalKey.generate("PS256", bits=1024)
    token = bound_token(auth0_issuer, weak)
    assert_dpop_rejected(send(token, dpop_proof(weak, url=URL, token=token)))


def test_a_dpop_proof_with_a_huge_iat_is_refused(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="allowed")
    key = LocalKey.generate("ES256")
    token = auth0_issuer.token(claims={"cnf": {"jkt": key.thumbprint()}})
    proof = dpop_proof(key, url="http://testserver/api/private", token=token, claims={"iat": 10**400})
    response = send(token, proof)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_dpop_proof"


# --- schemes and modes --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["off", "allowed", "required"])
def test_a_bound_token_sent_as_bearer_is_rejected(settings, auth0_issuer, proof_key, mode):
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP=mode)
    token = bound_token(auth0_issuer, proof_key)
    response = send(token, dpop_proof(proof_key, url=URL, token=token), scheme="Bearer")
    assert response.status_code == 401
    assert response.json()["code"] == "dpop_binding_mismatch"
    expected = (
        'Bearer realm="api", error="invalid_token"'
        if mode == "off"
        else f'DPoP realm="api", {ALGS}, error="invalid_token"'
    )
    assert response["WWW-Authenticate"].startswith(expected)


def test_a_token_bound_to_a_certificate_is_not_accepted_as_bearer(auth0_issuer, dpop_mode):
    token = auth0_issuer.token(claims={"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}})
    response = send(token, scheme="Bearer")
    assert (response.status_code, response.json()["code"]) == (401, "unsupported_token_binding")


def test_an_unbound_token_sent_as_dpop_is_rejected(auth0_issuer, dpop_mode, proof_key):
    token = auth0_issuer.token()
    response = send(token, dpop_proof(proof_key, url=URL, token=token))
    assert_dpop_rejected(response, code="dpop_binding_mismatch", error="invalid_token")


def test_allowed_mode_accepts_unbound_bearer_tokens_and_offers_both_schemes(auth0_issuer, dpop_mode):
    assert send(auth0_issuer.token(), scheme="Bearer").status_code == 200
    response = send(None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == f'Bearer realm="api", DPoP realm="api", {ALGS}'


def test_allowed_mode_puts_a_bearer_error_first_and_still_offers_dpop(auth0_issuer, dpop_mode):
    response = send(auth0_issuer.token(lifetime=-60), scheme="Bearer")
    assert response.json()["code"] == "token_expired"
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", error="invalid_token", error_description="')
    assert challenge.endswith(f', DPoP realm="api", {ALGS}')


def test_an_invalid_token_sent_as_dpop_gets_the_dpop_challenge(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key, lifetime=-60)
    response = send(token, dpop_proof(proof_key, url=URL, token=token))
    assert_dpop_rejected(response, code="token_expired", error="invalid_token")
    assert response["WWW-Authenticate"].endswith(', Bearer realm="api"')


def test_required_mode_refuses_bearer_tokens(settings, auth0_issuer, proof_key):
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="required")
    response = send(auth0_issuer.token(), scheme="Bearer")
    assert_dpop_rejected(response, code="dpop_required", error="invalid_token")
    assert response["WWW-Authenticate"].count("realm=") == 1
    unauthenticated = send(None)
    assert unauthenticated["WWW-Authenticate"] == f'DPoP realm="api", {ALGS}'
    token = bound_token(auth0_issuer, proof_key)
    assert send(token, dpop_proof(proof_key, url=URL, token=token)).status_code == 200


def test_required_mode_rejects_a_missing_proof(settings, auth0_issuer, proof_key):
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="required")
    assert_dpop_rejected(send(bound_token(auth0_issuer, proof_key)))


def test_off_mode_leaves_the_dpop_scheme_to_others(auth0_issuer, proof_key):
    token = bound_token(auth0_issuer, proof_key)
    response = send(token, dpop_proof(proof_key, url=URL, token=token))
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_malformed_dpop_authorization_header_is_400(auth0_issuer, dpop_mode):
    for value in ("DPoP", "DPoP a b", 'DPoP "x"'):
        response = APIClient().get("/api/private", HTTP_AUTHORIZATION=value)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_request"


def test_insufficient_scope_with_a_dpop_token_uses_the_dpop_scheme(auth0_issuer, dpop_mode, proof_key):
    token = bound_token(auth0_issuer, proof_key)
    response = send(
        token,
        dpop_proof(proof_key, url="http://testserver/api/private-scoped", token=token),
        path="/api/private-scoped",
    )
    assert response.status_code == 403
    assert response["WWW-Authenticate"].startswith('DPoP realm="api", error="insufficient_scope"')


# --- the replay cache ---------------------------------------------------------------------


def test_a_shared_replay_cache_catches_replays_across_processes(settings, auth0_issuer, proof_key):
    from django.core.cache import caches

    from auth0_drf.testing import reset_caches

    caches["default"].clear()
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="allowed", DPOP_REPLAY_CACHE="default")
    token = bound_token(auth0_issuer, proof_key)
    proof = dpop_proof(proof_key, url=URL, token=token)
    assert send(token, proof).status_code == 200
    reset_caches()  # as if the replay reached another worker process: nothing in-process remains
    assert_dpop_rejected(send(token, proof))
    caches["default"].clear()


def test_a_broken_replay_cache_gives_503_not_a_pass(settings, auth0_issuer, proof_key):
    settings.CACHES = {
        **settings.CACHES,
        "broken": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "no_such_table"},
    }
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="allowed", DPOP_REPLAY_CACHE="broken")
    token = bound_token(auth0_issuer, proof_key)
    response = send(token, dpop_proof(proof_key, url=URL, token=token))
    assert response.status_code == 503
    assert response.json()["code"] == "dpop_replay_cache_unavailable"
    assert "Retry-After" in response


def test_memory_replay_cache_is_bounded_and_forgets_expired_entries():
    cache = MemoryReplayCache(max_entries=2)
    now = [100.0]
    cache.timer = lambda: now[0]
    assert cache.add("a", 10) and cache.add("b", 10)
    assert not cache.add("a", 10)
    assert cache.add("c", 10)  # evicts "a", the oldest
    assert len(cache) == 2
    now[0] += 11
    assert cache.add("b", 10)  # expired entries are gone
    assert len(cache) == 1


# --- helpers ------------------------------------------------------------------------------


def test_jwk_thumbprint_matches_rfc7638_example():
    assert jwk_thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT


def test_our_thumbprint_agrees_with_the_test_keys(proof_keys):
    for key in proof_keys.values():
        assert jwk_thumbprint(jwk_of(key)) == key.thumbprint()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://api.example.com/x", "HTTPS://API.EXAMPLE.COM:443/x", True),
        ("http://h/x?q=1#f", "http://h/x", True),
        ("http://h", "http://h/", True),
        ("http://h/%7euser", "http://h/~user", True),
        ("http://h/a%2fb", "http://h/a%2Fb", True),
        ("http://h/a%2Fb", "http://h/a/b", False),
        ("http://h/x", "https://h/x", False),
        ("http://h:8000/x", "http://h/x", False),
        ("http://h/X", "http://h/x", False),
        ("http://[::1]:80/x", "http://[::1]/x", True),
    ],
)
def test_htu_normalisation(a, b, same):
    assert (normalize_htu(a) == normalize_htu(b)) is same


def test_dpop_settings_are_checked(settings):
    from auth0_drf.checks import check_settings

    base = {"DOMAIN": "t.auth0.com", "AUDIENCE": "a", "DPOP": "allowed"}
    # A cache the worker processes share (a per-process LocMemCache is W005, tests/test_checks_workers.py).
    shared = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "auth0_drf_cache"}
    settings.CACHES = {**settings.CACHES, "shared": shared}
    settings.AUTH0_DRF = {**base, "DPOP_REPLAY_CACHE": "shared"}
    assert check_settings() == []
    settings.AUTH0_DRF = {**base, "DPOP_REPLAY_CACHE": "redis", "DPOP_ALGORITHMS": ["HS256"]}
    assert [(e.id, e.msg) for e in check_settings()] == [
        ("auth0_drf.E012", "AUTH0_DRF['DPOP_REPLAY_CACHE'] names the cache 'redis', which is not in CACHES."),
        ("auth0_drf.E013", "AUTH0_DRF['DPOP_ALGORITHMS'] must be a non-empty list of asymmetric algorithms."),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_proof_replayed_concurrently_is_accepted_once(settings, auth0_issuer, proof_key):
    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="allowed")
    token = bound_token(auth0_issuer, proof_key)
    assert send(token, dpop_proof(proof_key, url=URL, token=token)).status_code == 200  # user created
    proof = dpop_proof(proof_key, url=URL, token=token)
    statuses = run_together([lambda: send(token, proof).status_code] * 8)
    assert sorted(statuses) == [200] + [401] * 7
