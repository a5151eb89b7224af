"""Claim rules as DRF permissions and as the global CLAIM_RULES setting, through real requests."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIClient

from auth0_drf.checks import check_settings
from auth0_drf.permissions import HasScope
from auth0_drf.rules import ClaimEquals, ClaimIncludes, ClaimPredicate, MaxTokenAge, load_rule

from .helpers import bearer_client, get, get_as, m2m_token, rejection_records
from .hostile import assert_rejected

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_rules")]

TENANT = "https://x.example/tenant"
ROLES = "https://x.example/roles"


def view_with(*permissions: Any) -> Any:
    @api_view(["GET"])
    @permission_classes(list(permissions))
    def view(request: Any) -> Response:
        return Response({"sub": request.auth.sub})

    return view


def is_paying(claims: Any) -> bool:
    return claims.get("https://x.example/plan") == "paid"


def explodes(claims: Any) -> bool:
    raise KeyError(claims["https://x.example/secret"])


urlpatterns = [
    path("tenant", view_with(ClaimEquals(TENANT, "acme"))),
    path("flag", view_with(ClaimEquals("https://x.example/flag", 1))),
    path("admin", view_with(ClaimIncludes(ROLES, "admin"))),
    path("admin-and-ops", view_with(ClaimIncludes(ROLES, "admin", "ops"))),
    path("admin-or-ops", view_with(ClaimIncludes(ROLES, "admin", "ops", any_of=True))),
    path("paying", view_with(ClaimPredicate(is_paying, "a paying customer"))),
    path("explodes", view_with(ClaimPredicate(explodes))),
    path("fresh", view_with(MaxTokenAge(60))),
    path("not-fresh", view_with(~MaxTokenAge(60))),
    path("fresh-or-admin", view_with(MaxTokenAge(60) | ClaimIncludes(ROLES, "admin"))),
    path("tenant-and-scope", view_with(ClaimEquals(TENANT, "acme") & HasScope("read:messages"))),
    path("tenant-or-admin", view_with(ClaimEquals(TENANT, "acme") | ClaimIncludes(ROLES, "admin"))),
    path("not-tenant", view_with(IsAuthenticated & ~ClaimEquals(TENANT, "acme"))),
    path("plain", view_with(IsAuthenticated)),
]


def assert_rule_failed(response: Any, *rules: str) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "claim_rule_failed"
    assert body["rules"] == list(rules)
    assert response["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token does not satisfy a rule of this API"'
    )


# --- as permission classes ----------------------------------------------------------------


def test_claim_equals(auth0_issuer):
    assert get_as(auth0_issuer, "/tenant", claims={TENANT: "acme"}).status_code == 200
    assert_rule_failed(get_as(auth0_issuer, "/tenant", claims={TENANT: "other"}), f"ClaimEquals({TENANT!r}, 'acme')")
    assert_rule_failed(get_as(auth0_issuer, "/tenant"), f"ClaimEquals({TENANT!r}, 'acme')")
    assert_rule_failed(get_as(auth0_issuer, "/tenant", claims={TENANT: ["acme"]}), f"ClaimEquals({TENANT!r}, 'acme')")


@pytest.mark.parametrize(
    ("value", "ok"), [(1, True), (1.0, True), (True, False), ("1", False), ([1], False), (None, False)]
)
def test_claim_equals_compares_types(auth0_issuer, value, ok):
    response = get_as(auth0_issuer, "/flag", claims={"https://x.example/flag": value})
    assert (response.status_code == 200) is ok


@pytest.mark.parametrize(
    ("url", "roles", "ok"),
    [
        ("admin", ["admin", "ops"], True),
        ("admin", "ops admin", True),  # a space-delimited string
        ("admin", ["administrator"], False),
        ("admin", "administrator", False),
        ("admin", [], False),
        ("admin", None, False),
        ("admin", {"admin": True}, False),
        ("admin-and-ops", ["admin", "ops"], True),
        ("admin-and-ops", ["admin"], False),
        ("admin-or-ops", ["ops"], True),
        ("admin-or-ops", ["dev"], False),
    ],
)
def test_claim_includes(auth0_issuer, url, roles, ok):
    claims = {ROLES: roles} if roles is not None else {}
    response = get_as(auth0_issuer, "/" + url, claims=claims)
    assert response.status_code == (200 if ok else 403)
    if not ok:
        assert response.json()["rules"][0].startswith(f"ClaimIncludes({ROLES!r}, 'admin'")


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("demo_project.urls")
@pytest.mark.parametrize("separator", ["\t", "\n", "\u00a0", "\u3000"])
def test_claim_includes_does_not_split_on_other_whitespace(auth0_issuer, settings, separator):
    rule = ClaimIncludes("https://example.test/roles", "admin")
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=[rule])
    token = m2m_token(auth0_issuer, claims={"https://example.test/roles": f"user{separator}admin"})
    assert_rejected(get(token), status=403, code="claim_rule_failed")
    assert get(m2m_token(auth0_issuer, claims={"https://example.test/roles": "user admin"})).status_code == 200


def test_claim_predicate(auth0_issuer):
    assert get_as(auth0_issuer, "/paying", claims={"https://x.example/plan": "paid"}).status_code == 200
    assert_rule_failed(get_as(auth0_issuer, "/paying", claims={"https://x.example/plan": "free"}), "a paying customer")


def test_a_predicate_that_raises_denies_without_leaking(auth0_issuer, caplog):
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        response = get_as(auth0_issuer, "/explodes", claims={"https://x.example/secret": "SECRET-VALUE"})
    assert_rule_failed(response, "explodes")
    assert "KeyError" in caplog.text
    assert "SECRET-VALUE" not in caplog.text + response.content.decode()


def test_failures_never_echo_claim_values(auth0_issuer):
    response = get_as(auth0_issuer, "/tenant", claims={TENANT: 'EVIL"\r\nX-Injected: 1'})
    assert response.status_code == 403
    everything = response.content.decode() + str(response.headers)
    assert "EVIL" not in everything and "X-Injected" not in everything


def test_max_token_age(auth0_issuer):
    assert get_as(auth0_issuer, "/fresh", now=time.time() - 30).status_code == 200
    response = get_as(auth0_issuer, "/fresh", now=time.time() - 3600, lifetime=7200)
    assert response.status_code == 401
    assert response.json()["code"] == "token_too_old"
    assert response["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token", error_description="')
    response = get_as(auth0_issuer, "/fresh", drop=["iat"])
    assert (response.status_code, response.json()["code"]) == (401, "missing_claim")


def test_a_token_validity_rule_cannot_be_negated_or_ored_away(auth0_issuer):
    old = {"now": time.time() - 3600, "lifetime": 7200}
    assert get_as(auth0_issuer, "/not-fresh", **old).status_code == 401
    assert get_as(auth0_issuer, "/fresh-or-admin", claims={ROLES: ["admin"]}, **old).status_code == 401
    assert get_as(auth0_issuer, "/fresh-or-admin").status_code == 200


def test_rules_compose_with_scopes(auth0_issuer):
    assert get_as(auth0_issuer, "/tenant-and-scope", claims={TENANT: "acme"}, scope="read:messages").status_code == 200
    missing_scope = get_as(auth0_issuer, "/tenant-and-scope", claims={TENANT: "acme"})
    assert (missing_scope.status_code, missing_scope.json()["code"]) == (403, "insufficient_scope")
    # Composed with &, DRF drops the rule's own message: the exception handler names the rule.
    assert_rule_failed(
        get_as(auth0_issuer, "/tenant-and-scope", scope="read:messages"), f"ClaimEquals({TENANT!r}, 'acme')"
    )


def test_rules_compose_with_or_and_not(auth0_issuer):
    assert get_as(auth0_issuer, "/tenant-or-admin", claims={TENANT: "acme"}).status_code == 200
    assert get_as(auth0_issuer, "/tenant-or-admin", claims={ROLES: "admin"}).status_code == 200
    assert_rule_failed(
        get_as(auth0_issuer, "/tenant-or-admin", claims={TENANT: "x"}),
        f"ClaimEquals({TENANT!r}, 'acme')",
        f"ClaimIncludes({ROLES!r}, 'admin')",
    )
    assert get_as(auth0_issuer, "/not-tenant", claims={TENANT: "other"}).status_code == 200
    assert get_as(auth0_issuer, "/not-tenant", claims={TENANT: "acme"}).status_code == 403


def test_rules_need_an_auth0_token(auth0_issuer, django_user_model):
    assert APIClient().get("/tenant").status_code == 401
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create(username="session-user"))
    assert client.get("/tenant").status_code == 403


@pytest.mark.parametrize(
    "make",
    [
        lambda: ClaimEquals("", "x"),
        lambda: ClaimEquals(5, "x"),
        lambda: ClaimIncludes(ROLES),
        lambda: ClaimIncludes(ROLES, ""),
        lambda: ClaimIncludes(ROLES, 5),
        lambda: ClaimPredicate("not callable"),
        lambda: MaxTokenAge(-1),
        lambda: MaxTokenAge("60"),
        lambda: MaxTokenAge(True),
        # NaN and infinity compare false with every iat: such a rule would let every token in.
        lambda: MaxTokenAge(float("nan")),
        lambda: MaxTokenAge(float("inf")),
    ],
)
def test_bad_rule_arguments_are_refused_at_import_time(make):
    with pytest.raises(ValueError):
        make()


def test_rules_are_permission_classes_drf_can_instantiate():
    rule = ClaimEquals(TENANT, "acme")
    assert isinstance(rule, type) and rule.__name__ == f"ClaimEquals({TENANT!r}, 'acme')"
    instance = rule()
    assert instance.claim == TENANT and instance.value == "acme"
    assert HasScope("a", "b")().scopes == ("a", "b")
    with pytest.raises(ValueError):
        HasScope("a b")


# --- global CLAIM_RULES -------------------------------------------------------------------


TenantIsAcme = ClaimEquals(TENANT, "acme")


def test_global_rules_apply_to_every_view(settings, auth0_issuer):
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=[TenantIsAcme, ClaimIncludes(ROLES, "user")])
    assert get_as(auth0_issuer, "/plain", claims={TENANT: "acme", ROLES: ["user"]}).status_code == 200
    assert_rule_failed(
        get_as(auth0_issuer, "/plain", claims={TENANT: "evil", ROLES: ["user"]}), f"ClaimEquals({TENANT!r}, 'acme')"
    )
    assert_rule_failed(get_as(auth0_issuer, "/plain", claims={TENANT: "acme"}), f"ClaimIncludes({ROLES!r}, 'user')")


def test_global_token_validity_rules_give_401(settings, auth0_issuer):
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=[MaxTokenAge(60)])
    response = get_as(auth0_issuer, "/plain", now=time.time() - 3600, lifetime=7200)
    assert (response.status_code, response.json()["code"]) == (401, "token_too_old")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_global_rules_accept_dotted_paths_and_instances(settings, auth0_issuer):
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=["tests.test_rules.TenantIsAcme", MaxTokenAge(600)()])
    assert get_as(auth0_issuer, "/plain", claims={TENANT: "acme"}).status_code == 200
    assert get_as(auth0_issuer, "/plain", claims={TENANT: "other"}).status_code == 403


def test_global_rules_run_on_every_request_even_for_a_cached_token(settings, auth0_issuer):
    calls: list[str] = []

    def counting(claims: Any) -> bool:
        calls.append(claims.sub)
        return True

    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=[ClaimPredicate(counting)])
    client = bearer_client(auth0_issuer.token())
    for _ in range(3):
        assert client.get("/plain").status_code == 200
    assert len(calls) == 3


@pytest.mark.parametrize("entry", [IsAuthenticated, "rest_framework.permissions.IsAuthenticated", len, "x"])
def test_entries_that_are_not_rules_are_refused(entry):
    with pytest.raises((ImproperlyConfigured, ImportError)):
        load_rule(entry)


def test_claim_rules_setting_is_checked(settings):
    settings.AUTH0_DRF = {
        "DOMAIN": "t.auth0.com",
        "AUDIENCE": "a",
        "CLAIM_RULES": [TenantIsAcme, "tests.test_rules.TenantIsAcme"],
    }
    assert check_settings() == []
    settings.AUTH0_DRF = {"DOMAIN": "t.auth0.com", "AUDIENCE": "a", "CLAIM_RULES": ["no.such.Rule", IsAuthenticated]}
    errors = check_settings()
    assert [e.id for e in errors] == ["auth0_drf.E011", "auth0_drf.E011"]
    assert errors[0].msg.startswith("AUTH0_DRF['CLAIM_RULES'][0] is not a usable claim rule (")
    assert errors[1].msg.startswith("AUTH0_DRF['CLAIM_RULES'][1] is not a usable claim rule (ImproperlyConfigured")


# --- logging: every refusal writes one INFO line, with verified values only ------------------


def test_a_global_rule_refusal_is_logged_once_with_the_rule_and_verified_values(settings, auth0_issuer, caplog):
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=[TenantIsAcme])
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        response = get_as(auth0_issuer, "/plain", sub="auth0|outsider", claims={TENANT: "EVIL-TENANT"})
    assert_rule_failed(response, f"ClaimEquals({TENANT!r}, 'acme')")
    (record,) = rejection_records(caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        f"auth0_drf: rejected token: code=claim_rule_failed kid={auth0_issuer.signing_key.kid} "
        f"iss={auth0_issuer.issuer} sub=auth0|outsider rules=ClaimEquals('{TENANT}', 'acme')"
    )
    assert (record.auth0_code, record.auth0_sub) == ("claim_rule_failed", "auth0|outsider")
    assert "EVIL-TENANT" not in caplog.text


def test_a_global_rule_refusal_is_logged_with_drfs_own_exception_handler_too(settings, auth0_issuer, caplog):
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=[TenantIsAcme])
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "EXCEPTION_HANDLER": "rest_framework.views.exception_handler"}
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        response = get_as(auth0_issuer, "/plain", sub="auth0|outsider")
    assert response.status_code == 403
    (record,) = rejection_records(caplog)
    assert record.auth0_code == "claim_rule_failed" and record.auth0_sub == "auth0|outsider"


def test_a_view_rule_refusal_is_logged_once_with_the_failed_rules(auth0_issuer, caplog):
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        response = get_as(auth0_issuer, "/tenant-or-admin", sub="auth0|visitor", claims={TENANT: "EVIL-TENANT"})
    assert response.status_code == 403
    (record,) = rejection_records(caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        f"auth0_drf: rejected token: code=claim_rule_failed kid={auth0_issuer.signing_key.kid} "
        f"iss={auth0_issuer.issuer} sub=auth0|visitor "
        f"rules=ClaimEquals('{TENANT}', 'acme'); ClaimIncludes('{ROLES}', 'admin')"
    )
    assert "EVIL-TENANT" not in caplog.text


def test_an_accepted_token_passing_the_rules_logs_no_rejection(settings, auth0_issuer, caplog):
    settings.AUTH0_DRF = auth0_issuer.settings(CLAIM_RULES=[TenantIsAcme])
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        assert get_as(auth0_issuer, "/tenant", claims={TENANT: "acme"}).status_code == 200
    assert rejection_records(caplog) == []
