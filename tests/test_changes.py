"""The history of custom-claim changes: recorded on change only, redacted, bounded, pruned with the records."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from auth0_drf.changes import Change, claim_changes, group_changes, prune_changes, redacted_digest
from auth0_drf.models import ClaimChange, ClaimRecord
from auth0_drf.recorder import REDACTED, claim_recorder, prune

pytestmark = pytest.mark.django_db

PLAN = "https://myapp.example/plan"
ROLES = "https://myapp.example/roles"
SECRET = "https://myapp.example/national_id"


def history(sub: str) -> list[tuple[str, object, object, bool, bool, bool]]:
    return [
        (c.claim, c.old_value, c.new_value, c.old_present, c.new_present, c.redacted)
        for c in ClaimChange.objects.filter(record__subject=sub).order_by("pk")
    ]


def test_a_changed_claim_is_recorded_with_its_old_and_new_value(see, timer):
    see("auth0|ann", **{PLAN: "free", ROLES: ["reader"]})
    assert history("auth0|ann") == []  # a first sighting is not a change
    see("auth0|ann", **{PLAN: "pro", ROLES: ["reader"]})
    assert history("auth0|ann") == [(PLAN, "free", "pro", True, True, False)]
    change = ClaimChange.objects.get()
    assert change.record == ClaimRecord.objects.get(subject="auth0|ann")
    assert abs(change.changed_at - timezone.now()) < timedelta(seconds=60)


def test_claims_that_appear_or_go_are_recorded_as_such(see, timer):
    see("auth0|bo", **{PLAN: "free"})
    see("auth0|bo", **{ROLES: ["admin"]})
    assert history("auth0|bo") == [
        (PLAN, "free", None, True, False, False),
        (ROLES, None, ["admin"], False, True, False),
    ]


def test_an_unchanged_sighting_writes_no_history_and_no_extra_query(
    see, timer, auth0_issuer, client_for, django_assert_num_queries
):
    see("auth0|cy", **{PLAN: "free"})
    client = client_for(auth0_issuer.token(sub="auth0|cy", claims={PLAN: "free"}))
    with django_assert_num_queries(0):
        assert client.get("/api/private").status_code == 200
    # After RECORD_INTERVAL: the same savepoint, one UPDATE and release as without a history.
    timer.now += 300
    with django_assert_num_queries(3):
        assert client.get("/api/private").status_code == 200
    # A process that never saw the subject reads the row once and finds nothing changed.
    claim_recorder.clear()
    claim_recorder.maybe_prune()  # its first prune, out of the way of the count
    renewed = client_for(auth0_issuer.token(sub="auth0|cy", claims={PLAN: "free"}, lifetime=7200))
    with django_assert_num_queries(4):  # savepoint, read, update, release
        assert renewed.get("/api/private").status_code == 200
    assert history("auth0|cy") == []
    assert ClaimRecord.objects.get().times_seen == 4


def test_a_redacted_claim_records_that_it_changed_but_never_its_values(see, timer, settings, auth0_issuer):
    settings.AUTH0_DRF = auth0_issuer.settings(REDACTED_CLAIMS=[SECRET])
    see("auth0|di", **{SECRET: "AB-111111-Z", PLAN: "free"})
    see("auth0|di", **{SECRET: "AB-111111-Z", PLAN: "pro"})  # the secret is the same: not a change
    see("auth0|di", **{SECRET: "CD-222222-Y", PLAN: "pro"})
    see("auth0|di", **{PLAN: "pro"})
    assert history("auth0|di") == [
        (PLAN, "free", "pro", True, True, False),
        (SECRET, None, None, True, True, True),
        (SECRET, None, None, True, False, True),
    ]
    stored = json.dumps(list(ClaimChange.objects.values()), default=str) + json.dumps(
        list(ClaimRecord.objects.values()), default=str
    )
    assert "AB-111111-Z" not in stored and "CD-222222-Y" not in stored
    assert "111111" not in stored and "222222" not in stored


def test_a_redacted_change_is_seen_by_a_process_that_never_saw_the_subject(see, timer, settings, auth0_issuer):
    settings.AUTH0_DRF = auth0_issuer.settings(REDACTED_CLAIMS=[SECRET])
    see("auth0|ed", **{SECRET: "one"})
    claim_recorder.clear()  # another worker: only the row's keyed digest knows the old value
    see("auth0|ed", **{SECRET: "two"})
    assert history("auth0|ed") == [(SECRET, None, None, True, True, True)]


def test_the_history_is_bounded_per_subject(see, timer, settings, auth0_issuer):
    settings.AUTH0_DRF = auth0_issuer.settings(RECORD_MAX_CHANGES_PER_SUBJECT=3)
    for plan in range(6):
        see("auth0|fay", **{PLAN: plan})
    assert [change[2] for change in history("auth0|fay")] == [3, 4, 5]


def test_no_history_is_kept_with_a_bound_of_zero(see, timer, settings, auth0_issuer):
    settings.AUTH0_DRF = auth0_issuer.settings(RECORD_MAX_CHANGES_PER_SUBJECT=0)
    see("auth0|gil", **{PLAN: 1})
    see("auth0|gil", **{PLAN: 2})
    assert ClaimChange.objects.count() == 0
    assert ClaimRecord.objects.get().claims == {PLAN: 2}


def test_the_history_is_bounded_in_total_and_by_age_on_the_prune_path(see, timer):
    for sub in ("auth0|h1", "auth0|h2", "auth0|h3"):
        see(sub, **{PLAN: "a"})
        see(sub, **{PLAN: "b"})
    assert ClaimChange.objects.count() == 3
    assert prune_changes(max_rows=2, max_age=10**9) == 1
    assert sorted(c.record.subject for c in ClaimChange.objects.all()) == ["auth0|h2", "auth0|h3"]
    ClaimChange.objects.filter(record__subject="auth0|h2").update(changed_at=timezone.now() - timedelta(days=40))
    # The recorder's prune (and manage.py auth0_prune_claims) prunes the history by age too.
    assert prune() == 0
    assert [c.record.subject for c in ClaimChange.objects.all()] == ["auth0|h3"]


def test_changes_are_pruned_with_their_records(see, timer):
    see("auth0|ivy", **{PLAN: "a"})
    see("auth0|ivy", **{PLAN: "b"})
    ClaimRecord.objects.update(last_seen=timezone.now() - timedelta(days=40))
    assert prune() == 1  # the record is counted, its change goes with it
    assert ClaimChange.objects.count() == 0


def test_two_processes_seeing_the_same_change_record_it_once(auth0_issuer, timer):
    from auth0_drf.recorder import ClaimRecorder
    from auth0_drf.tokens import get_verifier

    first, second = ClaimRecorder(), ClaimRecorder()
    first.record(get_verifier().verify(auth0_issuer.token(sub="auth0|jo", claims={PLAN: "a"})))
    second.record(get_verifier().verify(auth0_issuer.token(sub="auth0|jo", claims={PLAN: "a"})))
    changed = get_verifier().verify(auth0_issuer.token(sub="auth0|jo", claims={PLAN: "b"}))
    first.record(changed)
    second.record(changed)  # the row already holds "b": nothing changed for it
    assert history("auth0|jo") == [(PLAN, "a", "b", True, True, False)]


# --- the pure parts ----------------------------------------------------------------------------


def test_claim_changes_compares_json_values_not_python_ones():
    assert claim_changes({"n": 1}, {}, {"n": True}, {}) == [Change("n", 1, True)]
    assert claim_changes({"o": {"a": 1, "b": 2}}, {}, {"o": {"b": 2, "a": 1}}, {}) == []


def test_claim_changes_of_a_redacted_claim_recorded_before_digests_says_nothing():
    # A "[redacted]" value stored without a digest cannot be compared: no false change.
    assert claim_changes({"s": REDACTED}, {}, {"s": REDACTED}, {"s": redacted_digest("x")}) == []


def test_identical_changes_are_grouped_across_subjects(see, timer):
    for sub in ("auth0|k1", "auth0|k2", "auth0|k3"):
        see(sub, **{PLAN: "free"})
        see(sub, **{PLAN: "pro"})
    see("auth0|k4", **{PLAN: "free"})
    see("auth0|k4", **{PLAN: "x" * 500})
    groups = group_changes(ClaimChange.objects.select_related("record"))
    assert [(g.claim, g.old, g.new, g.subject_count) for g in groups] == [
        (PLAN, '"free"', '"pro"', 3),
        (PLAN, '"free"', '"' + "x" * 118 + "…", 1),
    ]
