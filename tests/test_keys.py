"""Keys from JWKS documents: a reader per key type, the RFC 7638 thumbprint, refused documents, which key may verify."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_decode

from auth0_drf.fetch import FetchError
from auth0_drf.keys import checked_keys, parse_jwk, thumbprint
from auth0_drf.signing import LocalKey
from auth0_drf.testing import LocalIssuer, json_response

from .helpers import RFC7638_JWK, RFC7638_THUMBPRINT, get, m2m_token
from .hostile import as_segment, assert_rejected, b64

# --- reading JWKS documents ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "curve"), [("ES256", ec.SECP256R1()), ("ES384", ec.SECP384R1()), ("ES512", ec.SECP521R1())]
)
def test_an_ec_key_whose_coordinate_starts_with_a_zero_byte_is_published_at_full_length(alg, curve):
    # PyJWT before 2.10 drops the zero bytes, and a strict reader (ours) refuses the short JWK.
    size = (curve.key_size + 7) // 8
    for _ in range(100_000):
        private = ec.generate_private_key(curve)
        numbers = private.public_key().public_numbers()
        if min(numbers.x.bit_length(), numbers.y.bit_length()) <= (size - 1) * 8:
            break
    else:
        pytest.fail("no key with a short coordinate in 100000 tries")
    local = LocalKey(private, alg=alg)
    jwk = local.public_jwk()
    assert {len(base64url_decode(jwk[name])) for name in ("x", "y")} == {size}
    assert parse_jwk(jwk) is not None
    assert local.kid == thumbprint(jwk)


@pytest.mark.parametrize(
    ("alg", "kty", "algorithms"),
    [
        ("RS256", "RSA", {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
        ("ES256", "EC", {"ES256"}),
        ("ES384", "EC", {"ES384"}),
        ("EdDSA", "OKP", {"EdDSA"}),
    ],
)
def test_each_key_type_is_read_with_the_algorithms_it_may_verify(alg, kty, algorithms):
    local = LocalKey.generate(alg)
    key = parse_jwk(local.public_jwk(alg=None))
    assert key is not None
    assert (key.kid, key.kty, key.algorithms) == (local.kid, kty, frozenset(algorithms))
    limited = parse_jwk(local.public_jwk())  # its own alg limits it to that one
    assert limited is not None and limited.algorithms == {alg}


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": "P-256K", "x": "AA", "y": "AA"},  # a curve we do not verify
        {"kty": "EC", "crv": ["P-256"], "x": "AA", "y": "AA"},  # not even a string
        {"kty": "OKP", "crv": "X25519", "x": "AA"},  # a key-agreement curve
        {"kty": ["RSA"], "n": "AA", "e": "AQAB"},
        {"kty": "oct", "k": "c2VjcmV0"},
    ],
)
def test_keys_of_unknown_types_and_curves_are_ignored(jwk):
    assert parse_jwk(jwk) is None


def test_the_thumbprint_matches_rfc7638s_example_and_the_local_keys_kid():
    assert thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT
    for alg in ("RS256", "ES256", "EdDSA"):
        key = LocalKey.generate(alg)
        assert key.kid == key.thumbprint() == thumbprint(key.public_jwk())


@pytest.mark.parametrize("jwk", [{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "RSA", "n": "AA"}, {"kty": "EC", "crv": 1}])
def test_a_thumbprint_needs_a_public_key_with_its_required_members(jwk):
    with pytest.raises(ValueError, match="RFC 7638"):
        thumbprint(jwk)


DEEP: list = []
for _ in range(32):
    DEEP = [DEEP]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "has no 'keys' list"),
        ({"keys": {}}, "has no 'keys' list"),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "has no usable signing keys"),
        ({"keys": [], "x": DEEP}, "nested more than 32 levels"),
    ],
)
def test_a_document_without_usable_keys_is_refused_like_a_failed_fetch(document, reason):
    with pytest.raises(FetchError, match=reason):
        checked_keys(document, "https://issuer.example/jwks")


def test_one_malformed_key_beside_good_ones_does_not_spoil_them(auth0_issuer):
    good = auth0_issuer.signing_key.public_jwk()
    broken = [
        {**good, "n": "!!!"},
        {**good, "e": 3},
        {**good, "kid": ["x"]},
        {"kty": "RSA", "kid": good["kid"], "n": "AQAB", "e": "AQAB"},  # same kid, a useless key
        {"kty": "EC", "kid": "ec", "crv": "P-999", "x": "AA", "y": "AA"},
        {"kty": "OKP", "kid": "okp", "crv": "X25519", "x": "AA"},
        "not-a-key",
        None,
    ]
    auth0_issuer.override = lambda path: json_response({"keys": broken + [good]})
    assert get(m2m_token(auth0_issuer)).status_code == 200


# --- the key a token's algorithm may use, through real requests -----------------------------------


def without_alg(key: LocalKey) -> dict[str, Any]:
    return {name: value for name, value in key.public_jwk().items() if name != "alg"}


@pytest.mark.django_db
@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_each_algorithm_is_accepted_when_configured(settings, local_keys, alg):
    with LocalIssuer(keys=[local_keys[alg]]) as issuer:
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=[alg])
        assert get(issuer.token()).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("alg", ["PS256", "ES256", "EdDSA"])
def test_each_algorithm_is_refused_unless_configured(settings, local_keys, alg):
    with LocalIssuer(keys=[local_keys[alg]]) as issuer:
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["RS256"])
        assert_rejected(get(issuer.token()), code="unsupported_algorithm")
        assert issuer.jwks_hits() == 0


@pytest.mark.django_db
def test_an_issuer_with_mixed_keys(settings, local_keys):
    with LocalIssuer(keys=[local_keys["RS256"], local_keys["ES256"], local_keys["EdDSA"]]) as issuer:
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["RS256", "ES256", "EdDSA"])
        for alg in ("RS256", "ES256", "EdDSA"):
            assert get(issuer.token(key=local_keys[alg])).status_code == 200
        assert issuer.jwks_hits() == 1


@pytest.mark.django_db
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


@pytest.mark.django_db
def test_an_rsa_key_without_alg_may_verify_ps256(settings, local_keys):
    rsa = local_keys["RS256"]
    with LocalIssuer(keys=[rsa]) as issuer:
        issuer.routes[issuer.JWKS_PATH] = json_response({"keys": [without_alg(rsa)]})
        pss = LocalKey(rsa.private_key, alg="PS256", kid=rsa.kid)
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["PS256"])
        assert get(issuer.token(key=pss)).status_code == 200
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["ES256"])
        assert_rejected(get(issuer.token(key=pss)), code="unsupported_algorithm")


@pytest.mark.django_db
def test_without_kid_a_key_of_the_right_type_is_chosen(settings, local_keys):
    rsa, ec = local_keys["RS256"], local_keys["ES256"]
    with LocalIssuer(keys=[rsa, ec]) as issuer:
        settings.AUTH0_DRF = issuer.settings(ALGORITHMS=["RS256", "ES256"])
        import jwt

        for key in (rsa, ec):
            token = jwt.encode(issuer.claims(), key.private_key, algorithm=key.alg)
            assert "kid" not in jwt.get_unverified_header(token)
            assert get(token).status_code == 200


@pytest.mark.django_db
def test_an_ec_key_on_another_curve_is_not_used_for_es256(settings):
    from cryptography.hazmat.primitives import hashes
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
