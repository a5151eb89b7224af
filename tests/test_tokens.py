"""``TokenVerifier``'s seams: claim validators, token profiles, ``is_number`` and ``cache_info()``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, get_args

import pytest
from django.core.exceptions import ImproperlyConfigured

from auth0_drf.conf import Auth0Settings, auth0_settings
from auth0_drf.conf import TokenProfile as ProfileName
from auth0_drf.diagnosis import diagnose
from auth0_drf.errors import InvalidClaim, MissingClaim, TokenTooOld, WrongTokenType
from auth0_drf.jose import MAX_NUMERIC_DATE, is_number
from auth0_drf.profiles import PROFILES, TokenProfile
from auth0_drf.rules import MaxTokenAge
from auth0_drf.tokens import TokenVerifier, get_verifier
from auth0_drf.validators import ClaimContext, check_token_age

TENANT = "https://app.example/tenant"


def validate_tenant(payload: Mapping[str, Any], context: ClaimContext) -> None:
    if payload.get(TENANT) != "acme":
        raise InvalidClaim("The access token is not for the acme tenant.", claim=TENANT)


class AcmeVerifier(TokenVerifier):
    claim_validators = (*TokenVerifier.claim_validators, validate_tenant)


def verifier_like_the_settings(cls: type[TokenVerifier] = TokenVerifier, **options: Any) -> TokenVerifier:
    return cls(auth0_settings.issuers, algorithms=auth0_settings.ALGORITHMS, **options)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, True),
        (-1.5, True),
        (MAX_NUMERIC_DATE, True),
        (-MAX_NUMERIC_DATE, True),
        (MAX_NUMERIC_DATE + 1, False),
        (10**400, False),
        (float("nan"), False),
        (float("inf"), False),
        (True, False),
        ("1", False),
        (None, False),
    ],
)
def test_is_number_accepts_the_json_numbers_a_numeric_date_can_be(value, expected):
    assert is_number(value) is expected


def test_cache_info_counts_verified_tokens_and_checked_headers(auth0_issuer):
    verifier = get_verifier()
    assert verifier.cache_info() == (0, 0)
    verifier.verify(auth0_issuer.token(claims={"jti": "1"}))
    verifier.verify(auth0_issuer.token(claims={"jti": "2"}))
    verifier.verify(auth0_issuer.token(headers={"typ": "at+jwt"}))
    assert verifier.cache_info().tokens == 3
    assert verifier.cache_info().headers == 2
    verifier.clear_cache()
    assert verifier.cache_info() == (0, 2)  # a key change forgets tokens; checked headers stay true


def test_a_claim_validator_added_by_a_subclass_runs_after_the_built_in_ones(auth0_issuer):
    verifier = verifier_like_the_settings(AcmeVerifier)
    assert verifier.verify(auth0_issuer.token(claims={TENANT: "acme"}))[TENANT] == "acme"
    with pytest.raises(InvalidClaim) as caught:
        verifier.verify(auth0_issuer.token(claims={TENANT: "umbrella"}))
    assert caught.value.claim == TENANT
    with pytest.raises(MissingClaim):  # the built-in checks come first
        verifier.verify(auth0_issuer.token(drop=["sub"]))


def test_diagnosis_runs_a_subclass_validator_too_and_reports_every_problem(auth0_issuer):
    verifier = verifier_like_the_settings(AcmeVerifier)
    token = auth0_issuer.token(lifetime=-7200, claims={TENANT: "umbrella"})
    assert [p.code for p in diagnose(token, verifier).problems] == ["token_expired", "invalid_claim"]
    assert diagnose(token, verifier).problems[1].message == "The access token is not for the acme tenant."


def test_diagnosis_checks_the_claims_at_the_time_it_is_given(auth0_issuer):
    token = auth0_issuer.token(lifetime=3600)
    assert diagnose(token).ok
    later = diagnose(token, now=time.time() + 3 * 3600)
    assert [p.code for p in later.problems] == ["token_expired"]
    assert later.problems[0].message.startswith("The token expired 2 h ago")


def test_diagnosis_goes_on_after_an_audience_problem_when_no_audience_is_configured(auth0_issuer):
    verifier = get_verifier()
    config = next(iter(verifier.issuers.values()))
    verifier.issuers[config.issuer] = type(config)(config.issuer, (), config.jwks_uri)
    problems = diagnose(auth0_issuer.token(drop=["sub"]), verifier).problems
    # No audience is the configuration's fault (503 for the API), not the token's: said so, and the rest checked.
    assert [p.code for p in problems] == ["audience_not_configured", "missing_claim"]
    assert problems[0].message.endswith("set AUTH0_DRF['AUDIENCE'] to your API identifier (system check auth0_drf.E002).")


def test_a_profile_is_one_registry_entry_the_verifier_follows(auth0_issuer):
    assert set(PROFILES) == {"any", "rfc9068"}
    strict = TokenProfile("strict", "Strict access tokens", frozenset({"at+jwt"}), requires_typ=True,
                          required_claims=("azp",))
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


@pytest.mark.parametrize(
    ("iat", "error"),
    [("absent", MissingClaim), (None, InvalidClaim), ("1", InvalidClaim), (-3600, TokenTooOld), (-60, None)],
)
def test_max_token_age_and_the_max_token_age_rule_decide_alike(auth0_issuer, settings, iat, error):
    settings.AUTH0_DRF = auth0_issuer.settings(LEEWAY=0, MAX_TOKEN_AGE=600)
    now = time.time()
    claims = {} if iat == "absent" else {"iat": now + iat if isinstance(iat, int) else iat}
    token = auth0_issuer.token(claims=claims, drop=["iat"] if iat == "absent" else [])
    payload = auth0_issuer.claims(claims=claims)
    if iat == "absent":
        del payload["iat"]
    rule = MaxTokenAge(600)()
    if error is None:
        get_verifier().verify(token)
        rule.check(payload)
        check_token_age(payload, 600, now=now, leeway=0)
        return
    with pytest.raises(error):
        get_verifier().verify(token)
    with pytest.raises(error):
        rule.check(payload)
