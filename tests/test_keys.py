"""Keys from JWKS documents: one reader per key type, the RFC 7638 thumbprint, refused documents."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_decode

from auth0_drf.fetch import FetchError
from auth0_drf.keys import checked_keys, parse_jwk, thumbprint
from auth0_drf.signing import LocalKey


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
    # RFC 7638 section 3.1.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWK"
            "RXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMic"
            "AtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3"
            "XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
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
