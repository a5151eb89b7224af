"""Recording custom claims: through real DRF requests, a real database, and the real recorder."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from auth0_drf.models import ClaimRecord
from auth0_drf.recorder import REDACTED, claim_recorder, prune
from auth0_drf.signing import LocalKey
from auth0_drf.tokens import get_verifier
from demo_project.api.models import Message

from .schema import table_missing

pytestmark = pytest.mark.django_db

User = get_user_model()

STATE = "https://myapp.example/state"
ROLES = "https://myapp.example/roles"
SECRET = "https://myapp.example/national_id"


@pytest.fixture
def first_request(django_capture_on_commit_callbacks):
    """Send the first request of a subject as production would: its transaction commits."""

    def send(client, path: str = "/api/private"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.get(path)
        assert response.status_code == 200, response.content
        return response

    return send


def row_text(record: ClaimRecord) -> str:
    """Return every stored column of ``record`` as one string, to look for leaks in."""
    values = ClaimRecord.objects.filter(pk=record.pk).values().get()
    return json.dumps(values, default=str)


# --- what is recorded --------------------------------------------------------------------


def test_verified_request_records_custom_claims_scopes_and_user(auth0_issuer, client_for, first_request):
    token = auth0_issuer.token(
        sub="auth0|alice",
        scope="openid read:messages",
        permissions=["write:messages"],
        claims={STATE: {"plan": "pro"}, ROLES: ["editor"]},
    )
    first_request(client_for(token))
    record = ClaimRecord.objects.get()
    assert (record.issuer, record.subject, record.client_id) == (auth0_issuer.issuer, "auth0|alice", "test-client-id")
    assert record.claims == {STATE: {"plan": "pro"}, ROLES: ["editor"]}
    assert record.claim_names == f"{ROLES}\n{STATE}"
    assert record.scopes == ["openid", "read:messages", "write:messages"]
    assert record.user == get_user_model().objects.get(username="auth0|alice")
    assert record.times_seen == 1
    assert record.first_seen == record.last_seen
    # Standard claims are not "custom", and the token (with its signature) is stored nowhere.
    stored = row_text(record)
    assert "exp" not in record.claims and "iss" not in record.claims
    header, payload, signature = token.split(".")
    assert signature not in stored and payload not in stored and token not in stored


def test_a_claim_with_a_nul_character_is_recorded_with_a_visible_substitute_on_every_database(
    auth0_issuer, client_for, first_request, caplog
):
    # PostgreSQL's jsonb cannot hold \u0000: the record would fail (and its error quote the value).
    token = auth0_issuer.token(sub="auth0|nul", claims={STATE: {"note\x00key": ["a\x00b"]}})
    with caplog.at_level(logging.WARNING, logger="auth0_drf"):
        first_request(client_for(token))
    assert ClaimRecord.objects.get().claims == {STATE: {"note\u2400key": ["a\u2400b"]}}
    assert not [r for r in caplog.records if "could not" in r.getMessage()]


def test_machine_token_is_recorded_without_a_user(auth0_issuer, client_for):
    token = auth0_issuer.token(sub="m2m-client@clients", claims={"gty": "client-credentials", STATE: "batch"})
    assert client_for(token).get("/api/private").status_code == 200
    record = ClaimRecord.objects.get()
    assert record.subject == "m2m-client@clients"
    assert record.user is None
    assert record.claims == {STATE: "batch"}


def test_token_without_custom_claims_is_recorded_with_none(auth0_issuer, client_for):
    assert client_for(auth0_issuer.token(sub="auth0|plain")).get("/api/private").status_code == 200
    record = ClaimRecord.objects.get()
    assert record.claims == {} and record.claim_names == ""


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda issuer: issuer.token(lifetime=-3600, claims={STATE: "x"}), id="expired"),
        pytest.param(
            lambda issuer: issuer.token(audience="https://other.example/", claims={STATE: "x"}), id="audience"
        ),
        pytest.param(
            lambda issuer: issuer.token(key=LocalKey.generate("RS256"), claims={STATE: "x"}), id="unknown-key"
        ),
        pytest.param(lambda issuer: issuer.token(claims={STATE: "x"}).rsplit(".", 1)[0] + ".AAAA", id="bad-signature"),
        pytest.param(lambda issuer: issuer.token(claims={STATE: "x", "cnf": {"jkt": "abc"}}), id="dpop-bound"),
    ],
)
def test_rejected_tokens_are_never_recorded(auth0_issuer, client_for, make_token):
    response = client_for(make_token(auth0_issuer)).get("/api/private")
    assert response.status_code == 401
    assert not ClaimRecord.objects.exists()
    assert len(claim_recorder) == 0


def test_unknown_subject_rejected_by_the_backend_is_not_recorded(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(CREATE_USERS=False)
    assert client_for(auth0_issuer.token(claims={STATE: "x"})).get("/api/private").status_code == 401
    assert not ClaimRecord.objects.exists()


def test_record_claims_false_switches_recording_off(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(RECORD_CLAIMS=False)
    assert client_for(auth0_issuer.token(claims={STATE: "x"})).get("/api/private").status_code == 200
    assert not ClaimRecord.objects.exists()
    assert len(claim_recorder) == 0


def test_redacted_claims_keep_their_name_but_never_their_value(auth0_issuer, client_for, settings):
    settings.AUTH0_DRF = auth0_issuer.settings(REDACTED_CLAIMS=[SECRET])
    token = auth0_issuer.token(claims={SECRET: "AB-123456-Z", STATE: "visible"})
    assert client_for(token).get("/api/private").status_code == 200
    record = ClaimRecord.objects.get()
    assert record.claims == {SECRET: REDACTED, STATE: "visible"}
    assert SECRET in record.claim_names.split("\n")
    assert "AB-123456-Z" not in row_text(record)


def test_a_single_redacted_name_given_as_a_string_is_still_redacted_and_flagged(auth0_issuer, client_for, settings):
    from auth0_drf.checks import check_settings

    settings.AUTH0_DRF = auth0_issuer.settings(REDACTED_CLAIMS=SECRET)
    assert [(e.id, e.msg) for e in check_settings()] == [
        ("auth0_drf.E007", "AUTH0_DRF['REDACTED_CLAIMS'] must be a list of claim names.")
    ]
    assert client_for(auth0_issuer.token(claims={SECRET: "AB-123456-Z"})).get("/api/private").status_code == 200
    assert ClaimRecord.objects.get().claims == {SECRET: REDACTED}


# --- the write throttle --------------------------------------------------------------------


def test_identical_requests_write_once_and_then_make_no_query(
    auth0_issuer, client_for, first_request, timer, django_assert_num_queries
):
    client = client_for(auth0_issuer.token(sub="auth0|steady", claims={STATE: {"plan": "pro"}}))
    first_request(client)
    assert ClaimRecord.objects.get().times_seen == 1
    # Steady state: verified-token cache, user cache and recorder memory all hit.
    with django_assert_num_queries(0):
        for _ in range(20):
            assert client.get("/api/private").status_code == 200
    assert ClaimRecord.objects.get().times_seen == 1

    # Once RECORD_INTERVAL has passed, the next sighting writes, with every sighting counted:
    # a savepoint, one UPDATE, its release (no pruning: that runs at most every prune_every).
    timer.now += 300
    with django_assert_num_queries(3):
        assert client.get("/api/private").status_code == 200
    record = ClaimRecord.objects.get()
    assert record.times_seen == 22
    assert record.last_seen > record.first_seen


def test_a_new_token_with_the_same_claims_does_not_write(auth0_issuer, client_for, first_request, timer):
    first_request(client_for(auth0_issuer.token(sub="auth0|renewed", claims={STATE: "a"})))
    last_seen = ClaimRecord.objects.get().last_seen
    # A renewed token: new iat/exp (standard claims), same custom claims and scopes.
    renewed = auth0_issuer.token(sub="auth0|renewed", claims={STATE: "a"}, lifetime=7200)
    assert client_for(renewed).get("/api/private").status_code == 200
    record = ClaimRecord.objects.get()
    assert (record.times_seen, record.last_seen) == (1, last_seen)


def test_a_changed_claim_writes_again_at_once(
    auth0_issuer, client_for, first_request, timer, django_assert_num_queries
):
    first_request(client_for(auth0_issuer.token(sub="auth0|changer", claims={STATE: {"plan": "free"}})))
    client = client_for(auth0_issuer.token(sub="auth0|changer", claims={STATE: {"plan": "pro"}}))
    # A savepoint, the row read to compare, its update, the change inserted, the history's
    # bound looked up, the release (tests/test_changes.py has the history itself).
    with django_assert_num_queries(6):
        assert client.get("/api/private").status_code == 200
    record = ClaimRecord.objects.get()
    assert record.claims == {STATE: {"plan": "pro"}}
    assert record.times_seen == 2
    # And the new value is the steady state again.
    with django_assert_num_queries(0):
        assert client.get("/api/private").status_code == 200


def test_changed_scopes_write_again(auth0_issuer, client_for, first_request, timer):
    first_request(client_for(auth0_issuer.token(sub="auth0|scoped", scope="read:a", claims={STATE: 1})))
    assert (
        client_for(auth0_issuer.token(sub="auth0|scoped", scope="read:a write:b", claims={STATE: 1}))
        .get("/api/private")
        .status_code
        == 200
    )
    assert ClaimRecord.objects.get().scopes == ["read:a", "write:b"]


def test_each_client_of_a_subject_gets_its_own_record(auth0_issuer, client_for):
    for azp in ("spa-client", "mobile-client"):
        token = auth0_issuer.token(sub="auth0|multi", claims={"azp": azp, STATE: azp})
        assert client_for(token).get("/api/private").status_code == 200
    assert sorted(ClaimRecord.objects.values_list("client_id", flat=True)) == ["mobile-client", "spa-client"]


def test_memory_is_bounded(auth0_issuer, client_for, monkeypatch):
    monkeypatch.setattr(claim_recorder, "max_entries", 3)
    for n in range(5):
        assert (
            client_for(auth0_issuer.token(sub=f"m{n}@clients", claims={STATE: n})).get("/api/private").status_code
            == 200
        )
    assert len(claim_recorder) == 3
    assert ClaimRecord.objects.count() == 5


def test_changing_settings_forgets_the_memory(auth0_issuer, client_for, settings):
    assert client_for(auth0_issuer.token(claims={STATE: 1})).get("/api/private").status_code == 200
    assert len(claim_recorder) == 1
    settings.AUTH0_DRF = auth0_issuer.settings(RECORD_INTERVAL=60)
    assert len(claim_recorder) == 0


# --- failures never fail the request ---------------------------------------------------------


@pytest.fixture
def claim_table_missing():
    """Rename the records table away, as if ``migrate`` had not been run (tests using it are transactional)."""
    with table_missing(ClaimRecord):
        yield


@pytest.fixture
def atomic_requests(monkeypatch):
    """Turn ATOMIC_REQUESTS on for the default database, as many projects do."""
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)


# Transactional: MySQL commits the open transaction when the table is renamed (see tests/schema.py).
@pytest.mark.django_db(transaction=True)
def test_a_failed_write_is_logged_and_does_not_break_the_request_transaction(
    auth0_issuer, client_for, timer, caplog, atomic_requests, claim_table_missing
):
    token = auth0_issuer.token(sub="auth0|writer", scope="write:messages", claims={STATE: "s"})
    client = client_for(token)
    with caplog.at_level(logging.DEBUG, logger="auth0_drf"):
        # The view writes after the failed recording, in the same ATOMIC_REQUESTS transaction.
        response = client.post("/api/messages/", {"text": "still works"}, format="json")
    assert response.status_code == 201, response.content
    assert Message.objects.filter(text="still works").exists()
    warnings = [r for r in caplog.records if r.name == "auth0_drf" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "could not record the claims of a verified token" in warnings[0].getMessage()
    assert "auth0_drf_claimrecord" in warnings[0].getMessage()  # the database said what is wrong
    assert token not in caplog.text and token.split(".")[2] not in caplog.text

    # A broken database is not hammered: the failed write is retried after RECORD_INTERVAL.
    caplog.clear()
    assert client.get("/api/private").status_code == 200
    assert not caplog.records


@pytest.mark.django_db(transaction=True)
def test_sightings_of_a_failed_write_are_counted_once_the_database_is_back(auth0_issuer, client_for, timer, caplog):
    client = client_for(auth0_issuer.token(sub="auth0|patient", claims={STATE: "s"}))
    with table_missing(ClaimRecord):
        assert client.get("/api/private").status_code == 200
        assert client.get("/api/private").status_code == 200
    timer.now += 300
    assert client.get("/api/private").status_code == 200
    assert ClaimRecord.objects.get().times_seen == 3


# --- retention -----------------------------------------------------------------------------


def make_records(count: int, *, age_step: timedelta = timedelta(hours=1), prefix: str = "r") -> list[ClaimRecord]:
    now = timezone.now()
    return [
        ClaimRecord.objects.create(
            issuer="https://t.example/",
            subject=f"auth0|{prefix}{n}",
            first_seen=now - n * age_step,
            last_seen=now - n * age_step,
            claims={STATE: n},
            claim_names=STATE,
        )
        for n in range(count)
    ]


def test_prune_deletes_rows_beyond_max_rows_oldest_first():
    records = make_records(5)
    assert prune(max_rows=2, max_age=10**9) == 3
    assert set(ClaimRecord.objects.values_list("pk", flat=True)) == {records[0].pk, records[1].pk}


def test_prune_keeps_ties_in_a_stable_order():
    now = timezone.now()
    for n in range(4):
        ClaimRecord.objects.create(issuer="i", subject=f"s{n}", first_seen=now, last_seen=now)
    assert prune(max_rows=3, max_age=10**9) == 1
    assert ClaimRecord.objects.count() == 3


def test_prune_deletes_rows_older_than_max_age():
    records = make_records(5, age_step=timedelta(days=1))
    assert prune(max_age=2.5 * 86400, max_rows=1000) == 2
    assert set(ClaimRecord.objects.values_list("pk", flat=True)) == {r.pk for r in records[:3]}


def test_prune_command_uses_the_settings_or_its_options(settings, auth0_issuer):
    make_records(6, age_step=timedelta(days=1))
    settings.AUTH0_DRF = auth0_issuer.settings(RECORD_MAX_AGE=4.5 * 86400, RECORD_MAX_ROWS=1000)
    out = io.StringIO()
    call_command("auth0_prune_claims", stdout=out)
    assert "Deleted 1 recorded claim row(s)" in out.getvalue()
    assert ClaimRecord.objects.count() == 5
    call_command("auth0_prune_claims", "--max-rows", "2", stdout=out)
    assert ClaimRecord.objects.count() == 2


def test_recording_prunes_on_its_own(auth0_issuer, client_for, settings, timer):
    make_records(4, age_step=timedelta(days=10))  # 0, 10, 20 and 30 days old
    settings.AUTH0_DRF = auth0_issuer.settings(RECORD_MAX_AGE=15 * 86400, RECORD_MAX_ROWS=2)
    assert client_for(auth0_issuer.token(sub="auth0|new", claims={STATE: 1})).get("/api/private").status_code == 200
    assert set(ClaimRecord.objects.values_list("subject", flat=True)) == {"auth0|new", "auth0|r0"}
    # At most every prune_every seconds: more rows are tolerated until then.
    make_records(3, prefix="later")
    assert client_for(auth0_issuer.token(sub="auth0|newer", claims={STATE: 1})).get("/api/private").status_code == 200
    assert ClaimRecord.objects.count() == 6
    timer.now += claim_recorder.prune_every
    assert client_for(auth0_issuer.token(sub="auth0|newest", claims={STATE: 1})).get("/api/private").status_code == 200
    assert ClaimRecord.objects.count() == 2


def test_a_client_id_longer_than_the_column_is_recorded_truncated(auth0_issuer, client_for):
    long_client = "c" * 400
    response = client_for(auth0_issuer.token(sub="auth0|long-azp", claims={"azp": long_client, "https://x/y": 1})).get(
        "/api/private"
    )
    assert response.status_code == 200
    from auth0_drf.models import ClaimRecord

    record = ClaimRecord.objects.get(subject="auth0|long-azp")
    assert record.client_id == long_client[:255]


# --- the steady state -----------------------------------------------------------------------------


def test_recorder_steady_state_reuses_its_description_but_sees_changes(auth0_issuer, settings):
    from auth0_drf.models import ClaimRecord
    from auth0_drf.recorder import REDACTED, claim_recorder

    secret = "https://myapp.example/national_id"
    claims = get_verifier().verify(auth0_issuer.token(sub="auth0|hana", claims={secret: "123"}))
    alice, bob = User.objects.create(username="alice"), User.objects.create(username="bob")
    first = claim_recorder.describe(claims, alice)
    assert claim_recorder.describe(claims, alice) is first  # steady state: reused
    assert first[3] == alice.pk and first[1] == {secret: "123"}

    other_user = claim_recorder.describe(claims, bob)  # another user: described afresh
    assert other_user[3] == bob.pk and other_user[4] != first[4]

    settings.AUTH0_DRF = {**settings.AUTH0_DRF, "REDACTED_CLAIMS": [secret]}
    redacted = claim_recorder.describe(claims, bob)  # new settings: described afresh
    assert redacted[1] == {secret: REDACTED}

    claim_recorder.clear()
    claim_recorder.record(claims, bob)
    assert ClaimRecord.objects.get(subject="auth0|hana").claims == {secret: REDACTED}
