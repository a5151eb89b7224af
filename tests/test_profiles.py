"""Token profiles (``TOKEN_PROFILE``): Auth0's default tokens, RFC 9068's ``at+jwt``, and other JWTs refused."""

from __future__ import annotations

from typing import Any, get_args

import jwt
import pytest
from django.core.exceptions import ImproperlyConfigured

from auth0_drf.conf import Auth0Settings
from auth0_drf.conf import TokenProfile as ProfileName
from auth0_drf.errors import MissingClaim, WrongTokenType
from auth0_drf.profiles import PROFILES, TokenProfile
from auth0_drf.testing import LocalIssuer
from auth0_drf.tokens import get_verifier

from .helpers import get, verifier_like_the_settings
from .hostile import assert_rejected, signed_token

# --- the registry ---------------------------------------------------------------------------------


def test_a_profile_is_one_registry_entry_the_verifier_follows(auth0_issuer):
    assert set(PROFILES) == {"any", "rfc9068"}
    strict = TokenProfile(
        "strict", "Strict access tokens", frozenset({"at+jwt"}), requires_typ=True, required_claims=("azp",)
    )
    verifier = verifier_like_the_settings(profile=strict)
    assert verifier.verify(auth0_issuer.token(headers={"typ": "at+jwt"}))["azp"]
    with pytest.raises(WrongTokenType, match="^Strict access tokens must have typ 'at\\+jwt'.$"):
        verifier.verify(auth0_issuer.token(headers={"typ": None}))  # PyJWT then writes no typ
    with pytest.raises(MissingClaim, match="^Strict access tokens must have a 'azp' claim.$"):
        verifier.verify(auth0_issuer.token(headers={"typ": "at+jwt"}, drop=["azp"]))


def test_the_token_profile_setting_offers_exactly_the_registered_profiles():
    # conf.py names them for typing and the E007 check (it sits below profiles.py, so it cannot import it).
    assert set(get_args(ProfileName)) == set(PROFILES)
    assert Auth0Settings.TOKEN_PROFILE.default in PROFILES


def test_an_unknown_profile_is_refused_when_the_verifier_is_built(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_PROFILE="rfc9086")
    with pytest.raises(ImproperlyConfigured, match="must be one of any, rfc9068, not 'rfc9086'"):
        get_verifier()


# --- Auth0's default profile and RFC 9068's, through real requests --------------------------------


def rfc9068_token(issuer: LocalIssuer, *, typ: str = "at+jwt", drop: tuple[str, ...] = (), **kwargs: Any) -> str:
    """Return a token in Auth0's RFC 9068 profile: typ at+jwt, client_id and jti, no azp."""
    claims = {"client_id": "s6BhdRkqt3", "jti": "dbe39bf3a3ba4238a513f51d6e1691c4", **kwargs.pop("claims", {})}
    return issuer.token(headers={"typ": typ}, claims=claims, drop=("azp", *drop), **kwargs)


@pytest.mark.django_db
def test_default_profile_accepted(auth0_issuer):
    token = auth0_issuer.token(sub="abc@clients", claims={"gty": "client-credentials", "azp": "abc"})
    assert get(token).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "JWT", "jwt", "application/jwt"])
def test_both_profiles_accepted_by_default(auth0_issuer, typ):
    body = get(rfc9068_token(auth0_issuer, typ=typ), "/api/claims").json()
    assert body["claims"]["client_id"] == "s6BhdRkqt3"


@pytest.mark.django_db
def test_strict_rfc9068_accepts_an_rfc9068_token(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_PROFILE="rfc9068")
    assert get(rfc9068_token(auth0_issuer)).status_code == 200
    assert get(rfc9068_token(auth0_issuer, typ="application/at+jwt")).status_code == 200


@pytest.mark.django_db
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


@pytest.mark.django_db
def test_strict_rfc9068_rejects_a_token_without_typ(auth0_issuer, settings):
    payload = auth0_issuer.claims(claims={"client_id": "c", "jti": "j"})
    key = auth0_issuer.signing_key
    token = jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": None})
    assert "typ" not in jwt.get_unverified_header(token)
    assert get(token).status_code == 200  # "any" accepts it
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_PROFILE="rfc9068")
    assert_rejected(get(token), code="invalid_token_type")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typ",
    [
        "logout+jwt",
        "application/logout+jwt",
        "secevent+jwt",
        "dpop+jwt",
        "id_token+jwt",
        "token-introspection+jwt",
        "oauth-authz-req+jwt",
        "JOSE",
        "JOSE+JSON",
        "",
        "at+jwt ",
        123,
        None,
    ],
)
def test_other_kinds_of_jwt_are_rejected(auth0_issuer, typ):
    header = {"typ": typ} if typ is not None else {"typ": ["at+jwt"]}
    response = get(signed_token(auth0_issuer.signing_key, auth0_issuer.claims(), header))
    assert_rejected(response, code="invalid_token_type")
    assert auth0_issuer.jwks_hits() == 0  # refused before any key is fetched
