"""``manage.py auth0_inspect`` and ``auth0_drf.diagnosis``: every problem explained, all at once."""

from __future__ import annotations

import logging
import re
import time
from io import StringIO

import jwt
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from auth0_drf.diagnosis import describe_time, diagnose, duration
from auth0_drf.signing import LocalKey
from auth0_drf.tokens import get_verifier

from .hostile import as_segment

AUDIENCE = "https://api.example.test/"


def inspect(*args, stdin: str | None = None) -> tuple[str, str | None]:
    """Run the command; return its output and the CommandError text (None when it succeeded)."""
    out = StringIO()
    options = {"stdout": out}
    if stdin is not None:
        options["stdin"] = StringIO(stdin)
    try:
        call_command("auth0_inspect", *args, **options)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def problems(token: str) -> list[tuple[str, str]]:
    return [(p.code, p.message) for p in diagnose(token).problems]


def test_a_good_token_is_decoded_verified_and_accepted(auth0_issuer):
    token = auth0_issuer.token(sub="auth0|alice", scope="read:messages", lifetime=300)
    output, error = inspect(token)
    assert error is None
    assert "Token: a signed JWT (JWS)" in output
    assert f'  kid: "{auth0_issuer.signing_key.kid}"' in output
    assert '  sub: "auth0|alice"' in output
    assert '  scope: "read:messages"' in output
    assert "(expires in 5 min)" in output
    assert re.search(r"\(issued \d s ago\)", output)  # a second may tick while the test runs
    assert f'Signature: valid (key "{auth0_issuer.signing_key.kid}")' in output
    assert output.rstrip().endswith("Verdict: this API would accept the token.")


def test_times_are_local_dates_with_their_distance():
    now = 1_800_000_000
    assert describe_time("exp", now + 300, now) == "1800000300 = 2027-01-15 08:05:00 UTC (expires in 5 min)"
    assert describe_time("exp", now - 7200, now) == "1799992800 = 2027-01-15 06:00:00 UTC (expired 2 h ago)"
    assert describe_time("nbf", now + 60, now).endswith("(not valid for another 60 s)")
    assert describe_time("iat", "soon", now) == '"soon" (not a number)'
    assert [duration(s) for s in (5, 600, 7200, 86400 * 3)] == ["5 s", "10 min", "2 h", "3 days"]


def test_every_problem_is_reported_at_once(auth0_issuer):
    token = auth0_issuer.token(audience="https://other.example/", lifetime=-7200, drop=["sub"])
    output, error = inspect(token)
    assert error == "This API would reject the token: 3 problems (see above)."
    assert "Problems (3):" in output
    assert "  1. [token_expired] The token expired 2 h ago (" in output
    assert (
        f'  2. [invalid_audience] aud is "https://other.example/"; request the token with audience={AUDIENCE}.'
        in output
    )
    assert "  3. [missing_claim] The access token has no 'sub' claim." in output
    # The signature is still checked, and is fine.
    assert "Signature: valid" in output


def test_wrong_audience(auth0_issuer):
    token = auth0_issuer.token(audience=["https://other.example/", "https://tenant.eu.auth0.com/userinfo"])
    assert problems(token) == [
        (
            "invalid_audience",
            'aud is ["https://other.example/", "https://tenant.eu.auth0.com/userinfo"]; '
            f"request the token with audience={AUDIENCE}.",
        )
    ]


def test_userinfo_only_audience_means_no_audience_was_requested(auth0_issuer):
    token = auth0_issuer.token(audience="https://tenant.eu.auth0.com/userinfo")
    assert problems(token) == [
        (
            "invalid_audience",
            'aud is "https://tenant.eu.auth0.com/userinfo", which is only Auth0\'s /userinfo endpoint: no audience was '
            f"requested. Request the token with audience={AUDIENCE}.",
        )
    ]


def test_expired(auth0_issuer):
    token = auth0_issuer.token(lifetime=-7200)
    ((code, message),) = problems(token)
    assert code == "token_expired"
    assert message.startswith("The token expired 2 h ago (20") and message.endswith(" UTC): get a new one from Auth0.")


def test_not_yet_valid(auth0_issuer):
    token = auth0_issuer.token(claims={"nbf": int(time.time()) + 600})
    ((code, message),) = problems(token)
    assert code == "token_not_yet_valid"
    assert message.startswith(
        "The access token is not valid yet: check the clocks of the issuer and this server. (nbf is "
    )
    assert message.endswith("(not valid for another 10 min))")


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
    assert problems[0].message.endswith(
        "set AUTH0_DRF['AUDIENCE'] to your API identifier (system check auth0_drf.E002)."
    )


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_a_null_time_claim_is_reported_as_not_a_number(auth0_issuer, claim):
    token = auth0_issuer.token(claims={claim: None})
    assert problems(token) == [("invalid_claim", f"The access token's '{claim}' claim is not a number.")]


def test_the_command_shows_a_null_iat_as_not_a_number_and_refuses_the_token(auth0_issuer):
    output, error = inspect(auth0_issuer.token(claims={"iat": None}))
    assert "null (not a number)" in output
    assert "[invalid_claim] The access token's 'iat' claim is not a number." in output
    assert error is not None


def test_id_token(auth0_issuer):
    token = auth0_issuer.token(audience="client-id-123", claims={"nonce": "n", "email": "a@example.com"}, drop=["azp"])
    assert problems(token) == [
        (
            "id_token_not_accepted",
            'This is an ID token (aud is "client-id-123", the client id; it carries nonce, email). APIs accept access '
            f"tokens only: send the access token, requested with audience={AUDIENCE}.",
        )
    ]


def test_tenant_domain_token_for_an_api_configured_with_a_custom_domain(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(ISSUER="https://login.example.com/")
    token = auth0_issuer.token(issuer="https://example.eu.auth0.com/")
    assert problems(token) == [
        (
            "invalid_issuer",
            'iss is "https://example.eu.auth0.com/"; this API trusts https://login.example.com/. The token was '
            "requested through the tenant's *.auth0.com domain, but this API trusts a custom domain (iss is the "
            "domain the token was requested through): request it through the custom domain, or also trust "
            "https://example.eu.auth0.com/ in AUTH0_DRF['ISSUERS'].",
        )
    ]
    assert "Signature: not checked: the issuer is not trusted, so none of its keys are fetched" in inspect(token)[0]
    assert auth0_issuer.jwks_hits() == 0


def test_custom_domain_token_for_an_api_configured_with_the_tenant_domain(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(ISSUER="https://example.eu.auth0.com/")
    token = auth0_issuer.token(issuer="https://login.example.com/")
    ((code, message),) = problems(token)
    assert code == "invalid_issuer"
    assert message.endswith(
        "The token was requested through a custom domain, but this API trusts the tenant's *.auth0.com domain: set "
        "AUTH0_DRF['DOMAIN'] to login.example.com, or also trust https://login.example.com/ in AUTH0_DRF['ISSUERS']."
    )


def test_token_from_another_issuer(auth0_issuer):
    token = auth0_issuer.token(issuer="https://example.eu.auth0.com/")
    assert problems(token) == [
        (
            "invalid_issuer",
            f'iss is "https://example.eu.auth0.com/"; this API trusts {auth0_issuer.issuer}. The token comes from '
            "another tenant or identity provider.",
        )
    ]


def test_issuer_differing_by_the_trailing_slash(auth0_issuer):
    token = auth0_issuer.token(issuer=auth0_issuer.issuer.rstrip("/"))
    ((code, message),) = problems(token)
    assert code == "invalid_issuer"
    assert "They differ only by the trailing '/'" in message


def test_opaque_token(auth0_issuer):
    output, error = inspect("8f3kd9QmZx_opaque")
    assert "Token: not a JWT (opaque or malformed)" in output
    assert (
        "  1. [not_a_jwt] The access token is not a signed JWT. Auth0 issues an opaque or encrypted token when no "
        f"audience is requested: request the token with audience={AUDIENCE}." in output
    )
    assert error == "This API would reject the token: 1 problem (see above)."


def test_encrypted_token(auth0_issuer):
    token = as_segment({"alg": "dir", "enc": "A256GCM", "iss": "https://example.eu.auth0.com/"}) + "..iv.ciphertext.tag"
    output, _ = inspect(token)
    assert "Token: an encrypted token (JWE)" in output
    assert '  enc: "A256GCM"' in output
    assert (
        "[not_a_jwt] The access token is encrypted (a JWE with 5 parts), which is what Auth0 issues when no audience "
        f"is requested: request the token with audience={AUDIENCE}." in output
    )


def test_unknown_key(auth0_issuer):
    token = LocalKey.generate("RS256", kid="stranger").sign(auth0_issuer.claims())
    assert problems(token) == [
        (
            "unknown_key",
            f'kid is "stranger", which is not among the keys published at {auth0_issuer.jwks_uri} (kids: '
            f'"{auth0_issuer.signing_key.kid}"): the token was signed by another tenant or issuer, '
            "or by a key that has been revoked.",
        )
    ]
    assert "Signature: not checked: no usable key" in inspect(token)[0]


def test_bad_signature(auth0_issuer):
    impostor = LocalKey.generate("RS256", kid=auth0_issuer.signing_key.kid)
    token = impostor.sign(auth0_issuer.claims())
    assert problems(token) == [
        (
            "invalid_signature",
            f'The signature does not verify with the key "{impostor.kid}" published by "{auth0_issuer.issuer}": the '
            "token was altered, or signed by a different key.",
        )
    ]
    assert "Signature: INVALID" in inspect(token)[0]


def test_hmac_algorithm_and_the_other_problems_too(auth0_issuer):
    claims = auth0_issuer.claims(lifetime=-600)
    token = jwt.encode(
        claims, "a-shared-secret-of-enough-length-32b", algorithm="HS256", headers={"kid": "k", "crit": ["exp"]}
    )
    assert problems(token) == [
        (
            "unsupported_algorithm",
            "alg is \"HS256\"; this API accepts RS256 (AUTH0_DRF['ALGORITHMS']). HMAC tokens come from an Auth0 API "
            "whose signing algorithm is HS256: auth0_drf never accepts them; set the API's signing algorithm to RS256 "
            "in the Auth0 dashboard.",
        ),
        ("invalid_header", "The access token's header lists critical extensions this API does not support."),
        ("token_expired", problems(auth0_issuer.token(lifetime=-600))[0][1]),
    ]


def test_keys_unavailable(auth0_issuer):
    auth0_issuer.override = lambda path: (500, {}, b"")
    ((code, message),) = problems(auth0_issuer.token())
    assert code == "jwks_unavailable"
    assert message == (
        f"The signing keys of {auth0_issuer.issuer} could not be fetched ({auth0_issuer.jwks_uri} answered HTTP 500): "
        "run manage.py auth0_check."
    )


def test_offline_only_decodes(auth0_issuer):
    token = auth0_issuer.token(audience="https://other.example/")
    output, error = inspect("--offline", token)
    assert error is None
    assert '  aud: "https://other.example/"' in output
    assert "Not verified (--offline): decoded only." in output
    assert "Problems" not in output and "Signature" not in output
    assert auth0_issuer.jwks_hits() == 0


def test_offline_fails_on_what_cannot_be_decoded(auth0_issuer):
    output, error = inspect("--offline", "not-a-token")
    assert error == "The token could not be decoded (see above)."
    assert "[not_a_jwt]" in output


@pytest.mark.parametrize("args", [(), ("-",)])
def test_token_read_from_stdin(auth0_issuer, args):
    token = auth0_issuer.token(sub="auth0|from-stdin")
    output, error = inspect(*args, stdin=f"Bearer {token}\n")
    assert error is None
    assert '  sub: "auth0|from-stdin"' in output


def test_no_token(auth0_issuer):
    assert inspect(stdin="  \n")[1] == "No token given: pass it as an argument or on stdin."


def test_control_characters_in_claims_cannot_reach_the_terminal(auth0_issuer):
    token = auth0_issuer.token(claims={"https://app.example/name": "\x1b[2Jevil"})
    output, _ = inspect(token)
    assert "\x1b" not in output
    assert '"\\u001b[2Jevil"' in output


def test_the_token_is_never_logged_nor_printed(auth0_issuer, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = [
        auth0_issuer.token(),
        auth0_issuer.token(audience="x", lifetime=-5),
        LocalKey.generate().sign(auth0_issuer.claims()),
    ]
    for token in tokens:
        output, _ = inspect(token)
        _, signature = token.rsplit(".", 1)
        assert token not in output and signature not in output
        assert all(signature not in record.getMessage() for record in caplog.records)
    assert caplog.records  # the JWKS fetch was logged, without any token
