"""Keep a bounded history of custom-claim changes: what changed between two recorded sightings of a subject.

The recorder calls ``claim_changes()`` only when a sighting's fingerprint differs from the one in
the subject's row, so an unchanged sighting never costs a query here. A change of a claim named in
``REDACTED_CLAIMS`` is found by comparing keyed digests (HMAC with ``SECRET_KEY``) of its values,
and is recorded as "changed" without either value. The history is bounded per record
(``RECORD_MAX_CHANGES_PER_SUBJECT``) and in total (``RECORD_MAX_CHANGES``); changes go with their
record (a foreign key that cascades), and ``prune_changes()`` runs on the recorder's prune path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, router
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext

from .conf import auth0_settings
from .models import ClaimChange

#: What a redacted claim's value is replaced with (in records, and in what the admin shows).
REDACTED = "[redacted]"

_DIGEST_SALT = "auth0_drf.changes.redacted_claim"


def canonical(value: Any) -> str:
    """Return ``value`` as compact JSON with sorted keys: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def redacted_digest(value: Any) -> str:
    """Return a keyed digest of a redacted claim's value: equal values match; no guessing without ``SECRET_KEY``."""
    return salted_hmac(_DIGEST_SALT, canonical(value), algorithm="sha256").hexdigest()


@dataclass(frozen=True)
class Change:
    """One claim that differs between two sightings; values are ``None`` when redacted or absent."""

    claim: str
    old_value: Any = None
    new_value: Any = None
    old_present: bool = True
    new_present: bool = True
    redacted: bool = False


def _digest_of(name: str, claims: Mapping[str, Any], digests: Mapping[str, Any]) -> str | None:
    digest = digests.get(name)
    if isinstance(digest, str):
        return digest
    value = claims[name]
    # A stored "[redacted]" without a digest (recorded before digests were kept) says nothing.
    return None if value == REDACTED else redacted_digest(value)


def claim_changes(
    old_claims: Mapping[str, Any],
    old_digests: Mapping[str, Any],
    new_claims: Mapping[str, Any],
    new_digests: Mapping[str, Any],
) -> list[Change]:
    """Return the changes from one sighting's (redacted) custom claims to the next, sorted by claim name.

    A claim with a digest on either side is redacted: only whether it appeared, went or changed
    is returned, never a value.
    """
    changes = []
    for name in sorted(set(old_claims) | set(new_claims)):
        old_present, new_present = name in old_claims, name in new_claims
        if name in old_digests or name in new_digests:
            if old_present and new_present:
                old, new = _digest_of(name, old_claims, old_digests), _digest_of(name, new_claims, new_digests)
                if old is None or new is None or old == new:
                    continue
            elif old_present == new_present:
                continue
            changes.append(Change(name, old_present=old_present, new_present=new_present, redacted=True))
            continue
        if old_present and new_present and canonical(old_claims[name]) == canonical(new_claims[name]):
            continue
        changes.append(
            Change(
                name,
                old_value=old_claims.get(name),
                new_value=new_claims.get(name),
                old_present=old_present,
                new_present=new_present,
            )
        )
    return changes


def save_changes(record_id: Any, changes: Iterable[Change], *, now: datetime, using: str) -> None:
    """Write ``changes`` of one record, then keep only its ``RECORD_MAX_CHANGES_PER_SUBJECT`` newest."""
    keep = auth0_settings.RECORD_MAX_CHANGES_PER_SUBJECT
    rows = [
        ClaimChange(
            record_id=record_id,
            claim=change.claim,
            old_value=change.old_value,
            new_value=change.new_value,
            old_present=change.old_present,
            new_present=change.new_present,
            redacted=change.redacted,
            changed_at=now,
        )
        for change in changes
    ]
    if not rows or keep <= 0:
        return
    history = ClaimChange.objects.using(using)
    history.bulk_create(rows[-keep:])
    _keep_newest(history.filter(record_id=record_id), keep)


def _keep_newest(changes: Any, keep: int) -> int:
    # The newest change that goes is the (keep + 1)th; it and everything older go with it. (No
    # LIMIT in a subquery: MySQL refuses "IN (SELECT ... LIMIT)".)
    deleted = 0
    boundary = changes.order_by("-changed_at", "-pk").values_list("changed_at", "pk")[keep : keep + 1]
    for changed_at, pk in boundary:
        deleted += changes.filter(Q(changed_at__lt=changed_at) | Q(changed_at=changed_at, pk__lte=pk)).delete()[0]
    return deleted


def prune_changes(
    *, max_age: float | None = None, max_rows: int | None = None, now: datetime | None = None, using: str | None = None
) -> int:
    """Delete changes seen more than ``max_age`` seconds ago and all but the ``max_rows`` newest.

    The limits default to ``RECORD_MAX_AGE`` and ``RECORD_MAX_CHANGES``. Returns how many went.
    (Changes of a deleted record go with it, by the foreign key.)
    """
    max_age = auth0_settings.RECORD_MAX_AGE if max_age is None else max_age
    max_rows = auth0_settings.RECORD_MAX_CHANGES if max_rows is None else max_rows
    now = now or timezone.now()
    using = using or router.db_for_write(ClaimChange) or DEFAULT_DB_ALIAS
    changes = ClaimChange.objects.using(using)
    deleted = changes.filter(changed_at__lt=now - timedelta(seconds=max_age)).delete()[0]
    return deleted + _keep_newest(changes.all(), max_rows)


# --- what the admin shows -------------------------------------------------------------------

#: Values longer than this (as JSON text) are shortened where changes are listed.
VALUE_MAX_CHARS = 120


def shorten(value: Any, present: bool = True, limit: int = VALUE_MAX_CHARS) -> str:
    """Return a value as JSON text cut after ``limit`` characters (unescaped: escape before output).

    An absent claim reads ``(absent)`` in the active language.
    """
    if not present:
        return gettext("(absent)")
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SubjectTally:
    """Mixin of the admin's summaries: the (issuer, subject) pairs and the clients a claim was seen for.

    The class using it declares the ``subjects`` and ``clients`` sets (as dataclass fields).
    """

    subjects: set[tuple[str, str]]
    clients: set[str]

    @property
    def subject_count(self) -> int:
        return len(self.subjects)

    @property
    def client_list(self) -> list[str]:
        return sorted(self.clients)


@dataclass
class ChangeGroup(SubjectTally):
    """Identical changes (same claim, same old and new value) across subjects."""

    claim: str
    old: str
    new: str
    redacted: bool
    subjects: set[tuple[str, str]] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)
    last_seen: datetime | None = None
    first_seen: datetime | None = None


def group_changes(changes: Iterable[ClaimChange], redacted_names: Iterable[str] = ()) -> list[ChangeGroup]:
    """Group changes that are the same (claim, old value, new value), the most subjects first.

    ``changes`` need their ``record`` (``select_related``). Claims named in ``redacted_names``
    (the current ``REDACTED_CLAIMS``) are shown redacted even if recorded before the setting named them.
    """
    hidden = set(redacted_names)
    groups: dict[tuple[str, str, str, bool], ChangeGroup] = {}
    for change in changes:
        redacted = change.redacted or change.claim in hidden
        if redacted:
            old = REDACTED if change.old_present else shorten(None, False)
            new = REDACTED if change.new_present else shorten(None, False)
        else:
            old, new = shorten(change.old_value, change.old_present), shorten(change.new_value, change.new_present)
        key = (change.claim, old, new, redacted)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ChangeGroup(change.claim, old, new, redacted)
        record = change.record
        group.subjects.add((record.issuer, record.subject))
        group.clients.add(record.client_id or "-")
        if group.last_seen is None or change.changed_at > group.last_seen:
            group.last_seen = change.changed_at
        if group.first_seen is None or change.changed_at < group.first_seen:
            group.first_seen = change.changed_at
    return sorted(groups.values(), key=lambda g: (-g.subject_count, g.claim, g.old, g.new))
