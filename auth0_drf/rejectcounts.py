"""Count rejected requests for the admin: in memory per process, added to the database once per interval.

Every rejection (the places that call ``rejections.log_rejection``, and the 503s) calls
``count_rejection(code, verified)``. The count goes into a small in-process table keyed by
(10-minute bucket, code, issuer, client, audience), where issuer, client (``azp`` or
``client_id``) and audience are taken from ``verified`` only, the values of a token whose
signature was checked; without them the key says ``"unverified"``. Nothing else of a request
is ever kept: not the token, not an unverified claim, not an IP address or a user agent.

Writes are bounded: the request that finds ``REJECTIONS_INTERVAL`` seconds passed since this
process's last write marks the counts due, and they are written when that request has finished
(Django's ``request_finished`` signal, after the response went out and outside any
``ATOMIC_REQUESTS`` transaction, which DRF rolls back for error responses). A flood of garbage
tokens therefore costs one write per interval, the same as a single one. The write adds the
counts to the rows (``count = count + n``, then an insert when the row is missing, retried as
an update when another process inserted it first), so the rows merge every worker's counts and
concurrent writes lose nothing. At most ``prune_every`` seconds apart, a write is followed by a
prune: buckets older than ``REJECTIONS_MAX_AGE`` and rows beyond ``REJECTIONS_MAX_ROWS`` go.

A failed write never fails a request: it is logged (one WARNING per ``warn_every`` seconds,
then DEBUG) and its counts are kept for the next attempt. The counts a process holds when it
stops (at most one interval's) are lost; the admin page writes its own process's counts first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.core.signals import request_finished
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, router, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from .conf import auth0_settings
from .errors import InvalidAudience
from .failurelog import FailureLog
from .models import RejectionCount

#: Seconds per time bucket.
BUCKET_SECONDS = 600
#: What stands for an issuer or client that was not verified (the token's signature was not checked).
UNVERIFIED = "unverified"
#: Where rejections go once ``RejectionCounter.max_keys`` distinct keys are held in memory.
OTHER = "other"
#: The longest issuer, client or audience kept (the columns' size).
MAX_VALUE_LENGTH = 255

#: (bucket start in seconds since the epoch, code, issuer, client, audience).
Key = tuple[int, str, str, str, str]


def printable(value: Any) -> str:
    """Return a verified value as text without control characters, cut to the column's size."""
    text = " ".join(item for item in value if isinstance(item, str)) if isinstance(value, list) else str(value)
    if not text.isprintable():  # rare: the common case is one C-level scan
        text = "".join(char for char in text if char.isprintable())
    return text[:MAX_VALUE_LENGTH]


def rejection_key(code: str, verified: Mapping[str, Any], now: float) -> Key:
    """Return the key a rejection is counted under: only verified values, else ``"unverified"``.

    ``verified`` is ``rejections.verified_context()`` of a token whose signature was checked, or
    empty. A verified token without ``azp`` or ``client_id`` has the client ``""``. The audience
    is kept for ``invalid_audience`` only, where it says which API the token was meant for.
    """
    bucket = int(now // BUCKET_SECONDS) * BUCKET_SECONDS
    issuer = verified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        return (bucket, code[:64], UNVERIFIED, UNVERIFIED, "")
    client = verified.get("client")
    audience = printable(verified.get("aud") or "") if code == InvalidAudience.code else ""
    return (bucket, code[:64], printable(issuer), printable(client) if client else "", audience)


class RejectionCounter(FailureLog):
    """Count rejections in memory and add them to ``RejectionCount`` rows at most once per interval.

    Thread-safe; holds at most ``max_keys`` distinct keys (more go under ``OTHER``). Swap
    ``timer`` (monotonic seconds, for the interval) and ``clock`` (seconds since the epoch, for
    the buckets) in subclasses or tests.
    """

    timer: Callable[[], float] = staticmethod(time.monotonic)
    clock: Callable[[], float] = staticmethod(time.time)
    #: Distinct keys held in memory between two writes.
    max_keys = 1000
    #: Minimum seconds between automatic prunes in one process.
    prune_every = 600

    def __init__(self) -> None:
        self._counts: dict[Key, list[float]] = {}  # key -> [count, last seen (epoch seconds)]
        self._lock = threading.Lock()
        self._last_write = self.timer()
        self._last_prune: float | None = None
        self._last_warning: float | None = None
        #: True once a rejection found the interval passed: the counts are written when its request ends.
        self.due = False
        #: How many writes (flushes that sent counts to the database) this counter made.
        self.writes = 0

    def __len__(self) -> int:
        """Return how many distinct keys are waiting to be written."""
        return len(self._counts)

    def pending(self) -> dict[Key, int]:
        """Return the counts waiting to be written, by key."""
        with self._lock:
            return {key: int(entry[0]) for key, entry in self._counts.items()}

    def clear(self) -> None:
        """Forget the unwritten counts and start a new interval."""
        with self._lock:
            self._counts.clear()
            self._last_write = self.timer()
            self._last_prune = None
            self._last_warning = None
            self.due = False

    def count(self, code: str, verified: Mapping[str, Any]) -> None:
        """Count one rejection (a dictionary update under a lock); never raises, never queries."""
        if not auth0_settings.RECORD_REJECTIONS:
            return
        try:
            now = self.clock()
            key = rejection_key(code, verified, now)
            with self._lock:
                self._add(key, 1, now)
                if self.timer() - self._last_write >= auth0_settings.REJECTIONS_INTERVAL:
                    self.due = True
        except Exception as exc:  # noqa: BLE001  (counting must never fail the request)
            self._log_failure("count a rejection", exc)

    def _add(self, key: Key, count: float, last_seen: float) -> None:
        # Called with the lock held.
        entry = self._counts.get(key)
        if entry is None:
            if len(self._counts) >= self.max_keys:
                key = (key[0], key[1], OTHER, OTHER, "")
                entry = self._counts.get(key)
            if entry is None:
                entry = self._counts[key] = [0, last_seen]
        entry[0] += count
        entry[1] = max(entry[1], last_seen)

    def flush(self) -> int:
        """Add the counts held in memory to the database now; return how many keys were written.

        Never raises: a failure is logged and the counts not yet written are kept for next time.
        """
        with self._lock:
            self.due = False
            self._last_write = self.timer()
            pending, self._counts = self._counts, {}
            if not pending or not auth0_settings.RECORD_REJECTIONS:
                return 0
            self.writes += 1
        written = 0
        try:
            for key in list(pending):
                count, last_seen = pending[key]
                self.write(key, int(count), last_seen)
                del pending[key]
                written += 1
        except Exception as exc:  # noqa: BLE001  (a failed write must never fail a request)
            with self._lock:
                for key, (count, last_seen) in pending.items():
                    self._add(key, count, last_seen)
            self._log_failure("write rejection counts", exc)
            return written
        self.maybe_prune()
        return written

    def write(self, key: Key, count: int, last_seen: float) -> None:
        """Add ``count`` to the row of ``key`` (creating it if missing), each step in its own block."""
        bucket, code, issuer, client_id, audience = key
        seen = datetime.fromtimestamp(last_seen, tz=dt_timezone.utc)
        rows = RejectionCount.objects.filter(lookup_key=RejectionCount.key_for(*key))
        using = router.db_for_write(RejectionCount) or DEFAULT_DB_ALIAS
        added = {"count": F("count") + count, "last_seen": Greatest(F("last_seen"), Value(seen))}
        with transaction.atomic(using=using):
            if rows.update(**added):
                return
        try:
            with transaction.atomic(using=using):
                RejectionCount.objects.create(
                    bucket=datetime.fromtimestamp(bucket, tz=dt_timezone.utc),
                    code=code,
                    issuer=issuer,
                    client_id=client_id,
                    audience=audience,
                    lookup_key=RejectionCount.key_for(*key),
                    count=count,
                    last_seen=seen,
                )
            return
        except IntegrityError:
            pass  # another process inserted the row between our update and our insert
        # A new block, as in recorder.write: InnoDB keeps a lock from the failed insert until
        # its block ends, and two processes updating under such locks would deadlock.
        with transaction.atomic(using=using):
            rows.update(**added)

    def maybe_prune(self) -> None:
        """Prune if this process has not done so for ``prune_every`` seconds."""
        now = self.timer()
        with self._lock:
            if self._last_prune is not None and now - self._last_prune < self.prune_every:
                return
            self._last_prune = now
        try:
            prune_rejections(now=datetime.fromtimestamp(self.clock(), tz=dt_timezone.utc))
        except Exception as exc:  # noqa: BLE001
            self._log_failure("prune rejection counts", exc)

    # _log_failure (FailureLog) logs the exception's class and message only: the database's message
    # names the table and the constraint, never a token (no token is ever sent to the database).


def prune_rejections(
    *, max_age: float | None = None, max_rows: int | None = None, now: datetime | None = None, using: str | None = None
) -> int:
    """Delete buckets older than ``max_age`` seconds and all but the ``max_rows`` newest rows.

    The limits default to ``REJECTIONS_MAX_AGE`` and ``REJECTIONS_MAX_ROWS``. Returns how many rows went.
    """
    max_age = auth0_settings.REJECTIONS_MAX_AGE if max_age is None else max_age
    max_rows = auth0_settings.REJECTIONS_MAX_ROWS if max_rows is None else max_rows
    now = now or timezone.now()
    using = using or router.db_for_write(RejectionCount) or DEFAULT_DB_ALIAS
    rows = RejectionCount.objects.using(using)
    deleted = 0
    with transaction.atomic(using=using):
        deleted += rows.filter(bucket__lt=now - timedelta(seconds=max_age)).delete()[0]
        # The newest row that goes is the (max_rows + 1)th; it and everything older go with it.
        boundary = rows.order_by("-bucket", "-pk").values_list("bucket", "pk")[max_rows : max_rows + 1]
        for bucket, pk in boundary:
            deleted += rows.filter(Q(bucket__lt=bucket) | Q(bucket=bucket, pk__lte=pk)).delete()[0]
    return deleted


#: The counter every rejection goes to.
rejection_counter = RejectionCounter()
auth0_settings.on_reset(rejection_counter.clear)


def count_rejection(code: str, verified: Mapping[str, Any]) -> None:
    """Count one rejection with this code; ``verified`` holds values of a verified token only, or nothing."""
    rejection_counter.count(code, verified)


def flush_when_due(sender: Any = None, **kwargs: Any) -> None:
    """Write the counts if a rejection marked them due (connected to ``request_finished``)."""
    if not rejection_counter.due:
        return
    rejection_counter.flush()
    using = router.db_for_write(RejectionCount) or DEFAULT_DB_ALIAS
    connection = connections[using]
    # Django closed its connections (CONN_MAX_AGE) before this receiver ran: close the one the
    # write opened the same way, unless it is inside a transaction (a test case's).
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


request_finished.connect(flush_when_due, dispatch_uid="auth0_drf.rejectcounts.flush_when_due")
