"""Throttles keyed by the verified token (``auth0_drf.throttling``): real requests, DRF's rates, and check E020."""

from __future__ import annotations

import base64
import warnings
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.cache.backends.base import CacheKeyWarning
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from rest_framework.throttling import SimpleRateThrottle

from auth0_drf.checks import check_throttle_rates
from auth0_drf.throttling import ClientRateThrottle, SubjectRateThrottle, rate_problem

from .helpers import get, issuer_entry, m2m_token, send

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.throttle_urls")]

RATES = {"auth0_subject": "3/min", "auth0_client": "3/min"}


@pytest.fixture(autouse=True)
def rates(settings: Any) -> None:
    """Three requests a minute per subject and per client; throttle counts start afresh."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": RATES}
    cache.clear()
    yield
    cache.clear()


def statuses(token: str, path: str, times: int = 4) -> list[int]:
    return [get(token, path).status_code for _ in range(times)]


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429
    assert response["Retry-After"].isdigit() and 0 < int(response["Retry-After"]) <= 60


# --- by subject -------------------------------------------------------------------------------------


def test_a_subject_over_its_rate_gets_429_with_retry_after(auth0_issuer):
    token = auth0_issuer.token(sub="auth0|busy")
    assert statuses(token, "/subject", 3) == [200, 200, 200]
    response = get(token, "/subject")
    assert_throttled(response)
    assert token not in response.content.decode()


def test_another_subject_is_not_throttled_by_the_first_one_s_requests(auth0_issuer):
    assert statuses(auth0_issuer.token(sub="auth0|busy"), "/subject") == [200, 200, 200, 429]
    assert statuses(auth0_issuer.token(sub="auth0|calm"), "/subject", 3) == [200, 200, 200]


def test_new_tokens_of_one_subject_share_its_limit(auth0_issuer):
    for n in range(3):
        assert get(auth0_issuer.token(sub="auth0|refresher", scope=f"s{n}"), "/subject").status_code == 200
    assert_throttled(get(auth0_issuer.token(sub="auth0|refresher", scope="fresh"), "/subject"))


def test_stateless_users_are_throttled_by_subject(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(STATELESS_USERS=True)
    assert statuses(auth0_issuer.token(sub="auth0|light"), "/subject") == [200, 200, 200, 429]
    assert statuses(auth0_issuer.token(sub="auth0|other"), "/subject", 1) == [200]
    assert get_user_model().objects.count() == 0


def test_machine_tokens_are_throttled_by_subject(auth0_issuer):
    assert statuses(m2m_token(auth0_issuer), "/subject") == [200, 200, 200, 429]
    other = auth0_issuer.token(sub="other-client@clients", claims={"gty": "client-credentials"})
    assert statuses(other, "/subject", 1) == [200]


def test_the_same_sub_from_two_issuers_is_two_subjects(auth0_issuer, issuer_a, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(ISSUERS=[issuer_entry(issuer_a)])
    assert statuses(auth0_issuer.token(sub="auth0|twin"), "/subject") == [200, 200, 200, 429]
    assert get(issuer_a.token(sub="auth0|twin"), "/subject").status_code == 200


def test_the_cache_key_holds_a_digest_never_the_subject(auth0_issuer):
    assert get(auth0_issuer.token(sub="auth0|private person"), "/subject").status_code == 200
    keys = list(cache._cache)  # LocMemCache, the tests' default cache
    assert keys and not any("private" in key for key in keys)


def test_throttling_adds_no_query_in_the_steady_state(auth0_issuer, client_for, settings, django_assert_num_queries):
    rates = {"auth0_subject": "100/min", "auth0_client": "100/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = client_for(auth0_issuer.token(sub="auth0|steady"))
    assert client.get("/subject").status_code == 200  # creates the user
    assert client.get("/client").status_code == 200  # finds it and caches it
    with django_assert_num_queries(0):
        for path in ("/subject", "/client") * 5:
            assert client.get(path).status_code == 200


# --- by client ----------------------------------------------------------------------------------------


def test_a_client_over_its_rate_gets_429_whoever_its_users_are(auth0_issuer):
    for n in range(3):
        assert get(auth0_issuer.token(sub=f"auth0|user-{n}", claims={"azp": "spa"}), "/client").status_code == 200
    assert_throttled(get(auth0_issuer.token(sub="auth0|user-9", claims={"azp": "spa"}), "/client"))


def test_another_client_is_not_throttled_by_the_first_one_s_requests(auth0_issuer):
    assert statuses(auth0_issuer.token(claims={"azp": "spa"}), "/client") == [200, 200, 200, 429]
    assert statuses(auth0_issuer.token(claims={"azp": "mobile"}), "/client", 3) == [200, 200, 200]


def test_rfc9068_client_id_names_the_client(auth0_issuer):
    token = auth0_issuer.token(claims={"client_id": "rfc-client"}, drop=["azp"])
    assert statuses(token, "/client") == [200, 200, 200, 429]


def test_machine_tokens_are_throttled_by_client(auth0_issuer):
    busy = m2m_token(auth0_issuer, claims={"azp": "m2m-client"})
    assert statuses(busy, "/client") == [200, 200, 200, 429]
    assert statuses(m2m_token(auth0_issuer, claims={"azp": "another"}), "/client", 1) == [200]


def test_a_token_without_a_client_is_throttled_by_its_user_not_with_other_clientless_tokens(auth0_issuer):
    assert statuses(auth0_issuer.token(sub="auth0|a", drop=["azp"]), "/client") == [200, 200, 200, 429]
    assert statuses(auth0_issuer.token(sub="auth0|b", drop=["azp"]), "/client", 1) == [200]


def test_a_token_without_a_client_is_keyed_by_a_digest_of_its_subject_which_memcached_accepts(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(STATELESS_USERS=True)  # the user's pk is the raw sub
    token = auth0_issuer.token(sub="auth0|private person " + "x" * 230, drop=["azp"])
    with warnings.catch_warnings():
        # Django's warning that memcached refuses the key (spaces, over 250 characters): an error there.
        warnings.simplefilter("error", CacheKeyWarning)
        assert statuses(token, "/client") == [200, 200, 200, 429]
    assert not any("private" in key for key in cache._cache)


# --- requests auth0_drf did not authenticate: DRF's behaviour -------------------------------------------


def test_anonymous_requests_are_throttled_by_ip_address():
    assert [send(None, "/open", REMOTE_ADDR="192.0.2.1").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert send(None, "/open", REMOTE_ADDR="192.0.2.2").status_code == 200


def basic(username: str) -> int:
    """GET the view open to Basic authentication as ``username``, always from the same address."""
    credentials = base64.b64encode(f"{username}:pw".encode()).decode()
    return send(f"Basic {credentials}", "/open", REMOTE_ADDR="192.0.2.3").status_code


def test_users_of_another_authentication_class_are_throttled_by_their_pk():
    for name in ("basic-a", "basic-b"):
        get_user_model().objects.create_user(name, password="pw")
    assert [basic("basic-a") for _ in range(4)] == [200, 200, 200, 429]
    assert basic("basic-b") == 200  # same address, another user


# --- rates: DRF's settings, read when the throttle is made ----------------------------------------------


def test_a_scope_without_a_rate_is_not_throttled_when_set_to_none(auth0_issuer, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth0_subject": None}}
    assert statuses(auth0_issuer.token(), "/subject", 5) == [200] * 5


def test_a_subclass_with_its_own_scope_reads_its_own_rate(settings):
    class Burst(SubjectRateThrottle):
        scope = "burst"

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"burst": "7/s"}}
    throttle = Burst()
    assert (throttle.num_requests, throttle.duration) == (7, 1)


def test_the_rate_follows_the_settings_without_a_reload(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth0_client": "9/hour"}}
    assert ClientRateThrottle().num_requests == 9


@pytest.mark.parametrize("rate", ["100/min", "5/s", "1000/day", "10/hour", None])
def test_rates_drf_accepts_have_no_problem(rate):
    assert rate_problem(rate) is None


@pytest.mark.parametrize("rate", ["100", "100/fortnight", "many/min", "/min", "100/", 100, "1.5/s"])
def test_rates_drf_would_fail_on_have_a_problem(rate):
    assert rate_problem(rate) is not None


@pytest.mark.parametrize("rate", ["100/min/x", "1/s/", "\u00b2/s", "\u2460/min"])
def test_rates_with_a_second_slash_or_a_digit_int_cannot_read_have_a_problem_as_drf_fails_on_them(rate):
    with pytest.raises(ValueError):
        SimpleRateThrottle.parse_rate(None, rate)  # DRF's own parser, as it runs on every request
    assert rate_problem(rate) is not None


# --- check E020 -------------------------------------------------------------------------------------------


#: A URLconf with no views (``ROOT_URLCONF=__name__``): only DEFAULT_THROTTLE_CLASSES counts.
urlpatterns: list = []


def throttle_errors(views: bool = False, **rest: Any) -> list:
    urlconf = "tests.throttle_urls" if views else __name__
    with override_settings(REST_FRAMEWORK=rest, ROOT_URLCONF=urlconf):
        return check_throttle_rates()


SUBJECT = "auth0_drf.throttling.SubjectRateThrottle"


def test_e020_a_default_throttle_without_its_rate():
    assert throttle_errors(DEFAULT_THROTTLE_CLASSES=[SUBJECT], DEFAULT_THROTTLE_RATES={}) == [
        Error(
            f"The throttle {SUBJECT} (in REST_FRAMEWORK['DEFAULT_THROTTLE_CLASSES']) has no rate: "
            "REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['auth0_subject'] is not set.",
            hint="Set REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['auth0_subject'] to a rate such as '100/min' (or None "
            "for no limit); DRF would answer every request it throttles with a 500.",
            id="auth0_drf.E020",
        )
    ]


def test_e020_a_view_s_throttle_without_its_rate():
    (error,) = throttle_errors(views=True, DEFAULT_THROTTLE_RATES={"auth0_subject": "1/s"})
    assert error.msg == (
        "The throttle auth0_drf.throttling.ClientRateThrottle (on view tests.throttle_urls.by_client) has no "
        "rate: REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['auth0_client'] is not set."
    )
    assert error.id == "auth0_drf.E020"


def test_e020_a_malformed_rate():
    assert throttle_errors(
        DEFAULT_THROTTLE_CLASSES=[SUBJECT], DEFAULT_THROTTLE_RATES={**RATES, "auth0_subject": "9/fortnight"}
    ) == [
        Error(
            f"The rate of the throttle {SUBJECT} (in REST_FRAMEWORK['DEFAULT_THROTTLE_CLASSES']), "
            "REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['auth0_subject'], is not of the form '<number>/<period>' "
            "with a period of s, m, h or d.",
            hint="Write it as DRF does: '100/min', '10/s', '1000/hour', '5000/day' (or None for no limit).",
            id="auth0_drf.E020",
        )
    ]


def test_e020_a_subclass_with_neither_scope_nor_rate():
    class Nameless(SubjectRateThrottle):
        scope = None

    (error,) = throttle_errors(DEFAULT_THROTTLE_CLASSES=[Nameless], DEFAULT_THROTTLE_RATES=RATES)
    assert error.msg.endswith("has neither a scope nor a rate.") and error.id == "auth0_drf.E020"


def test_e020_passes_with_every_rate_set_or_none():
    assert throttle_errors(DEFAULT_THROTTLE_CLASSES=[SUBJECT], DEFAULT_THROTTLE_RATES=RATES) == []
    assert throttle_errors(views=True, DEFAULT_THROTTLE_RATES={"auth0_subject": None, "auth0_client": None}) == []


def test_e020_a_class_rate_needs_no_setting():
    class Fixed(ClientRateThrottle):
        rate = "5/min"

    assert throttle_errors(DEFAULT_THROTTLE_CLASSES=[Fixed], DEFAULT_THROTTLE_RATES=RATES) == []


def test_e020_is_reported_by_manage_py_check():
    with (
        override_settings(REST_FRAMEWORK={"DEFAULT_THROTTLE_CLASSES": [SUBJECT]}),
        pytest.raises(SystemCheckError, match="auth0_drf.E020"),
    ):
        call_command("check")
