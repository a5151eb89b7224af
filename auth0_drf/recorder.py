"""Record the custom claims of verified tokens for the admin, with few database writes.

Each process remembers, per (issuer, subject, client), a fingerprint of what it last wrote and
when. A request whose claims match that memory costs no query at all; the row is written only
when the claims (or scopes, or user) changed or ``RECORD_INTERVAL`` seconds passed, and the
sightings counted in between are then added to ``times_seen``. After a write, at most every
``prune_every`` seconds, rows older than ``RECORD_MAX_AGE`` and beyond ``RECORD_MAX_ROWS`` are
deleted, so no cron job is needed (``manage.py auth0_prune_claims`` does the same on demand).

Recording never fails a request: database errors are logged (logger ``auth0_drf``) and the
write runs in its own savepoint, so a failed write cannot break the request's transaction
(``ATOMIC_REQUESTS``); the write then commits or rolls back with the request, and one that
rolled back is redone after ``RECORD_INTERVAL``. The token and its signature are never
stored; claims named in ``REDACTED_CLAIMS`` are stored with their value replaced by ``REDACTED``.

When a write finds the row's claims differ from the new ones, the differences go into the
bounded history of ``changes`` (a redacted claim's change without its values); an unchanged
sighting writes no history and costs no extra query.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, IntegrityError, router, transaction
from django.db.models import F, Model, Q
from django.utils import timezone

from .changes import REDACTED, claim_changes, prune_changes, redacted_digest, save_changes
from .claims import Claims
from .conf import as_tuple, auth0_settings
from .failurelog import FailureLog
from .models import ClaimRecord

__all__ = ["REDACTED", "ClaimRecorder", "Sighting", "claim_recorder", "fingerprint", "prune", "redact"]


def redact(claims: Mapping[str, Any], names: Iterable[str] | None = None) -> dict[str, Any]:
    """Return ``claims`` with the value of every claim named in ``names`` (default ``REDACTED_CLAIMS``) replaced."""
    # as_tuple: a single name given as a string still redacts that claim (and a check flags it).
    redacted = set(as_tuple(auth0_settings.REDACTED_CLAIMS if names is None else names))
    return {name: (REDACTED if name in redacted else value) for name, value in claims.items()}


#: Stored in place of NUL characters: PostgreSQL's json and text types cannot hold one.
NUL_SUBSTITUTE = "\u2400"


def storable(value: Any) -> Any:
    """Return a claim value that every database can store: NUL characters shown as ``\u2400`` (␀)."""
    if isinstance(value, str):
        return value.replace("\x00", NUL_SUBSTITUTE) if "\x00" in value else value
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(name): storable(item) for name, item in value.items()}
    return value


def fingerprint(*parts: Any) -> str:
    """Return a stable digest of JSON-serialisable ``parts`` (key order does not matter)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_user_models: dict[str, type[Model]] = {}


def _user_model() -> type[Model]:
    # get_user_model() parses the setting and asks the app registry on each call: once per name.
    name = django_settings.AUTH_USER_MODEL
    model = _user_models.get(name)
    if model is None:
        model = _user_models[name] = get_user_model()
    return model


#: Where ``ClaimRecorder.describe`` keeps its result on a ``Claims`` object.
_MEMO_ATTRIBUTE = "_auth0_drf_record_memo"

#: What ``ClaimRecorder.describe`` returns: the row's (issuer, subject, client id), the redacted
#: custom claims, the scopes, the user's primary key (or None), their fingerprint, and the keyed
#: digests of the redacted claims' values (``changes.redacted_digest``).
Description = tuple[tuple[str, str, str], dict[str, Any], list[str], Any, str, dict[str, str]]


@dataclass
class Sighting:
    """What this process knows about one (issuer, subject, client) since its last write."""

    fingerprint: str
    written_at: float
    unsaved: int = 0


class ClaimRecorder(FailureLog):
    """Write ``ClaimRecord`` rows for verified tokens, throttled by an in-process memory.

    ``record()`` is called by ``Auth0Authentication.token_verified``. Swap ``timer`` (seconds,
    monotonic) and ``clock`` (aware datetimes) in subclasses or tests.
    """

    timer: Callable[[], float] = staticmethod(time.monotonic)
    clock: Callable[[], datetime] = staticmethod(timezone.now)
    #: Subjects remembered per process; the least recently seen is forgotten first (its
    #: unsaved sightings are then lost, which only makes ``times_seen`` a little low).
    max_entries = 10000
    #: Minimum seconds between automatic prunes in one process.
    prune_every = 600

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, str, str], Sighting] = OrderedDict()
        self._lock = threading.Lock()
        self._last_prune: float | None = None
        self._last_warning: float | None = None

    def __len__(self) -> int:
        """Return how many (issuer, subject, client) this process remembers."""
        return len(self._seen)

    def clear(self) -> None:
        """Forget everything remembered (the next sighting of every subject is written)."""
        with self._lock:
            self._seen.clear()
            self._last_prune = None
            self._last_warning = None

    def record(self, claims: Claims, user: Any = None) -> None:
        """Count a sighting of ``claims`` and write it when due; never raises."""
        if not auth0_settings.RECORD_CLAIMS:
            return
        try:
            self._record(claims, user)
        except Exception as exc:  # noqa: BLE001  (a broken record must never fail the request)
            self._log_failure("record the claims of a verified token", exc)

    def _record(self, claims: Claims, user: Any) -> None:
        key, custom, scopes, user_id, digest, digests = self.describe(claims, user)
        now = self.timer()
        with self._lock:
            sighting = self._seen.get(key)
            if (
                sighting is not None
                and sighting.fingerprint == digest
                and now - sighting.written_at < auth0_settings.RECORD_INTERVAL
            ):
                sighting.unsaved += 1
                self._seen.move_to_end(key)
                return
            count = 1 + (sighting.unsaved if sighting is not None else 0)
            # What this process wrote last has the same claims: the row most likely does too.
            unchanged = sighting is not None and sighting.fingerprint == digest
            # Claim the write before leaving the lock, so concurrent requests count instead of
            # writing too. A failed write is retried after RECORD_INTERVAL, not on every request.
            self._seen[key] = Sighting(digest, now)
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
        try:
            self.write(key, custom, scopes, user_id, digest, count, digests=digests, unchanged=unchanged)
        except Exception:
            with self._lock:
                current = self._seen.get(key)
                if current is not None:
                    current.unsaved += count  # keep the count for the next attempt
            raise
        self.maybe_prune()

    def describe(self, claims: Claims, user: Any) -> Description:
        """Return the key, redacted custom claims, scopes, user id and fingerprint of a sighting.

        A token already verified comes back as the same ``Claims`` object (the verified-token
        cache): the result is kept on the claims, for the user's class and primary key (all that
        ``user_id()`` looks at) and those settings, so the steady state skips the JSON and hashing.
        """
        settings_now = (auth0_settings.REDACTED_CLAIMS, auth0_settings.STANDARD_CLAIMS)
        user_key = (type(user), getattr(user, "pk", None))
        # (user_key, settings_now, description), as stored below.
        memo: tuple[tuple[type, Any], tuple[Any, Any], Description] | None = claims.__dict__.get(_MEMO_ATTRIBUTE)
        if memo is not None and memo[0] == user_key and memo[1][0] is settings_now[0] and memo[1][1] is settings_now[1]:
            return memo[2]
        # The columns hold 255 characters; a longer client id is recorded truncated, not dropped.
        key = (claims.iss[:255], claims.sub[:255], (claims.client_id or "")[:255])
        every = claims.custom_claims
        custom = storable(redact(every))
        # A redacted value is not stored, but its keyed digest tells when it changes.
        digests = {name: redacted_digest(every[name]) for name, value in custom.items() if value is REDACTED}
        scopes = sorted(claims.granted)
        user_id = self.user_id(user)
        # Without redacted claims, the fingerprint is what it was before digests were kept.
        digest = fingerprint(custom, scopes, user_id, *([digests] if digests else []))
        described: Description = (key, custom, scopes, user_id, digest, digests)
        claims.__dict__[_MEMO_ATTRIBUTE] = (user_key, settings_now, described)
        return described

    def user_id(self, user: Any) -> Any:
        """Return the primary key of a database user, or None (anonymous, ``TokenUser``)."""
        if isinstance(user, _user_model()) and user.pk is not None:
            return user.pk
        return None

    def write(
        self,
        key: tuple[str, str, str],
        custom: dict[str, Any],
        scopes: list[str],
        user_id: Any,
        digest: str,
        count: int,
        *,
        digests: dict[str, str] | None = None,
        unchanged: bool = False,
    ) -> None:
        """Create or update the row for ``key``, adding ``count`` sightings, in a savepoint.

        ``unchanged``: this process last wrote the same fingerprint, so one UPDATE of the row still
        holding it is tried first. Otherwise the row is read and compared, and the claims that
        changed go into the history (``changes``).
        """
        issuer, subject, client_id = key
        now = self.clock()
        values = {
            "claims": custom,
            "claim_names": "\n".join(sorted(custom)),
            "scopes": scopes,
            "user_id": user_id,
            "fingerprint": digest,
            "redacted_digests": digests or {},
            "last_seen": now,
        }
        # By the exact key, not the columns: under MySQL's collations "auth0|Bob" would update
        # the row of "auth0|bob".
        rows = ClaimRecord.objects.for_subject(issuer, subject, client_id)
        using = router.db_for_write(ClaimRecord) or DEFAULT_DB_ALIAS
        # The savepoint keeps a failed write from poisoning a surrounding (ATOMIC_REQUESTS)
        # transaction: only the savepoint is rolled back, and the error is logged by record().
        with transaction.atomic(using=using):
            if unchanged and rows.filter(fingerprint=digest).update(last_seen=now, times_seen=F("times_seen") + count):
                return
            if self.update_changed(rows, values, count, using):
                return
            try:
                with transaction.atomic(using=using):
                    ClaimRecord.objects.create(
                        issuer=issuer, subject=subject, client_id=client_id, first_seen=now, times_seen=count, **values
                    )
                return
            except IntegrityError:
                pass  # another process created the row between our update and our insert
        # Update in a new block: InnoDB keeps a shared lock on the row our insert collided with
        # until that block ends, and two requests updating under such locks deadlock (1213).
        with transaction.atomic(using=using):
            self.update_changed(rows, values, count, using)

    def update_changed(self, rows: Any, values: dict[str, Any], count: int, using: str) -> bool:
        """Update the existing row from ``values``, saving the claims that changed; False if there is no row.

        The update is conditional on the fingerprint just read, so of two processes seeing the
        same change, only the one whose update lands records it.
        """
        for _attempt in range(3):
            current = rows.values_list("pk", "fingerprint", "claims", "redacted_digests").first()
            if current is None:
                return False
            pk, old_fingerprint, old_claims, old_digests = current
            same_row = ClaimRecord.objects.using(using).filter(pk=pk, fingerprint=old_fingerprint)
            if not same_row.update(**values, times_seen=F("times_seen") + count):
                continue  # another process wrote in between: compare with what it wrote
            if old_fingerprint != values["fingerprint"]:
                changes = claim_changes(
                    old_claims if isinstance(old_claims, dict) else {},
                    old_digests if isinstance(old_digests, dict) else {},
                    values["claims"],
                    values["redacted_digests"],
                )
                if changes:
                    save_changes(pk, changes, now=values["last_seen"], using=using)
            return True
        # The row keeps changing under us: write the sighting, skip the history this once.
        rows.update(**values, times_seen=F("times_seen") + count)
        return True

    def maybe_prune(self) -> None:
        """Prune if this process has not done so for ``prune_every`` seconds."""
        now = self.timer()
        with self._lock:
            if self._last_prune is not None and now - self._last_prune < self.prune_every:
                return
            self._last_prune = now
        try:
            prune(now=self.clock())
        except Exception as exc:  # noqa: BLE001
            self._log_failure("prune recorded claims", exc)


def prune(
    *, max_age: float | None = None, max_rows: int | None = None, now: datetime | None = None, using: str | None = None
) -> int:
    """Delete records last seen more than ``max_age`` seconds ago and all but the ``max_rows`` newest.

    The limits default to ``RECORD_MAX_AGE`` and ``RECORD_MAX_ROWS``. Returns how many records
    went. Their claim changes go with them; then the history is pruned to ``RECORD_MAX_AGE`` and
    ``RECORD_MAX_CHANGES`` (``changes.prune_changes``).
    """
    max_age = auth0_settings.RECORD_MAX_AGE if max_age is None else max_age
    max_rows = auth0_settings.RECORD_MAX_ROWS if max_rows is None else max_rows
    now = now or timezone.now()
    using = using or router.db_for_write(ClaimRecord) or DEFAULT_DB_ALIAS
    records = ClaimRecord.objects.using(using)
    label = ClaimRecord._meta.label
    deleted = 0
    # delete() counts the cascaded changes too: only the records are counted here.
    with transaction.atomic(using=using):
        deleted += records.filter(last_seen__lt=now - timedelta(seconds=max_age)).delete()[1].get(label, 0)
        # The newest row that goes is the (max_rows + 1)th; it and everything older go with it.
        boundary = records.order_by("-last_seen", "-pk").values_list("last_seen", "pk")[max_rows : max_rows + 1]
        for last_seen, pk in boundary:
            gone = records.filter(Q(last_seen__lt=last_seen) | Q(last_seen=last_seen, pk__lte=pk)).delete()
            deleted += gone[1].get(label, 0)
        prune_changes(max_age=max_age, now=now, using=using)
    return deleted


#: The recorder ``Auth0Authentication`` uses.
claim_recorder = ClaimRecorder()
auth0_settings.on_reset(claim_recorder.clear)
