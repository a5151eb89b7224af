"""System checks: one test per id, comparing whole messages (text, hint and id)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from auth0_drf.authentication import Auth0Authentication
from auth0_drf.checks import check_rest_framework, check_settings

#: A URLconf with no views (``ROOT_URLCONF=__name__``), so no view uses Auth0Authentication.
urlpatterns: list = []

GOOD = {"DOMAIN": "example.eu.auth0.com", "AUDIENCE": "https://api.example.com"}
AUTH = "auth0_drf.authentication.Auth0Authentication"
HANDLER = "auth0_drf.exceptions.exception_handler"
REST = {"DEFAULT_AUTHENTICATION_CLASSES": [AUTH], "EXCEPTION_HANDLER": HANDLER}


def settings_errors(**auth0_drf) -> list:
    with override_settings(AUTH0_DRF=auth0_drf):
        return check_settings()


def rest_warnings(**rest) -> list:
    with override_settings(REST_FRAMEWORK=rest, ROOT_URLCONF=__name__):
        return check_rest_framework()


def test_a_good_configuration_passes():
    assert settings_errors(**GOOD) == []
    assert rest_warnings(**REST) == []


def test_e001_no_issuer():
    assert settings_errors(AUDIENCE="https://api.example.com") == [
        Error(
            "auth0_drf has no issuer to trust.",
            hint="Set AUTH0_DRF['DOMAIN'] to your Auth0 domain (or AUTH0_DRF['ISSUER'], or AUTH0_DRF['ISSUERS']).",
            id="auth0_drf.E001",
        )
    ]


def test_e002_no_audience():
    assert settings_errors(DOMAIN="example.eu.auth0.com") == [
        Error(
            "No AUDIENCE is configured for issuer https://example.eu.auth0.com/.",
            hint="Set AUTH0_DRF['AUDIENCE'] to your API identifier (Auth0 dashboard > Applications > APIs).",
            id="auth0_drf.E002",
        )
    ]


def test_e002_names_the_issuers_entry_that_lacks_an_audience():
    errors = settings_errors(**GOOD, ISSUERS=[{"ISSUER": "https://login.example.com/", "AUDIENCE": []}])
    assert errors == [
        Error(
            "No AUDIENCE is configured for issuer https://login.example.com/.",
            hint=(
                "Set AUTH0_DRF['ISSUERS'][0]['AUDIENCE'] to your API identifier "
                "(Auth0 dashboard > Applications > APIs)."
            ),
            id="auth0_drf.E002",
        )
    ]


E003 = Error(
    "AUTH0_DRF['DOMAIN'] must be a bare host name such as 'example.eu.auth0.com'.",
    hint="Set AUTH0_DRF['DOMAIN'] to the host name alone: remove the scheme (https://), any path or "
    "trailing slash, and any port.",
    id="auth0_drf.E003",
)


@pytest.mark.parametrize(
    "domain",
    ["https://example.eu.auth0.com", "example.eu.auth0.com/", "example.eu.auth0.com/api", "example.eu.auth0.com:443"],
)
def test_e003_domain_with_a_scheme_path_or_port(domain):
    assert settings_errors(DOMAIN=domain, AUDIENCE="https://api.example.com") == [E003]


def test_e004_auth0_issuer_without_trailing_slash():
    assert settings_errors(ISSUER="https://example.eu.auth0.com", AUDIENCE="https://api.example.com") == [
        Error(
            "The issuer https://example.eu.auth0.com lacks the trailing '/' that Auth0 puts in 'iss'.",
            hint=(
                "Set AUTH0_DRF['ISSUER'] to 'https://example.eu.auth0.com/' "
                "(or leave it unset to derive it from DOMAIN)."
            ),
            id="auth0_drf.E004",
        )
    ]


def test_e005_plain_http_issuer_and_jwks_uri():
    errors = settings_errors(
        ISSUER="http://login.example.com/",
        JWKS_URI="http://keys.example.com/jwks.json",
        AUDIENCE="https://api.example.com",
    )
    hint = (
        "to an https:// URL: keys must be fetched over HTTPS "
        "(plain http:// is allowed only for loopback hosts, in local tests)."
    )
    assert errors == [
        Error(
            "AUTH0_DRF['ISSUER'] 'http://login.example.com/' is not an https:// URL.",
            hint=f"Set AUTH0_DRF['ISSUER'] {hint}",
            id="auth0_drf.E005",
        ),
        Error(
            "AUTH0_DRF['JWKS_URI'] 'http://keys.example.com/jwks.json' is not an https:// URL.",
            hint=f"Set AUTH0_DRF['JWKS_URI'] {hint}",
            id="auth0_drf.E005",
        ),
    ]


def test_e005_allows_loopback_http():
    assert settings_errors(ISSUER="http://127.0.0.1:8000/", AUDIENCE="https://api.example.com") == []


def test_e005_reports_a_jwks_uri_that_is_not_a_url_instead_of_crashing():
    errors = settings_errors(**GOOD, JWKS_URI="https://[::1/jwks.json")
    assert [(error.msg, error.id) for error in errors] == [
        ("AUTH0_DRF['JWKS_URI'] 'https://[::1/jwks.json' is not an https:// URL.", "auth0_drf.E005")
    ]


E006_HINT = (
    "Set AUTH0_DRF['ALGORITHMS'] to asymmetric algorithms only (RS256, the Auth0 default; PS256; "
    "ES256; EdDSA). 'none' and HMAC (HS*) would let anyone holding the public key forge tokens."
)


def test_e006_none_and_hmac_algorithms():
    assert settings_errors(**GOOD, ALGORITHMS=["RS256", "none", "HS256"]) == [
        Error(
            "AUTH0_DRF['ALGORITHMS'] contains none, HS256, which auth0_drf never accepts.",
            hint=E006_HINT,
            id="auth0_drf.E006",
        )
    ]


def test_e006_empty_algorithms():
    assert settings_errors(**GOOD, ALGORITHMS=[]) == [
        Error(
            "AUTH0_DRF['ALGORITHMS'] must be a non-empty list, e.g. ['RS256'].",
            hint="Set AUTH0_DRF['ALGORITHMS'] to the algorithm of your Auth0 API, normally ['RS256'].",
            id="auth0_drf.E006",
        )
    ]


def test_e007_algorithms_given_as_one_string():
    # A wrong type is E007, like every other setting's; E006 is about the algorithms listed.
    assert settings_errors(**GOOD, ALGORITHMS="RS256") == [
        Error(
            "AUTH0_DRF['ALGORITHMS'] must be a list of algorithm names.",
            hint="For example AUTH0_DRF['ALGORITHMS'] = ['RS256'].",
            id="auth0_drf.E007",
        )
    ]


def test_e007_values_of_the_wrong_type_or_outside_their_choices():
    # Reported in the order of the settings table (auth0_drf.conf.SETTINGS).
    assert settings_errors(**GOOD, DPOP="sometimes", LEEWAY="5", SCOPE_CLAIMS="scope") == [
        Error(
            "AUTH0_DRF['LEEWAY'] must be a number of at least 0.",
            hint="Set AUTH0_DRF['LEEWAY'] to a number, or remove it for the default (5).",
            id="auth0_drf.E007",
        ),
        Error(
            "AUTH0_DRF['SCOPE_CLAIMS'] must be a list drawn from 'scope', 'permissions' and 'scp'.",
            hint="Set AUTH0_DRF['SCOPE_CLAIMS'] to a list such as ['scope', 'permissions'] (the default).",
            id="auth0_drf.E007",
        ),
        Error(
            "AUTH0_DRF['DPOP'] must be one of off, allowed, required.",
            hint="Set AUTH0_DRF['DPOP'] to one of 'off', 'allowed', 'required', or remove it for the default.",
            id="auth0_drf.E007",
        ),
    ]


def test_e007_token_profile_must_name_a_registered_profile():
    assert settings_errors(**GOOD, TOKEN_PROFILE="rfc9086") == [
        Error(
            "AUTH0_DRF['TOKEN_PROFILE'] must be one of any, rfc9068.",
            hint="Set AUTH0_DRF['TOKEN_PROFILE'] to one of 'any', 'rfc9068', or remove it for the default.",
            id="auth0_drf.E007",
        )
    ]


def test_e007_settings_not_a_dict():
    with override_settings(AUTH0_DRF=["DOMAIN"]):
        assert check_settings() == [
            Error(
                "AUTH0_DRF must be a dict.",
                hint="Set AUTH0_DRF = {'DOMAIN': ..., 'AUDIENCE': ...}.",
                id="auth0_drf.E007",
            )
        ]


def test_e008_unknown_setting():
    assert settings_errors(**GOOD, AUDIENCES=["x"]) == [
        Error(
            "AUTH0_DRF['AUDIENCES'] is not a setting auth0_drf knows.",
            hint="Remove AUTH0_DRF['AUDIENCES'] or correct its spelling (see the settings page, docs/settings.md).",
            id="auth0_drf.E008",
        )
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "overrides",
    [
        {"JWKS_SHARED_CACHE": "no-such-cache"},
        {"MAX_TOKEN_AGE": "3600"},
        {"MAX_TOKEN_AGE": -1},
        {"USER_BACKEND": "no.such.Backend"},
        {"REALM": 1},
        {"CREATE_USERS": "false"},
    ],
)
def test_settings_that_break_every_request_fail_the_checks(auth0_issuer, overrides):
    with override_settings(AUTH0_DRF=auth0_issuer.settings(**overrides)):
        errors = check_settings()
    assert any(name in error.msg for error in errors for name in overrides), errors


def check_ids(settings_dict: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.id, e.msg) for e in settings_errors(**settings_dict)]


@pytest.mark.django_db
def test_issuers_entries_are_checked():
    base = {"AUDIENCE": "https://api.example.test/"}
    assert check_ids({**base, "ISSUERS": [{"DOMAIN": "login.example.com"}]}) == []
    assert check_ids({**base, "ISSUERS": [{"AUDIENCE": "x"}, "https://x/"]}) == [
        ("auth0_drf.E014", "AUTH0_DRF['ISSUERS'][0] must be a dict with an 'ISSUER' or a 'DOMAIN'."),
        ("auth0_drf.E014", "AUTH0_DRF['ISSUERS'][1] must be a dict with an 'ISSUER' or a 'DOMAIN'."),
    ]
    assert check_ids({**base, "ISSUERS": [{"DOMAIN": "a.example", "AUDIENCES": ["x"]}]}) == [
        ("auth0_drf.E014", "AUTH0_DRF['ISSUERS'][0] has keys auth0_drf does not know: AUDIENCES."),
    ]
    assert check_ids({**base, "ISSUERS": [{"ISSUER": "http://login.example.com/"}]}) == [
        ("auth0_drf.E005", "AUTH0_DRF['ISSUERS'][0]['ISSUER'] 'http://login.example.com/' is not an https:// URL."),
        (
            "auth0_drf.E005",
            "AUTH0_DRF['ISSUERS'][0]['JWKS_URI'] 'http://login.example.com/.well-known/jwks.json' "
            "is not an https:// URL.",
        ),
    ]


def test_e010_dev_issuer_without_debug():
    with override_settings(DEBUG=False):
        errors = settings_errors(**GOOD, DEV_ISSUER=True)
    assert errors == [
        Error(
            "AUTH0_DRF['DEV_ISSUER'] is enabled while DEBUG is off.",
            hint="The development issuer signs tokens with a key on disk and must never run in production: "
            "unset AUTH0_DRF['DEV_ISSUER'] and configure your Auth0 DOMAIN and AUDIENCE.",
            id="auth0_drf.E010",
        )
    ]
    with override_settings(DEBUG=True):
        assert settings_errors(**GOOD, DEV_ISSUER=True) == []


def test_w001_authentication_class_used_nowhere():
    assert rest_warnings(
        DEFAULT_AUTHENTICATION_CLASSES=["rest_framework.authentication.SessionAuthentication"],
        EXCEPTION_HANDLER=HANDLER,
    ) == [
        Warning(
            f"{AUTH} is not in REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'] and no view uses it.",
            hint="Add it (first) to DEFAULT_AUTHENTICATION_CLASSES, or to a view's authentication_classes.",
            id="auth0_drf.W001",
        )
    ]


def test_w001_not_raised_for_a_subclass_in_the_defaults():
    assert (
        rest_warnings(DEFAULT_AUTHENTICATION_CLASSES=["tests.test_checks.MyAuthentication"], EXCEPTION_HANDLER=HANDLER)
        == []
    )


def test_w001_not_raised_when_a_view_uses_it():
    # The demo's URLconf: its views take Auth0Authentication from the (real) defaults when they
    # are imported, so import them before the defaults are overridden.
    import demo_project.urls  # noqa: F401

    with override_settings(REST_FRAMEWORK={"EXCEPTION_HANDLER": HANDLER}):
        assert check_rest_framework() == []


def test_w002_not_first():
    classes = ["rest_framework.authentication.SessionAuthentication", AUTH]
    assert rest_warnings(DEFAULT_AUTHENTICATION_CLASSES=classes, EXCEPTION_HANDLER=HANDLER) == [
        Warning(
            f"{AUTH} is not the first of REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'].",
            hint="DRF takes the WWW-Authenticate challenge of a 401 from the first class only; list ours first.",
            id="auth0_drf.W002",
        )
    ]


def test_w003_default_exception_handler():
    assert rest_warnings(DEFAULT_AUTHENTICATION_CLASSES=[AUTH]) == [
        Warning(
            "REST_FRAMEWORK['EXCEPTION_HANDLER'] is DRF's default, "
            "so scope failures get no insufficient_scope challenge.",
            hint=f"Set it to '{HANDLER}', or call auth0_drf.exceptions.add_scope_challenge() from your own handler.",
            id="auth0_drf.W003",
        )
    ]


def test_manage_py_check_fails_on_an_error():
    no_issuer = override_settings(AUTH0_DRF={"AUDIENCE": "https://api.example.com"})
    with no_issuer, pytest.raises(SystemCheckError) as raised:
        call_command("check")
    assert "auth0_drf.E001" in str(raised.value)
    assert "Set AUTH0_DRF['DOMAIN']" in str(raised.value)


def test_manage_py_check_passes_with_the_test_settings():
    call_command("check")


class MyAuthentication(Auth0Authentication):
    """A project's subclass, listed by dotted path in DEFAULT_AUTHENTICATION_CLASSES."""
