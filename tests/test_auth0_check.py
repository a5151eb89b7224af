"""``manage.py auth0_check`` against a real local issuer on loopback: up, down, and broken."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from auth0_drf.signing import LocalKey
from auth0_drf.testing import LocalIssuer, json_response


def run(**options) -> str:
    out = StringIO()
    call_command("auth0_check", stdout=out, **options)
    return out.getvalue()


def run_failing() -> tuple[str, str]:
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("auth0_check", stdout=out)
    return out.getvalue(), str(raised.value)


def test_reports_issuer_uri_reachability_and_each_key(auth0_issuer):
    ec_key = LocalKey.generate("ES256", kid="ec-key")
    auth0_issuer.keys.append(ec_key)
    output = run()
    rsa = auth0_issuer.signing_key
    assert f"Issuer: {auth0_issuer.issuer}" in output
    assert "Audience: https://api.example.test/" in output
    assert f"JWKS URI: {auth0_issuer.jwks_uri}" in output
    assert "Reachable: yes, in " in output and " ms (no Cache-Control max-age)" in output
    assert "Keys (2):" in output
    assert f"kid={rsa.kid}  kty=RSA  alg=RS256  size=2048 bits  use=sig  -> accepted (RS256)" in output
    # The settings accept RS256 only: tokens signed by the EC key would be refused.
    assert (
        "kid=ec-key  kty=EC  alg=ES256  curve=P-256  use=sig  "
        "-> NOT accepted: it verifies ES256, but ALGORITHMS is ['RS256']" in output
    )
    assert output.rstrip().endswith("OK: every issuer's keys are available and would verify tokens.")
    assert auth0_issuer.jwks_hits() == 1


def test_reports_cache_control_and_ignored_keys(auth0_issuer):
    auth0_issuer.jwks_headers = {"Cache-Control": "public, max-age=600"}
    small = LocalKey.generate("RS256", kid="small", bits=1024)
    auth0_issuer.keys.append(small)
    auth0_issuer.routes[auth0_issuer.JWKS_PATH] = lambda: json_response(
        {
            "keys": [
                *auth0_issuer.jwks()["keys"],
                {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
                {**auth0_issuer.signing_key.public_jwk(kid="enc"), "use": "enc"},
            ]
        },
        **auth0_issuer.jwks_headers,
    )
    output = run()
    assert "(Cache-Control max-age 600 s)" in output
    assert "kid=small  kty=RSA  alg=RS256  size=1024 bits  use=sig  -> ignored: an RSA key under 2048 bits" in output
    assert "kid=hmac  kty=oct  alg=-  use=-  -> ignored: a symmetric (HMAC) key, never accepted" in output
    assert "kid=enc  kty=RSA  alg=RS256  size=2048 bits  use=enc  -> ignored: not a signing key" in output


def test_issuer_down_fails_with_the_reason(settings):
    issuer = LocalIssuer().start()
    settings.AUTH0_DRF = issuer.settings()
    issuer.stop()  # nothing listens on the port any more
    output, error = run_failing()
    assert "Reachable: NO: " in output
    assert error == (
        f"auth0_check failed.\n{issuer.issuer}: the JWKS could not be fetched: "
        f"{issuer.jwks_uri} could not be reached (ConnectionError)"
    )


def test_garbage_instead_of_json_fails(auth0_issuer):
    auth0_issuer.override = lambda path: (200, {"Content-Type": "text/html"}, b"<html>login</html>")
    _, error = run_failing()
    assert error.endswith(f"the JWKS could not be fetched: {auth0_issuer.jwks_uri} did not answer with JSON")


def test_http_error_fails(auth0_issuer):
    auth0_issuer.override = lambda path: (503, {}, b"")
    _, error = run_failing()
    assert error.endswith(f"{auth0_issuer.jwks_uri} answered HTTP 503")


def test_document_without_keys_fails(auth0_issuer):
    auth0_issuer.override = lambda path: json_response({"issuer": auth0_issuer.issuer})
    _, error = run_failing()
    assert error.endswith("the JWKS document has no 'keys' list (is the JWKS URI right?)")


def test_no_key_matches_the_algorithms_fails(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(ALGORITHMS=["ES256"])
    output, error = run_failing()
    assert "-> NOT accepted: it verifies RS256, but ALGORITHMS is ['ES256']" in output
    assert error.endswith(
        "none of its 1 keys would verify a token with ALGORITHMS ['ES256']: set AUTH0_DRF['ALGORITHMS'] to "
        "your Auth0 API's signing algorithm (normally RS256)"
    )


def test_discovery_is_followed(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(JWKS_URI=None, DISCOVERY=True)
    output = run()
    assert f"JWKS URI: {auth0_issuer.jwks_uri}" in output
    assert auth0_issuer.hits("/.well-known/openid-configuration") == 1


def test_every_issuer_is_checked_and_one_failure_fails(auth0_issuer, settings):
    other = LocalIssuer().start()
    other.stop()
    settings.AUTH0_DRF = auth0_issuer.settings(ISSUERS=[{"ISSUER": other.issuer, "JWKS_URI": other.jwks_uri}])
    output, error = run_failing()
    assert f"Issuer: {auth0_issuer.issuer}" in output and f"Issuer: {other.issuer}" in output
    assert error.startswith(f"auth0_check failed.\n{other.issuer}: the JWKS could not be fetched")
    assert auth0_issuer.issuer not in error


def test_no_issuer_configured(settings):
    settings.AUTH0_DRF = {"AUDIENCE": "x"}
    _, error = run_failing()
    assert error == "No issuer is configured: set AUTH0_DRF['DOMAIN'] (or ISSUER, or ISSUERS)."


def test_development_issuer_keys_are_reported_without_fetching(settings, tmp_path):
    settings.DEBUG = True
    settings.AUTH0_DRF = {
        "ISSUER": "http://127.0.0.1:8000/",
        "AUDIENCE": "https://auth0-drf-demo/api",
        "DEV_ISSUER": True,
        "DEV_ISSUER_KEY_FILE": str(tmp_path / "dev.pem"),
    }
    output = run()
    assert "JWKS: the local development issuer's key, installed in-process (nothing fetched)" in output
    assert "kty=RSA  alg=RS256  size=2048 bits  use=sig  -> accepted (RS256)" in output
