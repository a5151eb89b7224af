"""Several issuers, OIDC discovery, token profiles, algorithms and JWKS caching, through real requests."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from auth0_drf.conf import IssuerConfig, auth0_settings
from auth0_drf.signing import LocalKey
from auth0_drf.testing import LocalIssuer, LoopbackServer, json_response
from auth0_drf.tokens import get_verifier

from .helpers import DISCOVERY_PATH, Clock, get, issuer_entry
from .hostile import as_segment, assert_rejected, b64, sign_raw

pytestmark = pytest.mark.django_db

def without_alg(key: LocalKey) -> dict[str, Any]:
    return {name: value for name, value in key.public_jwk().items() if name != "alg"}


def signed(key: LocalKey, payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """Sign any JSON payload (PyJWT's encoder refuses some shapes we want to test)."""
    return sign_raw({"alg": key.alg, "kid": key.kid, "typ": "JWT", **(header or {})}, payload, key)


# --- several issuers ----------------------------------------------------------------------


@pytest.fixture
def two_issuers(settings: Any, issuer_a: LocalIssuer, issuer_b: LocalIssuer) -> tuple[LocalIssuer, LocalIssuer]:
    settings.AUTH0_DRF = {"ISSUERS": [issuer_entry(issuer_a), issuer_entry(issuer_b)], "ALGORITHMS": ["RS256"]}
    return issuer_a, issuer_b


def test_tokens_of_both_issuers_are_accepted_with_one_fetch_each(two_issuers):
    a, b = two_issuers
    assert get(a.token(sub="auth0|a")).status_code == 200
    assert get(b.token(sub="auth0|b")).status_code == 200
    assert get(a.token(sub="auth0|a2")).status_code == 200
    assert (a.jwks_hits(), b.jwks_hits()) == (1, 1)


def test_each_issuer_grants_only_its_own_audiences(two_issuers):
    a, b = two_issuers
    assert_rejected(get(a.token(audience=b.audience)), code="invalid_audience")
    assert_rejected(get(b.token(audience=a.audience)), code="invalid_audience")
    assert get(a.token(audience=[b.audience, a.audience])).status_code == 200


def test_keys_are_per_issuer(two_issuers):
    a, b = two_issuers
    # Signed by A's key (its kid is in A's JWKS only) but claiming to come from B.
    forged = a.token(issuer=b.issuer, audience=b.audience)
    assert_rejected(get(forged), code="unknown_key")
    assert a.jwks_hits() == 0


def test_an_untrusted_iss_never_causes_a_fetch(two_issuers):
    a, _ = two_issuers
    with LoopbackServer() as attacker:
        attacker.routes["/.well-known/jwks.json"] = json_response({"keys": [a.signing_key.public_jwk()]})
        attacker.routes[DISCOVERY_PATH] = json_response({"issuer": attacker.url + "/", "jwks_uri": attacker.url + "/.well-known/jwks.json"})
        for iss in (attacker.url + "/", attacker.url, a.issuer.rstrip("/"), a.issuer.upper(), a.issuer + "x"):
            response = get(a.token(issuer=iss))
            assert_rejected(response, code="invalid_issuer")
        assert attacker.hits() == 0
    assert a.jwks_hits() == 0


def test_non_string_iss_is_rejected_without_a_fetch(two_issuers):
    a, _ = two_issuers
    for iss in ([a.issuer], {"x": 1}, 7):
        assert_rejected(get(signed(a.signing_key, a.claims(issuer=iss))), code="invalid_issuer")
    assert a.jwks_hits() == 0


def test_issuers_from_domain_and_inherited_audience(settings):
    settings.AUTH0_DRF = {
        "DOMAIN": "tenant.eu.auth0.com",
        "AUDIENCE": "https://api.example.test/",
        "ISSUERS": [{"DOMAIN": "login.example.com"}, {"ISSUER": "https://other.example/", "AUDIENCE": ["x", "y"]}],
    }
    assert auth0_settings.issuers == (
        IssuerConfig("https://tenant.eu.auth0.com/", ("https://api.example.test/",), "https://tenant.eu.auth0.com/.well-known/jwks.json"),
        IssuerConfig("https://login.example.com/", ("https://api.example.test/",), "https://login.example.com/.well-known/jwks.json"),
        IssuerConfig("https://other.example/", ("x", "y"), "https://other.example/.well-known/jwks.json"),
    )


def test_top_level_issuer_listed_again_in_issuers_is_not_duplicated(settings, issuer_a):
    settings.AUTH0_DRF = {**issuer_a.settings(), "ISSUERS": [issuer_entry(issuer_a, AUDIENCE="https://only-this/")]}
    assert [c.audiences for c in auth0_settings.issuers] == [("https://only-this/",)]


# --- discovery ----------------------------------------------------------------------------


def test_discovery_finds_the_jwks(settings, issuer_a):
    settings.AUTH0_DRF = {"ISSUER": issuer_a.issuer, "AUDIENCE": issuer_a.audience, "DISCOVERY": True}
    assert get(issuer_a.token()).status_code == 200
    assert get(issuer_a.token(sub="auth0|2")).status_code == 200
    assert (issuer_a.hits(DISCOVERY_PATH), issuer_a.jwks_hits()) == (1, 1)


def test_discovery_follows_jwks_uri_to_another_host(settings, issuer_a):
    with LoopbackServer() as keys_host:
        keys_host.routes["/keys"] = json_response(issuer_a.jwks())
        issuer_a.routes[DISCOVERY_PATH] = json_response({"issuer": issuer_a.issuer, "jwks_uri": keys_host.url + "/keys"})
        settings.AUTH0_DRF = {"ISSUERS": [{"ISSUER": issuer_a.issuer, "AUDIENCE": issuer_a.audience, "DISCOVERY": True}]}
        assert get(issuer_a.token()).status_code == 200
        assert keys_host.hits("/keys") == 1
    assert issuer_a.jwks_hits() == 0


@pytest.mark.parametrize(
    "document",
    [
        {"issuer": "https://evil.example/"},
        {"issuer": "ISSUER-WITHOUT-SLASH"},
        {"issuer": "ISSUER"},  # no jwks_uri
        {"issuer": "ISSUER", "jwks_uri": "http://203.0.113.9/jwks.json"},  # plain http off loopback
        {"issuer": "ISSUER", "jwks_uri": 42},
    ],
)
def test_a_bad_discovery_document_is_refused(settings, issuer_a, document):
    data = dict(document)
    if data["issuer"] == "ISSUER":
        data["issuer"] = issuer_a.issuer
    elif data["issuer"] == "ISSUER-WITHOUT-SLASH":
        data["issuer"] = issuer_a.issuer.rstrip("/")
    if "jwks_uri" not in document and document["issuer"] != "ISSUER":
        data["jwks_uri"] = issuer_a.jwks_uri
    issuer_a.routes[DISCOVERY_PATH] = json_response(data)
    settings.AUTH0_DRF = {"ISSUER": issuer_a.issuer, "AUDIENCE": issuer_a.audience, "DISCOVERY": True}
    assert_rejected(get(issuer_a.token()), status=503, code="jwks_unavailable", error=None)
    assert issuer_a.jwks_hits() == 0


def test_a_failed_discovery_is_retried_after_the_cooldown(settings, issuer_a):
    settings.AUTH0_DRF = {"ISSUER": issuer_a.issuer, "AUDIENCE": issuer_a.audience, "DISCOVERY": True, "JWKS_REFETCH_COOLDOWN": 0}
    issuer_a.override = lambda path: (500, {}, b"down") if path == DISCOVERY_PATH else None
    assert_rejected(get(issuer_a.token()), status=503, code="jwks_unavailable", error=None)
    issuer_a.override = None
    assert get(issuer_a.token()).status_code == 200
    assert issuer_a.hits(DISCOVERY_PATH) == 2


def test_a_failed_discovery_is_not_retried_during_the_cooldown(settings, issuer_a):
    settings.AUTH0_DRF = {"ISSUER": issuer_a.issuer, "AUDIENCE": issuer_a.audience, "DISCOVERY": True, "JWKS_REFETCH_COOLDOWN": 60}
    issuer_a.override = lambda path: (500, {}, b"down") if path == DISCOVERY_PATH else None
    for _ in range(5):
        assert_rejected(get(issuer_a.token()), status=503, code="jwks_unavailable", error=None)
    assert issuer_a.hits(DISCOVERY_PATH) == 1


def test_a_moved_jwks_is_found_again_through_discovery(settings, issuer_a):
    settings.AUTH0_DRF = {"ISSUER": issuer_a.issuer, "AUDIENCE": issuer_a.audience, "DISCOVERY": True, "JWKS_REFETCH_COOLDOWN": 0}
    assert get(issuer_a.token()).status_code == 200
    with LoopbackServer() as new_home:
        # The provider moves its keys and rotates: the old jwks_uri is gone.
        new_key = issuer_a.rotate()
        new_home.routes["/jwks"] = lambda: json_response(issuer_a.jwks())
        issuer_a.routes[DISCOVERY_PATH] = json_response({"issuer": issuer_a.issuer, "jwks_uri": new_home.url + "/jwks"})
        issuer_a.routes.pop(issuer_a.JWKS_PATH)
        assert get(issuer_a.token(key=new_key)).status_code == 200
        assert new_home.hits("/jwks") == 1


def test_the_discovery_document_is_cached_for_jwks_max_ttl(settings, issuer_a):
    settings.AUTH0_DRF = {"ISSUER": issuer_a.issuer, "AUDIENCE": issuer_a.audience, "DISCOVERY": True,
                          "JWKS_CACHE_TTL": 600, "JWKS_MAX_TTL": 3600}
    clock = Clock()
    get_verifier().jwks[issuer_a.issuer].timer = clock
    assert get(issuer_a.token(sub="auth0|1")).status_code == 200
    clock.now += 601  # keys due, discovery not
    assert get(issuer_a.token(sub="auth0|2")).status_code == 200
    assert (issuer_a.hits(DISCOVERY_PATH), issuer_a.jwks_hits()) == (1, 2)
    clock.now += 3000  # discovery due too
    assert get(issuer_a.token(sub="auth0|3")).status_code == 200
    assert (issuer_a.hits(DISCOVERY_PATH), issuer_a.jwks_hits()) == (2, 3)


# --- token profiles -----------------------------------------------------------------------


def rfc9068_token(issuer: LocalIssuer, *, typ: str = "at+jwt", drop: tuple[str, ...] = (), **kwargs: Any) -> str:
    """Return a token in Auth0's RFC 9068 profile: typ at+jwt, client_id and jti, no azp."""
    claims = {"client_id": "s6BhdRkqt3", "jti": "dbe39bf3a3ba4238a513f51d6e1691c4", **kwargs.pop("claims", {})}
    return issuer.token(headers={"typ": typ}, claims=claims, drop=("azp", *drop), **kwargs)


def test_default_profile_accepted(auth0_issuer):
    token = auth0_issuer.token(sub="abc@clients", claims={"gty": "client-credentials", "azp": "abc"})
    assert get(token).status_code == 200


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "JWT", "jwt", "application/jwt"])
def test_both_profiles_accepted_by_default(auth0_issuer, typ):
    body = get(rfc9068_token(auth0_issuer, typ=typ), "/api/claims").json()
    assert body["claims"]["client_id"] == "s6BhdRkqt3"


def test_strict_rfc9068_accepts_an_rfc9068_token(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_PROFILE="rfc9068")
    assert get(rfc9068_token(auth0_issuer)).status_code == 200
    assert get(rfc9068_token(auth0_issuer, typ="application/at+jwt")).status_code == 200


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda i: i.token(), "invalid_token_type"),  # typ JWT: Auth0's default profile
        (lambda i: i.token(headers={"typ": "jwt"}, claims={"client_id": "c", "jti": "j"}), "invalid_token_type"),
        (lambda i: rfc9068_token(i, drop=("jti",)), "missing_claim"),
        (lambda i: rfc9068_token(i, drop=("client_id",)), "missing_claim"),
        (lambda i: rfc9068_token(i, drop=("iat",)), "missing_claim"),
        (lambda i: rfc9068_token(i, claims={"jti": 7}), "invalid_claim"),
    ],
)
def test_strict_rfc9068_rejects_other_tokens(auth0_issuer, settings, make, code):
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_PROFILE="rfc9068")
    assert_rejected(get(make(auth0_issuer)), code=code)


def test_strict_rfc9068_rejects_a_token_without_typ(auth0_issuer, settings):

    payload = auth0_issuer.claims(claims={"client_id": "c", "jti": "j"})
    key = auth0_issuer.signing_key
    token = jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": None})
    assert "typ" not in jwt.get_unverified_header(token)
    assert get(token).status_code == 200  # "any" accepts it
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_PROFILE="rfc9068")
    assert_rejected(get(token), code="invalid_token_type")


@pytest.mark.parametrize(
    "typ",
    ["logout+jwt", "application/logout+jwt", "secevent+jwt", "dpop+jwt", "id_token+jwt", "token-introspection+jwt",
     "oauth-authz-req+jwt", "JOSE", "JOSE+JSON", "", "at+jwt ", 123, None],
)
def test_other_kinds_of_jwt_are_rejected(auth0_issuer, typ):
    header = {"typ": typ} if typ is not None else {"typ": ["at+jwt"]}
    response = get(signed(auth0_issuer.signing_key, auth0_issuer.claims(), header))
    assert_rejected(response, code="invalid_token_type")
    assert auth0_issuer.jwks_hits() == 0  # refused before any key is fetched


# --- algorithms ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_each_algorithm_is_accepted_when_configured(settings, local_keys, alg):
    with LocalIssuer(keys=[local_keys[alg]]) as issuer:
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=[alg])
        assert get(issuer.token()).status_code == 200


@pytest.mark.parametrize("alg", ["PS256", "ES256", "EdDSA"])
def test_each_algorithm_is_refused_unless_configured(settings, local_keys, alg):
    with LocalIssuer(keys=[local_keys[alg]]) as issuer:
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["RS256"])
        assert_rejected(get(issuer.token()), code="unsupported_algorithm")
        assert issuer.jwks_hits() == 0


def test_an_issuer_with_mixed_keys(settings, local_keys):
    with LocalIssuer(keys=[local_keys["RS256"], local_keys["ES256"], local_keys["EdDSA"]]) as issuer:
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["RS256", "ES256", "EdDSA"])
        for alg in ("RS256", "ES256", "EdDSA"):
            assert get(issuer.token(key=local_keys[alg])).status_code == 200
        assert issuer.jwks_hits() == 1


def test_a_key_is_never_used_for_an_algorithm_of_another_type(settings, local_keys):
    rsa, ec, ed = local_keys["RS256"], local_keys["ES256"], local_keys["EdDSA"]
    with LocalIssuer(keys=[rsa, ec]) as issuer:
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["RS256", "PS256", "ES256", "EdDSA"], JWKS_REFETCH_COOLDOWN=60)
        # Valid signatures by keys of another type, under the kid of a published key.
        assert_rejected(get(issuer.token(key=ec, headers={"kid": rsa.kid})), code="unknown_key")
        assert_rejected(get(issuer.token(key=ed, headers={"kid": ec.kid})), code="unknown_key")
        assert_rejected(get(issuer.token(key=rsa, headers={"kid": ec.kid})), code="unknown_key")
        # PS256 by the very RSA key the JWKS publishes, but its JWK says alg RS256 only.
        pss = LocalKey(rsa.private_key, alg="PS256", kid=rsa.kid)
        assert_rejected(get(issuer.token(key=pss)), code="unknown_key")


def test_an_rsa_key_without_alg_may_verify_ps256(settings, local_keys):
    rsa = local_keys["RS256"]
    with LocalIssuer(keys=[rsa]) as issuer:
        issuer.routes[issuer.JWKS_PATH] = json_response({"keys": [without_alg(rsa)]})
        pss = LocalKey(rsa.private_key, alg="PS256", kid=rsa.kid)
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["PS256"])
        assert get(issuer.token(key=pss)).status_code == 200
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["ES256"])
        assert_rejected(get(issuer.token(key=pss)), code="unsupported_algorithm")


def test_without_kid_a_key_of_the_right_type_is_chosen(settings, local_keys):
    rsa, ec = local_keys["RS256"], local_keys["ES256"]
    with LocalIssuer(keys=[rsa, ec]) as issuer:
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["RS256", "ES256"])
        import jwt

        for key in (rsa, ec):
            token = jwt.encode(issuer.claims(), key.private_key, algorithm=key.alg)
            assert "kid" not in jwt.get_unverified_header(token)
            assert get(token).status_code == 200


def test_an_ec_key_on_another_curve_is_not_used_for_es256(settings):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    p384 = LocalKey.generate("ES384")
    with LocalIssuer(keys=[p384]) as issuer:
        # Published without alg, so only its curve says which algorithm it serves.
        issuer.routes[issuer.JWKS_PATH] = json_response({"keys": [without_alg(p384)]})
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["ES256", "ES384"])
        assert get(issuer.token()).status_code == 200
        # An "ES256" signature made with the P-384 key (SHA-256 over P-384).
        header = {"alg": "ES256", "typ": "JWT", "kid": p384.kid}
        signing_input = f"{as_segment(header)}.{as_segment(issuer.claims())}"
        r, s = decode_dss_signature(p384.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        token = signing_input + "." + b64(signature)
        assert_rejected(get(token), code="unknown_key")


# --- Cache-Control ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "fresh_until"),
    [
        ("public, max-age=120", 120),  # honoured
        ("max-age=5", 60),  # raised to JWKS_MIN_TTL
        ("max-age=99999999", 3600),  # lowered to JWKS_MAX_TTL
        ("no-store", 60),  # the minimum, never "fetch on every request"
        ("no-cache, max-age=500", 60),
        (None, 600),  # JWKS_CACHE_TTL
        ("max-age=garbage", 600),
    ],
)
def test_cache_control_max_age_is_honoured_within_bounds(settings, issuer_a, cache_control, fresh_until):
    if cache_control is not None:
        issuer_a.jwks_headers = {"Cache-Control": cache_control}
    settings.AUTH0_DRF = issuer_a.settings(JWKS_MIN_TTL=60, JWKS_MAX_TTL=3600, JWKS_CACHE_TTL=600)
    clock = Clock()
    get_verifier().jwks[issuer_a.issuer].timer = clock
    assert get(issuer_a.token(sub="auth0|1")).status_code == 200
    clock.now += fresh_until - 1
    assert get(issuer_a.token(sub="auth0|2")).status_code == 200
    assert issuer_a.jwks_hits() == 1
    clock.now += 2
    assert get(issuer_a.token(sub="auth0|3")).status_code == 200
    assert issuer_a.jwks_hits() == 2


def test_a_cached_token_is_rechecked_once_the_keys_are_due(settings, issuer_a):
    issuer_a.jwks_headers = {"Cache-Control": "max-age=120"}
    settings.AUTH0_DRF = issuer_a.settings(JWKS_MIN_TTL=60)
    clock = Clock()
    get_verifier().jwks[issuer_a.issuer].timer = clock
    token = issuer_a.token()
    assert get(token).status_code == 200
    assert get(token).status_code == 200
    assert issuer_a.jwks_hits() == 1
    clock.now += 121
    issuer_a.rotate(keep_old=False)  # the key that signed the token is revoked
    assert_rejected(get(token), code="unknown_key")


# --- system checks ------------------------------------------------------------------------


def check_ids(settings_dict: dict[str, Any], settings: Any) -> list[tuple[str, str]]:
    from auth0_drf.checks import check_settings

    settings.AUTH0_DRF = settings_dict
    return [(e.id, e.msg) for e in check_settings()]


def test_issuers_entries_are_checked(settings):
    base = {"AUDIENCE": "https://api.example.test/"}
    assert check_ids({**base, "ISSUERS": [{"DOMAIN": "login.example.com"}]}, settings) == []
    assert check_ids({**base, "ISSUERS": [{"AUDIENCE": "x"}, "https://x/"]}, settings) == [
        ("auth0_drf.E014", "AUTH0_DRF['ISSUERS'][0] must be a dict with an 'ISSUER' or a 'DOMAIN'."),
        ("auth0_drf.E014", "AUTH0_DRF['ISSUERS'][1] must be a dict with an 'ISSUER' or a 'DOMAIN'."),
    ]
    assert check_ids({**base, "ISSUERS": [{"DOMAIN": "a.example", "AUDIENCES": ["x"]}]}, settings) == [
        ("auth0_drf.E014", "AUTH0_DRF['ISSUERS'][0] has keys auth0_drf does not know: AUDIENCES."),
    ]
    assert check_ids({**base, "ISSUERS": [{"ISSUER": "http://login.example.com/"}]}, settings) == [
        ("auth0_drf.E005", "AUTH0_DRF['ISSUERS'][0]['ISSUER'] 'http://login.example.com/' is not an https:// URL."),
        ("auth0_drf.E005", "AUTH0_DRF['ISSUERS'][0]['JWKS_URI'] 'http://login.example.com/.well-known/jwks.json' is not an https:// URL."),
    ]
