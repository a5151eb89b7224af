"""Signed tokens with extreme claim values: each is a deliberate 401 or a 200, never a 500.

Found by the end-to-end suite: a token from the trusted issuer with ``exp`` = 10**400 or a
custom claim holding a lone surrogate (``"\\ud800"``) made the demo answer 500.
"""

from __future__ import annotations

import pytest

from auth0_drf.testing import dpop_proof

from .helpers import get_as, send

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 10**400},
        {"exp": 10**15},  # year 31690: beyond what a datetime (Claims.expires_at) can hold
        {"exp": 1e300},
        {"nbf": -(10**400)},
        {"iat": 10**400},
    ],
)
def test_numeric_dates_out_of_range_are_invalid_claims(auth0_issuer, claims):
    response = get_as(auth0_issuer, "/api/claims", claims=claims)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_claim"


def test_the_latest_numeric_date_is_accepted_and_readable(auth0_issuer):
    response = get_as(auth0_issuer, "/api/claims", claims={"exp": 253402300799})
    assert response.status_code == 200
    assert response.json()["claims"]["exp"] == 253402300799


@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "\ude00\ud83d"])
def test_lone_surrogates_in_any_claim_are_refused(auth0_issuer, bad):
    for claims in ({"https://example.test/note": bad}, {"https://example.test/list": ["ok", {"x": bad}]}, {"sub": bad}):
        response = get_as(auth0_issuer, "/api/claims", claims=claims)
        assert response.status_code == 401
        assert response.json()["code"] == "not_a_jwt"


def test_escaped_surrogate_pairs_are_ordinary_text(auth0_issuer):
    # LocalKey signs with json.dumps' ASCII escapes, so the emoji travels as \ud83d\ude00.
    response = get_as(auth0_issuer, "/api/claims", claims={"https://example.test/mood": "\U0001f600", "sub": "auth0|\U0001f600"})
    assert response.status_code == 200
    assert response.json()["claims"]["https://example.test/mood"] == "\U0001f600"


def test_a_dpop_proof_with_a_huge_iat_is_refused(auth0_issuer, settings):
    from auth0_drf.signing import LocalKey

    settings.AUTH0_DRF = auth0_issuer.settings(DPOP="allowed")
    key = LocalKey.generate("ES256")
    token = auth0_issuer.token(claims={"cnf": {"jkt": key.thumbprint()}})
    proof = dpop_proof(key, url="http://testserver/api/private", token=token, claims={"iat": 10**400})
    response = send(f"DPoP {token}", HTTP_DPOP=proof)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_dpop_proof"
