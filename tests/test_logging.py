"""The ``auth0_drf`` logger: one INFO line per rejection (verified values only), JWKS fetches and failures."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth import get_user_model

from auth0_drf.signing import LocalKey

from .helpers import rejection_records
from .hostile import as_segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG, logger="auth0_drf")
    return caplog


def lines(caplog, level: int | None = None) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "auth0_drf" and (level is None or r.levelno == level)]


def test_a_verified_but_expired_token_logs_code_kid_iss_and_sub(auth0_issuer, client_for, logs):
    token = auth0_issuer.token(sub="auth0|late", lifetime=-60)
    assert client_for(token).get("/api/private").status_code == 401
    (record,) = rejection_records(logs)
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        f"auth0_drf: rejected token: code=token_expired kid={auth0_issuer.signing_key.kid} "
        f"iss={auth0_issuer.issuer} sub=auth0|late"
    )
    assert (record.auth0_code, record.auth0_sub) == ("token_expired", "auth0|late")


def test_unverified_claims_are_never_logged(auth0_issuer, client_for, logs):
    forged = LocalKey.generate(kid=auth0_issuer.signing_key.kid).sign(auth0_issuer.claims(sub="auth0|forged-sub"))
    untrusted = auth0_issuer.token(issuer="https://evil.example/", sub="auth0|evil-sub")
    for token in (forged, untrusted, "garbage.token.here"):
        assert client_for(token).get("/api/private").status_code == 401
    assert [r.getMessage() for r in rejection_records(logs)] == [
        "auth0_drf: rejected token: code=invalid_signature kid=- iss=- sub=-",
        "auth0_drf: rejected token: code=invalid_issuer kid=- iss=- sub=-",
        "auth0_drf: rejected token: code=not_a_jwt kid=- iss=- sub=-",
    ]
    assert "forged-sub" not in logs.text and "evil" not in logs.text
    assert all(token.split(".")[-1] not in logs.text for token in (forged, untrusted))


def test_control_characters_in_a_verified_sub_cannot_forge_log_lines(auth0_issuer, client_for, logs):
    token = auth0_issuer.token(sub="auth0|x\nauth0_drf: fake line")
    assert client_for(token).get("/api/private").status_code == 401
    (record,) = rejection_records(logs)
    assert "\n" not in record.getMessage()
    assert record.getMessage().startswith("auth0_drf: rejected token: code=invalid_claim kid=")


def test_blocked_user_is_logged_with_its_sub(auth0_issuer, client_for, logs):
    client = client_for(auth0_issuer.token(sub="auth0|blocked"))
    assert client.get("/api/private").status_code == 200
    get_user_model().objects.update(is_active=False)
    from auth0_drf.testing import reset_caches

    reset_caches()  # forget the cached user
    assert client.get("/api/private").status_code == 401
    (record,) = rejection_records(logs)
    assert record.getMessage().endswith(f"iss={auth0_issuer.issuer} sub=auth0|blocked")
    assert record.auth0_code == "user_inactive"


def test_missing_scope_is_logged_once_with_what_is_missing(auth0_issuer, client_for, logs):
    response = client_for(auth0_issuer.token(sub="auth0|reader", scope="openid")).get("/api/private-scoped")
    assert response.status_code == 403
    (record,) = rejection_records(logs)
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        f"auth0_drf: rejected token: code=insufficient_scope kid={auth0_issuer.signing_key.kid} "
        f"iss={auth0_issuer.issuer} sub=auth0|reader missing=read:messages"
    )


def test_an_accepted_token_logs_only_the_jwks_fetch(auth0_issuer, client_for, logs):
    assert client_for(auth0_issuer.token()).get("/api/private").status_code == 200
    (line,) = lines(logs)
    assert line.startswith(f"auth0_drf: fetched JWKS from {auth0_issuer.jwks_uri} in ") and line.endswith(" ms")
    assert logs.records[0].levelno == logging.INFO


def test_jwks_failure_is_a_warning(auth0_issuer, client_for, logs):
    auth0_issuer.override = lambda path: (500, {}, b"")
    response = client_for(auth0_issuer.token()).get("/api/private")
    assert response.status_code == 503
    assert lines(logs, logging.WARNING) == [
        f"auth0_drf: JWKS fetch failed: {auth0_issuer.jwks_uri} answered HTTP 500",
        "auth0_drf: rejected request: code=jwks_unavailable",
    ]
    assert lines(logs, logging.INFO) == []


def test_no_bearer_token_is_not_logged(auth0_issuer, get_with, logs):
    assert get_with("/api/private").status_code == 401
    assert lines(logs) == []


def test_header_errors_log_the_code_only(auth0_issuer, get_with, logs):
    header = as_segment({"alg": "none"})
    assert get_with("/api/private", f"Bearer {header}.e30.").status_code == 401
    assert lines(logs) == ["auth0_drf: rejected token: code=unsupported_algorithm kid=- iss=- sub=-"]
