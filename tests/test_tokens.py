"""Verifying a token (``TokenVerifier``): its seams, the verified-token and header caches, several issuers.

The friendlier rejections through DRF are in test_authentication.py, the hostile ones in the
rejection matrix (test_rejections.py); the keys behind the verifier in test_jwks.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import pytest

from auth0_drf.diagnosis import diagnose
from auth0_drf.errors import InvalidClaim, MissingClaim, TokenTooOld
from auth0_drf.rules import MaxTokenAge
from auth0_drf.signing import LocalKey
from auth0_drf.testing import LocalIssuer, LoopbackServer, json_response
from auth0_drf.tokens import TokenVerifier, get_verifier
from auth0_drf.validators import ClaimContext, check_token_age

from .helpers import DISCOVERY_PATH, get, issuer_entry, m2m_token, verifier_like_the_settings
from .hostile import assert_rejected, b64, signed_token

TENANT = "https://app.example/tenant"


# --- the seams: claim validators and cache_info() ---------------------------------------------


def validate_tenant(payload: Mapping[str, Any], context: ClaimContext) -> None:
    if payload.get(TENANT) != "acme":
        raise InvalidClaim("The access token is not for the acme tenant.", claim=TENANT)


class AcmeVerifier(TokenVerifier):
    claim_validators = (*TokenVerifier.claim_validators, validate_tenant)


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


# --- the verified-token cache ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_token_verified_under_a_removed_key_is_not_cached_after_the_change(auth0_issuer, settings, monkeypatch):
    # The interleaving of two threads, step by step: A verifies a token under key K; B refetches
    # the JWKS, which no longer has K, and empties the token cache; only then does A store its
    # verdict. The stored verdict must not outlive the key it was made with.
    settings.AUTH0_DRF = auth0_issuer.settings()
    old_token = m2m_token(auth0_issuer, claims={"thread": "A"})
    steps: list[str] = []

    def thread_b_meanwhile(payload: Any, context: Any) -> None:
        # The last claim check of A's token: its signature is checked under K, its verdict not yet stored.
        if payload.get("thread") == "A" and not steps:
            steps.append("B")
            auth0_issuer.rotate(keep_old=False)
            assert get(m2m_token(auth0_issuer)).status_code == 200  # thread B: unknown kid, refetch, K gone

    monkeypatch.setattr(TokenVerifier, "claim_validators", (*TokenVerifier.claim_validators, thread_b_meanwhile))
    get_verifier().verify(old_token)  # thread A, with thread B's steps run before it stores its verdict
    assert steps == ["B"]
    assert_rejected(get(old_token), code="unknown_key")


@pytest.mark.django_db
def test_token_cache_is_bounded_by_token_cache_size(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_CACHE_SIZE=3)
    verifier = get_verifier()
    tokens = [auth0_issuer.token(claims={"jti": f"t{i}"}) for i in range(7)]
    for token in tokens:
        verifier.verify(token)
        assert verifier.cache_info().tokens <= 3
    assert verifier.cache_info().tokens == 3


@pytest.mark.django_db
def test_token_cache_size_zero_turns_it_off(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(TOKEN_CACHE_SIZE=0)
    verifier = get_verifier()
    token = auth0_issuer.token()
    assert verifier.verify(token) is not verifier.verify(token)  # verified afresh each time
    assert verifier.cache_info().tokens == 0


@pytest.mark.django_db
def test_repeat_token_is_served_from_the_cache(auth0_issuer):
    verifier = get_verifier()
    token = auth0_issuer.token()
    assert verifier.verify(token) is verifier.verify(token)


@pytest.mark.django_db
def test_cached_token_expires_with_the_token(auth0_issuer, settings, get_with):
    settings.AUTH0_DRF = auth0_issuer.settings(LEEWAY=0)
    verifier = get_verifier()
    token = auth0_issuer.token(lifetime=60)
    assert get_with("/api/private", f"Bearer {token}").status_code == 200
    assert verifier.cache_info().tokens == 1
    later = time.time() + 61
    verifier.timer = lambda: later  # the clock moves past exp; keys stay fresh (monotonic clock)
    response = get_with("/api/private", f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


@pytest.mark.django_db
def test_cached_token_does_not_outlive_max_token_age(auth0_issuer, settings):
    from auth0_drf.errors import TokenTooOld

    settings.AUTH0_DRF = auth0_issuer.settings(LEEWAY=0, MAX_TOKEN_AGE=30)
    verifier = get_verifier()
    token = auth0_issuer.token(lifetime=3600)
    verifier.verify(token)
    later = time.time() + 31
    verifier.timer = lambda: later
    with pytest.raises(TokenTooOld):
        verifier.verify(token)


@pytest.mark.django_db
def test_token_cache_is_emptied_when_the_keys_change(auth0_issuer, settings, get_with):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0)
    verifier = get_verifier()
    old = auth0_issuer.token()
    assert get_with("/api/private", f"Bearer {old}").status_code == 200
    assert verifier.cache_info().tokens == 1
    auth0_issuer.rotate(keep_old=False)  # the old key is revoked
    new = auth0_issuer.token()
    assert get_with("/api/private", f"Bearer {new}").status_code == 200  # unknown kid: refetch
    assert auth0_issuer.jwks_hits() == 2
    assert verifier.cache_info().tokens == 1  # the old entry is gone: the one left is the new token's
    assert verifier.verify(new) is verifier.verify(new)
    response = get_with("/api/private", f"Bearer {old}")
    assert response.status_code == 401  # the cached verdict did not survive the revocation


@pytest.mark.django_db
def test_token_cache_is_not_used_once_keys_are_due_for_refresh(auth0_issuer, settings, get_with):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_REFETCH_COOLDOWN=0)
    verifier = get_verifier()
    token = auth0_issuer.token()
    assert get_with("/api/private", f"Bearer {token}").status_code == 200
    jwks = next(iter(verifier.jwks.values()))
    auth0_issuer.rotate(keep_old=False)
    jwks.expire()  # the keys' lifetime is over: the next use must refresh them
    assert get_with("/api/private", f"Bearer {token}").status_code == 401
    assert auth0_issuer.jwks_hits() == 3  # the due refresh, then one refetch for the unknown kid


@pytest.mark.django_db
def test_token_cache_is_emptied_when_settings_change(auth0_issuer, settings, get_with):
    token = auth0_issuer.token()
    assert get_with("/api/private", f"Bearer {token}").status_code == 200
    settings.AUTH0_DRF = auth0_issuer.settings(AUDIENCE="https://another-api.example.test/")
    response = get_with("/api/private", f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_audience"


# --- several issuers ------------------------------------------------------------------------------


@pytest.fixture
def two_issuers(settings: Any, issuer_a: LocalIssuer, issuer_b: LocalIssuer) -> tuple[LocalIssuer, LocalIssuer]:
    settings.AUTH0_DRF = {"ISSUERS": [issuer_entry(issuer_a), issuer_entry(issuer_b)], "ALGORITHMS": ["RS256"]}
    return issuer_a, issuer_b


@pytest.mark.django_db
def test_tokens_of_both_issuers_are_accepted_with_one_fetch_each(two_issuers):
    a, b = two_issuers
    assert get(a.token(sub="auth0|a")).status_code == 200
    assert get(b.token(sub="auth0|b")).status_code == 200
    assert get(a.token(sub="auth0|a2")).status_code == 200
    assert (a.jwks_hits(), b.jwks_hits()) == (1, 1)


@pytest.mark.django_db
def test_each_issuer_grants_only_its_own_audiences(two_issuers):
    a, b = two_issuers
    assert_rejected(get(a.token(audience=b.audience)), code="invalid_audience")
    assert_rejected(get(b.token(audience=a.audience)), code="invalid_audience")
    assert get(a.token(audience=[b.audience, a.audience])).status_code == 200


@pytest.mark.django_db
def test_keys_are_per_issuer(two_issuers):
    a, b = two_issuers
    # Signed by A's key (its kid is in A's JWKS only) but claiming to come from B.
    forged = a.token(issuer=b.issuer, audience=b.audience)
    assert_rejected(get(forged), code="unknown_key")
    assert a.jwks_hits() == 0


@pytest.mark.django_db
def test_an_untrusted_iss_never_causes_a_fetch(two_issuers):
    a, _ = two_issuers
    with LoopbackServer() as attacker:
        attacker.routes["/.well-known/jwks.json"] = json_response({"keys": [a.signing_key.public_jwk()]})
        attacker.routes[DISCOVERY_PATH] = json_response(
            {"issuer": attacker.url + "/", "jwks_uri": attacker.url + "/.well-known/jwks.json"}
        )
        for iss in (attacker.url + "/", attacker.url, a.issuer.rstrip("/"), a.issuer.upper(), a.issuer + "x"):
            response = get(a.token(issuer=iss))
            assert_rejected(response, code="invalid_issuer")
        assert attacker.hits() == 0
    assert a.jwks_hits() == 0


@pytest.mark.django_db
def test_non_string_iss_is_rejected_without_a_fetch(two_issuers):
    a, _ = two_issuers
    for iss in ([a.issuer], {"x": 1}, 7):
        assert_rejected(get(signed_token(a.signing_key, a.claims(issuer=iss))), code="invalid_issuer")
    assert a.jwks_hits() == 0


# --- the header cache -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_checked_headers_are_kept_read_only_bounded_and_never_when_rejected(auth0_issuer):
    from auth0_drf.errors import UnsupportedAlgorithm
    from auth0_drf.tokens import get_verifier

    verifier = get_verifier()
    first, second = auth0_issuer.token(claims={"jti": "1"}), auth0_issuer.token(claims={"jti": "2"})
    assert verifier.verify(first).header is verifier.verify(second).header  # one header, checked once
    with pytest.raises(TypeError):
        verifier.verify(first).header["alg"] = "none"  # shared, so read-only
    bad = b64('{"alg": "HS256", "typ": "JWT"}')
    for _ in range(2):
        with pytest.raises(UnsupportedAlgorithm):
            verifier.checked_header(bad)
    assert verifier.cache_info().headers == 1  # the good tokens' header only
    for i in range(5):  # checked but not yet backed by a valid signature: not kept
        verifier.checked_header(b64(json.dumps({"alg": "RS256", "kid": f"k{i}"})))
    assert verifier.cache_info().headers == 1
    for i in range(verifier.max_headers + 10):
        verifier.verify(auth0_issuer.token(headers={"n": i}))
    assert verifier.cache_info().headers == verifier.max_headers


@pytest.mark.django_db(transaction=True)
def test_forged_headers_do_not_take_the_header_cache(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings()
    good = m2m_token(auth0_issuer)
    verifier = get_verifier()
    for n in range(100):  # distinct, well-formed headers, with signatures that do not verify
        forged = m2m_token(auth0_issuer, headers={"x-junk": n})
        head, payload, signature = forged.split(".")
        assert_rejected(get(f"{head}.{payload}.{signature[:-4]}AAAA"), code="invalid_signature")
    assert verifier.cache_info().headers == 0  # no forged header took a place
    assert get(good).status_code == 200
    assert verifier.cache_info().headers == 1


# --- headers that name keys are ignored -----------------------------------------------------------


@pytest.mark.django_db
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
