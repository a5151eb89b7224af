"""The identity table on the configured database (SQLite by default, PostgreSQL with
bin/test-postgres, MariaDB with bin/test-mysql): the same tests run on each."""

from __future__ import annotations

import logging
import os

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from auth0_drf.backends import Auth0UserBackend, user_cache
from auth0_drf.claims import Claims
from auth0_drf.models import Auth0Identity, ClaimRecord, exact_key

from .helpers import claims_of, get
from .schema import migrate, table_missing

pytestmark = pytest.mark.django_db

User = get_user_model()
NOTE = "https://auth0-drf-demo/note"


def test_the_suite_runs_on_the_database_named_by_database_url():
    url = os.environ.get("DATABASE_URL", "sqlite:")
    expected = "postgresql" if url.startswith(("postgres:", "postgresql:", "pgsql:")) else url.split(":", 1)[0]
    assert connection.vendor == expected


def test_subjects_differing_only_in_case_are_two_identities(auth0_issuer):
    first = claims_of(auth0_issuer.token(sub="auth0|Alice"))["user"]["id"]
    second = claims_of(auth0_issuer.token(sub="auth0|alice"))["user"]["id"]
    assert first != second
    assert Auth0Identity.objects.count() == 2


@pytest.mark.parametrize("char", ["\u00e9", "\u20ac", "\U0001f600"], ids=["2-byte", "3-byte", "4-byte"])
def test_the_longest_subject_is_stored_whole_in_any_encoding(auth0_issuer, char):
    sub = "auth0|" + char * 249  # 255 characters: the limit of sub and of the subject column
    claims_of(auth0_issuer.token(sub=sub))
    assert Auth0Identity.objects.get().subject == sub


def test_claims_with_nul_and_unicode_render_but_never_reach_the_database(auth0_issuer):
    # PostgreSQL cannot store NUL in text; only sub and iss are stored, and sub may not hold one.
    body = claims_of(auth0_issuer.token(sub="auth0|n", claims={"https://auth0-drf-demo/note": "a\u0000b \U0001f600"}))
    assert body["claims"]["https://auth0-drf-demo/note"] == "a\u0000b \U0001f600"
    assert Auth0Identity.objects.get().subject == "auth0|n"


# --- subjects are compared exactly, whatever the database's collation -------------------------

# MySQL's and MariaDB's default collations call each pair equal: case, accents, trailing spaces.
NEAR_DUPLICATES = [
    ("auth0|VICTIMx", "auth0|victimx"),
    ("samlp|acme|jos\u00e9", "samlp|acme|jose"),
    ("auth0|pad ", "auth0|pad"),
]


@pytest.mark.parametrize("first, second", NEAR_DUPLICATES, ids=["case", "accent", "trailing-space"])
def test_subjects_equal_only_under_a_collation_are_two_users_with_their_own_records(
    auth0_issuer, django_capture_on_commit_callbacks, first, second
):
    users = {}
    for sub in (first, second, first, second):
        user_cache.clear()  # every request looks the identity up in the database
        with django_capture_on_commit_callbacks(execute=True):
            body = claims_of(auth0_issuer.token(sub=sub, claims={NOTE: f"note of {sub}"}))
        assert body["claims"]["sub"] == sub
        users.setdefault(sub, body["user"]["id"])
        assert body["user"]["id"] == users[sub], "a subject logged in as another one's user"
    assert users[first] != users[second]
    identities = {identity.subject: identity.user_id for identity in Auth0Identity.objects.all()}
    assert identities == {first: users[first], second: users[second]}
    records = {record.subject: record.claims[NOTE] for record in ClaimRecord.objects.all()}
    assert records == {first: f"note of {first}", second: f"note of {second}"}


def test_a_link_made_in_code_or_in_bulk_gets_its_exact_key():
    user = User.objects.create_user("linked")
    made = Auth0Identity.objects.create(issuer="https://a.example/", subject="auth0|Made", user=user)
    Auth0Identity.objects.bulk_create([Auth0Identity(issuer="https://a.example/", subject="auth0|made", user=user)])
    assert Auth0Identity.objects.for_subject("https://a.example/", "auth0|Made").get() == made
    assert Auth0Identity.objects.for_subject("https://a.example/", "auth0|made").get().subject == "auth0|made"
    made.subject = "auth0|Renamed"
    made.save(update_fields=["subject"])
    assert Auth0Identity.objects.for_subject("https://a.example/", "auth0|Renamed").get() == made
    assert not Auth0Identity.objects.for_subject("https://a.example/", "auth0|Made").exists()


def test_the_key_cannot_be_forged_by_moving_text_between_issuer_and_subject():
    assert exact_key("https://a.example/", "x\ny") != exact_key("https://a.example/\nx", "y")
    assert exact_key("a", "b", "") != exact_key("a", "b")


@pytest.mark.django_db(transaction=True)
def test_migrating_gives_links_and_records_made_before_the_key_their_key(auth0_issuer):
    try:
        old = migrate("auth0_drf", "0001_initial")
        OldUser = old.get_model(*User._meta.label.split("."))
        OldIdentity = old.get_model("auth0_drf", "Auth0Identity")
        OldRecord = old.get_model("auth0_drf", "ClaimRecord")
        existing = OldUser.objects.create(username="existing")
        subjects = ["auth0|existing", "samlp|acme|jos\u00e9", "auth0|pad "]
        for sub in subjects:
            OldIdentity.objects.create(issuer=auth0_issuer.issuer, subject=sub, user=existing)
        now = "2026-01-01T00:00:00Z"
        OldRecord.objects.create(
            issuer=auth0_issuer.issuer, subject="auth0|existing", client_id="spa", first_seen=now, last_seen=now
        )
    finally:
        migrate("auth0_drf", None)
    for identity in Auth0Identity.objects.all():
        assert identity.lookup_key == exact_key(identity.issuer, identity.subject)
    record = ClaimRecord.objects.get()
    assert record.lookup_key == exact_key(record.issuer, "auth0|existing", "spa")
    # The links still work: each subject logs in as the user it was linked to before.
    for sub in subjects:
        assert claims_of(auth0_issuer.token(sub=sub))["user"]["id"] == existing.pk
    assert User.objects.count() == 1


# --- usernames -------------------------------------------------------------------------------


def test_a_subject_whose_names_are_both_taken_still_gets_its_own_user(auth0_issuer):
    sub = "auth0|squatted"
    digest = Auth0UserBackend().digest_username(Claims({"iss": auth0_issuer.issuer, "sub": sub}))
    # Anyone who can choose a username (a sign-up form, another issuer's subject) can take these.
    squatters = {User.objects.create_user(sub).pk, User.objects.create_user(digest.upper()).pk}
    body = claims_of(auth0_issuer.token(sub=sub))
    assert body["user"]["id"] not in squatters
    assert body["user"]["username"] == f"{digest}-2"
    user_cache.clear()
    assert claims_of(auth0_issuer.token(sub=sub))["user"]["id"] == body["user"]["id"]


def test_a_local_name_equal_only_under_the_collation_does_not_lock_the_subject_out(auth0_issuer):
    # On MySQL "auth0|pad" collides with "auth0|pad " in the unique index, though the
    # case-insensitive check before the insert does not see it (LIKE does not pad).
    local = User.objects.create_user("auth0|pad ")
    body = claims_of(auth0_issuer.token(sub="auth0|pad"))
    assert body["user"]["id"] != local.pk


class TwoNamesBackend(Auth0UserBackend):
    """Offers only two usernames, so that a test can take both."""

    def username_candidates(self, claims):
        yield from ("only-one", "only-two")


def test_no_free_username_is_a_503_that_says_so_never_a_500(auth0_issuer, settings, caplog):
    settings.AUTH0_DRF = auth0_issuer.settings(USER_BACKEND="tests.test_database.TwoNamesBackend")
    User.objects.create_user("only-one")
    User.objects.create_user("ONLY-TWO")
    token = auth0_issuer.token(sub="auth0|nameless")
    with caplog.at_level(logging.INFO, logger="auth0_drf"):
        response = get(token, "/api/claims")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "username_unavailable"
    assert response["Retry-After"] == "30"
    errors = [r.getMessage() for r in caplog.records if r.name == "auth0_drf" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and "no free username" in errors[0]
    assert token not in caplog.text
    assert User.objects.count() == 2 and not Auth0Identity.objects.exists()


class BlindBackend(Auth0UserBackend):
    """Never checks whether a name is free, so every insert collides with a local account."""

    def username_candidates(self, claims):
        yield from (f"blind-{n}" for n in range(100))

    def free_username(self, claims, exclude=()):
        return next(name for name in self.username_candidates(claims) if name not in exclude)


def test_inserts_that_keep_colliding_are_retried_a_bounded_number_of_times_then_503(auth0_issuer, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(USER_BACKEND="tests.test_database.BlindBackend")
    for n in range(100):
        User.objects.create_user(f"blind-{n}")
    response = get(auth0_issuer.token(sub="auth0|blind"), "/api/claims")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "username_unavailable"
    assert User.objects.count() == 100 and not Auth0Identity.objects.exists()


# --- a forgotten migrate -----------------------------------------------------------------------


def assert_503_naming_migrate(response, token: str, caplog) -> None:
    assert response.status_code == 503, response.content
    assert response.json() == {
        "detail": "The API cannot look up the user of this access token right now. Try again shortly.",
        "code": "database_unavailable",
    }
    assert response["Retry-After"] == "30"
    errors = [r for r in caplog.records if r.name == "auth0_drf" and r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "run `manage.py migrate`" in errors[0].getMessage()
    assert errors[0].exc_info is None  # one line, not a stack trace
    assert token not in caplog.text and token.split(".")[2] not in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic_requests", [False, True], ids=["autocommit", "atomic-requests"])
def test_a_missing_identity_table_is_a_503_naming_migrate(auth0_issuer, caplog, monkeypatch, atomic_requests):
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", atomic_requests)
    token = auth0_issuer.token(sub="auth0|early")
    with table_missing(Auth0Identity), caplog.at_level(logging.INFO):
        response = get(token, "/api/claims")
    assert_503_naming_migrate(response, token, caplog)
    assert get(token, "/api/claims").status_code == 200  # migrated: it works at once, no restart


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_without_migrate_is_a_503_naming_migrate(auth0_issuer, caplog):
    token = auth0_issuer.token(sub="auth0|upgraded")
    try:
        migrate("auth0_drf", "0001_initial")  # the tables of the previous release: no lookup_key
        with caplog.at_level(logging.INFO):
            response = get(token, "/api/claims")
    finally:
        migrate("auth0_drf", None)
    assert_503_naming_migrate(response, token, caplog)
    assert get(token, "/api/claims").status_code == 200
