"""The settings object: defaults, overrides, the issuers derived from it, and the table every check follows."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.test import override_settings

from auth0_drf.checks import check_settings
from auth0_drf.conf import DEFAULTS, SETTINGS, Auth0Settings, IssuerConfig, auth0_settings, derive_issuer

from .helpers import issuer_entry

GOOD = {"DOMAIN": "example.eu.auth0.com", "AUDIENCE": "https://api.example.com"}


def plausible_mistake(default: Any) -> Any:
    """Return a value of the wrong type that someone might write for a setting with this default."""
    if isinstance(default, bool):
        return "False"  # a string, as read from an environment variable
    if isinstance(default, (int, float)):
        return str(default)
    if isinstance(default, str):
        return 1
    if isinstance(default, list):
        return ",".join(default) or "x"  # one string where a list is wanted
    return True  # a flag under a setting that takes a string or a number


# --- the table ----------------------------------------------------------------------------------


def test_defaults_is_the_table_s_defaults_in_the_table_s_order():
    assert list(DEFAULTS) == list(SETTINGS)
    assert {name: setting.default for name, setting in SETTINGS.items()} == DEFAULTS


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_default_is_a_value_its_own_check_accepts(name):
    setting = SETTINGS[name]
    assert setting.kind.accepts(setting.default)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_setting_has_a_one_line_description(name):
    description = SETTINGS[name].description
    assert description.endswith(".")
    assert "\n" not in description


def test_a_setting_on_the_class_is_its_table_entry():
    assert Auth0Settings.LEEWAY is SETTINGS["LEEWAY"]
    assert Auth0Settings.LEEWAY.default == 5


# --- reading settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SETTINGS))
def test_an_unset_setting_reads_as_its_default(name):
    with override_settings(AUTH0_DRF=GOOD if name not in GOOD else {}):
        assert getattr(auth0_settings, name) == SETTINGS[name].default


def test_override_settings_changes_a_value_and_restores_it():
    with override_settings(AUTH0_DRF={**GOOD, "LEEWAY": 30}):
        assert auth0_settings.LEEWAY == 30
        with override_settings(AUTH0_DRF={**GOOD, "LEEWAY": 0}):
            assert auth0_settings.LEEWAY == 0
        assert auth0_settings.LEEWAY == 30
    with override_settings(AUTH0_DRF=GOOD):
        assert auth0_settings.LEEWAY == 5


def test_a_setting_read_once_is_a_plain_attribute_until_the_settings_change():
    # Settings are read on every request: after the first read the value sits on the instance,
    # which hides the class's descriptor, so a read is an ordinary attribute lookup.
    with override_settings(AUTH0_DRF={**GOOD, "REALM": "first"}):
        assert auth0_settings.REALM == "first"
        assert vars(auth0_settings)["REALM"] == "first"
        with override_settings(AUTH0_DRF={**GOOD, "REALM": "second"}):
            assert "REALM" not in vars(auth0_settings)
            assert auth0_settings.REALM == "second"


def test_reading_an_unknown_setting_raises_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="Invalid AUTH0_DRF setting: 'LEEWAYS'"):
        auth0_settings.LEEWAYS  # noqa: B018


def test_a_separate_settings_object_can_have_its_own_defaults():
    with override_settings(AUTH0_DRF=GOOD):
        assert Auth0Settings({**DEFAULTS, "LEEWAY": 60}).LEEWAY == 60


# --- issuers ------------------------------------------------------------------------------------


def issuers(**auth0_drf: Any) -> tuple[IssuerConfig, ...]:
    with override_settings(AUTH0_DRF=auth0_drf):
        return auth0_settings.issuers


def test_derive_issuer_prefers_issuer_then_domain():
    assert derive_issuer("https://login.example.com/", "example.eu.auth0.com") == "https://login.example.com/"
    assert derive_issuer(None, "example.eu.auth0.com") == "https://example.eu.auth0.com/"
    assert derive_issuer(None, None) == ""
    assert derive_issuer("", "") == ""


def test_domain_gives_one_issuer_with_the_conventional_jwks_uri():
    assert issuers(**GOOD) == (
        IssuerConfig(
            "https://example.eu.auth0.com/",
            ("https://api.example.com",),
            "https://example.eu.auth0.com/.well-known/jwks.json",
        ),
    )


def test_issuer_wins_over_domain_and_jwks_uri_over_the_convention():
    assert issuers(
        DOMAIN="example.eu.auth0.com",
        ISSUER="https://login.example.com/",
        JWKS_URI="https://keys.example.com/jwks.json",
        AUDIENCE=["a", "b"],
    ) == (IssuerConfig("https://login.example.com/", ("a", "b"), "https://keys.example.com/jwks.json"),)


def test_discovery_leaves_the_jwks_uri_to_be_discovered():
    assert issuers(**GOOD, DISCOVERY=True) == (
        IssuerConfig("https://example.eu.auth0.com/", ("https://api.example.com",), None, discovery=True),
    )


def test_issuers_entries_come_after_the_top_level_issuer_and_inherit_its_audience():
    entries = [{"DOMAIN": "login.example.com"}, {"ISSUER": "https://other.example/", "AUDIENCE": "x"}]
    assert issuers(**GOOD, ISSUERS=entries) == (
        IssuerConfig(
            "https://example.eu.auth0.com/",
            ("https://api.example.com",),
            "https://example.eu.auth0.com/.well-known/jwks.json",
        ),
        IssuerConfig(
            "https://login.example.com/",
            ("https://api.example.com",),
            "https://login.example.com/.well-known/jwks.json",
        ),
        IssuerConfig("https://other.example/", ("x",), "https://other.example/.well-known/jwks.json"),
    )


def test_an_issuers_entry_for_the_top_level_issuer_replaces_it():
    entry = {"DOMAIN": "example.eu.auth0.com", "AUDIENCE": "only-this"}
    assert issuers(**GOOD, ISSUERS=[entry]) == (
        IssuerConfig(
            "https://example.eu.auth0.com/", ("only-this",), "https://example.eu.auth0.com/.well-known/jwks.json"
        ),
    )


def test_no_domain_issuer_or_issuers_means_no_issuer():
    assert issuers(AUDIENCE="https://api.example.com") == ()


@pytest.mark.django_db
def test_issuers_from_domain_and_inherited_audience(settings):
    settings.AUTH0_DRF = {
        "DOMAIN": "tenant.eu.auth0.com",
        "AUDIENCE": "https://api.example.test/",
        "ISSUERS": [{"DOMAIN": "login.example.com"}, {"ISSUER": "https://other.example/", "AUDIENCE": ["x", "y"]}],
    }
    assert auth0_settings.issuers == (
        IssuerConfig(
            "https://tenant.eu.auth0.com/",
            ("https://api.example.test/",),
            "https://tenant.eu.auth0.com/.well-known/jwks.json",
        ),
        IssuerConfig(
            "https://login.example.com/",
            ("https://api.example.test/",),
            "https://login.example.com/.well-known/jwks.json",
        ),
        IssuerConfig("https://other.example/", ("x", "y"), "https://other.example/.well-known/jwks.json"),
    )


@pytest.mark.django_db
def test_top_level_issuer_listed_again_in_issuers_is_not_duplicated(settings, issuer_a):
    settings.AUTH0_DRF = {**issuer_a.settings(), "ISSUERS": [issuer_entry(issuer_a, AUDIENCE="https://only-this/")]}
    assert [c.audiences for c in auth0_settings.issuers] == [("https://only-this/",)]


# --- every setting is checked -------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["plausible", "object"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_setting_has_a_check_that_refuses_a_wrong_type(name, wrong):
    value = plausible_mistake(SETTINGS[name].default) if wrong == "plausible" else object()
    with override_settings(AUTH0_DRF={**GOOD, name: value}):
        errors = check_settings()
    # One error, E007, naming the setting; the checks that would have read the value stand aside
    # rather than crash on it.
    assert [error.id for error in errors] == ["auth0_drf.E007"]
    assert errors[0].msg.startswith(f"AUTH0_DRF['{name}'] must be ")
    assert f"AUTH0_DRF['{name}']" in errors[0].hint


def test_a_nan_number_is_refused():
    # Every comparison with NaN is false: a NaN LEEWAY would let expired tokens through.
    with override_settings(AUTH0_DRF={**GOOD, "LEEWAY": math.nan}):
        assert [(error.id, error.msg) for error in check_settings()] == [
            ("auth0_drf.E007", "AUTH0_DRF['LEEWAY'] must be a number of at least 0.")
        ]


def test_a_count_must_be_a_whole_number():
    # Pruning slices the recorded rows by RECORD_MAX_ROWS: 1000.0 would make every prune fail.
    with override_settings(AUTH0_DRF={**GOOD, "RECORD_MAX_ROWS": 1000.0}):
        errors = check_settings()
    assert [(error.id, error.msg, error.hint) for error in errors] == [
        (
            "auth0_drf.E007",
            "AUTH0_DRF['RECORD_MAX_ROWS'] must be a whole number of at least 0.",
            "Set AUTH0_DRF['RECORD_MAX_ROWS'] to a whole number, or remove it for the default (1000).",
        )
    ]


def test_a_tuple_is_accepted_where_a_list_is_expected():
    with override_settings(AUTH0_DRF={**GOOD, "ALGORITHMS": ("RS256",), "SCOPE_CLAIMS": ("scp",)}):
        assert check_settings() == []
