"""Claims to user fields, flags and groups, written when the user is created and when they change.

``USER_FIELDS``, ``USER_FLAGS`` and ``GROUPS_CLAIM`` name the claims; a ``SyncPlan`` built from
them reads those claims and digests them into a fingerprint. The backend compares it, in memory,
with the ``synced_fingerprint`` of the (cached) ``Auth0Identity``: a steady-state request costs a
digest and no query. Only when the fingerprint differs (a new user, a changed claim, a changed
mapping) does ``sync_user`` write, in one transaction: the user's changed fields and flags, the
memberships the claim manages (``Auth0Identity.managed_groups``) and the new fingerprint. A value
that does not fit its model field is skipped with one WARNING line; a database failure is logged
and leaves user and identity as they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DatabaseError, IntegrityError, OperationalError, connections, models, transaction
from django.utils import timezone

from .claims import Claims
from .conf import BuiltFromSettings, auth0_settings
from .models import Auth0Identity
from .userinfo import fetch_userinfo, userinfo_url

logger = logging.getLogger("auth0_drf")

#: At most this many names of ``GROUPS_CLAIM`` are considered (a token is no bulk-import channel).
MAX_GROUPS = 100
#: The longest group name (``auth.Group.name``).
GROUP_NAME_MAX_LENGTH = 150


def claim_values(value: Any) -> frozenset[str]:
    """Return the names a claim holds: the strings of a list, or the words of a space-separated string."""
    if isinstance(value, str):
        return frozenset(word for word in value.split(" ") if word)
    if isinstance(value, (list, tuple)):
        return frozenset(item for item in value if isinstance(item, str) and item)
    return frozenset()


def is_bare(name: str) -> bool:
    """Return whether a claim name is bare (no ``:`` or ``/``), so that ``CLAIMS_NAMESPACE`` applies to it."""
    return ":" not in name and "/" not in name


def user_model_field(name: str) -> models.Field[Any, Any] | None:
    """Return the concrete field ``name`` of the user model, or None when it has none by that name."""
    try:
        field = get_user_model()._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.Field) and field.concrete and not field.is_relation else None


@dataclass(frozen=True)
class Mapped:
    """What the claims say the user should be: fitted field values, flags and group names.

    A field whose claim is missing or does not fit is absent from ``fields`` (left as it is);
    ``groups`` is None when ``GROUPS_CLAIM`` is not set.
    """

    fields: Mapping[str, Any]
    flags: Mapping[str, bool]
    groups: tuple[str, ...] | None


class SyncPlan:
    """The mapping of the settings, ready to read claims: ``fingerprint()`` and ``mapped()``."""

    #: Fingerprints whose mapped values are remembered (a warning is logged once per fingerprint).
    max_remembered = 1024

    def __init__(
        self,
        user_fields: Mapping[str, str],
        user_flags: Mapping[str, Sequence[str]],
        groups_claim: str | None,
        namespace: str = "",
        mirror_groups: bool = False,
    ) -> None:
        self.fields = tuple(user_fields.items())
        self.flags = tuple((name, rule[0], rule[1]) for name, rule in user_flags.items())
        self.groups_claim = groups_claim or None
        self.mirror_groups = mirror_groups
        self.namespace = namespace
        self.enabled = bool(self.fields or self.flags or self.groups_claim)
        names = {claim for _, claim in self.fields} | {claim for _, claim, _ in self.flags}
        if self.groups_claim:
            names.add(self.groups_claim)
        self.claim_names = tuple(sorted(names))
        # The mapping itself is part of every fingerprint: changing the settings resyncs each user once.
        self._spec = json.dumps([self.fields, self.flags, self.groups_claim, namespace], separators=(",", ":"))
        self._mapped: OrderedDict[str, Mapped] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, claims: Mapping[str, Any], name: str) -> Any:
        """Return the claim ``name``: a bare name is looked up under ``CLAIMS_NAMESPACE`` first, then as it is."""
        if self.namespace and is_bare(name):
            value = claims.get(self.namespace + name)
            if value is not None:
                return value
        return claims.get(name)

    def values(self, claims: Mapping[str, Any]) -> list[Any]:
        """Return the values of the claims the mapping reads, in ``claim_names`` order."""
        return [self.claim(claims, name) for name in self.claim_names]

    def digest(self, values: list[Any]) -> str:
        """Return the SHA-256 (hex) of the mapping and ``values``: the fingerprint an identity keeps."""
        text = self._spec + json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def fingerprint(self, claims: Mapping[str, Any]) -> str:
        """Return the fingerprint of ``claims``: the digest of the mapping and the values it reads."""
        return self.digest(self.values(claims))

    def stale(self, identity: Auth0Identity, claims: Mapping[str, Any]) -> str | None:
        """Return the fingerprint to write when ``identity`` is not in sync with ``claims``, else None.

        The steady state is a comparison of a few values in memory: once an identity's fingerprint
        is known to match, the values it stands for are kept on the (cached) identity object, and
        later requests compare those instead of digesting again.
        """
        values = self.values(claims)
        memo = identity.__dict__.get(_MEMO)
        if memo is not None and memo[0] is self and memo[1] == values:
            return None
        fingerprint = self.digest(values)
        if fingerprint == identity.synced_fingerprint:
            remember_values(identity, self, values)
            return None
        if identity.__dict__.get(_REFUSED) == fingerprint:
            return None  # the database refused these values for this (cached) identity: not on every request
        return fingerprint

    def mapped(self, claims: Mapping[str, Any], fingerprint: str | None = None) -> Mapped:
        """Return the values the claims map to, fitted to the user model (remembered by fingerprint)."""
        key = fingerprint or self.fingerprint(claims)
        found = self._mapped.get(key)
        if found is not None:
            return found
        result = self._map(claims)
        with self._lock:
            while len(self._mapped) >= self.max_remembered:
                self._mapped.popitem(last=False)
            self._mapped[key] = result
        return result

    def _map(self, claims: Mapping[str, Any]) -> Mapped:
        fields: dict[str, Any] = {}
        for name, claim in self.fields:
            value = self.claim(claims, claim)
            if value is None:
                continue  # a missing claim leaves the field as it is
            fitted = fit_value(name, claim, value)
            if fitted is not _UNFIT:
                fields[name] = fitted
        flags = {name: value in claim_values(self.claim(claims, claim)) for name, claim, value in self.flags}
        groups: tuple[str, ...] | None = None
        if self.groups_claim:
            groups = group_names(self.groups_claim, self.claim(claims, self.groups_claim))
        return Mapped(fields, flags, groups)


_UNFIT = object()
#: Where an identity object keeps the plan and the claim values its fingerprint stands for.
_MEMO = "_auth0_drf_synced_values"
_TOKEN_USER_MEMO = "_auth0_drf_token_user_mapping"
#: Where an identity object keeps the fingerprint whose write the database refused (``remember_refused``).
_REFUSED = "_auth0_drf_refused_fingerprint"


def remember_values(identity: Auth0Identity, plan: SyncPlan, values: list[Any]) -> None:
    """Note on ``identity`` (in memory only) that it is in sync with ``values`` under ``plan``."""
    identity.__dict__[_MEMO] = (plan, values)


def remember_refused(identity: Auth0Identity, fingerprint: str) -> None:
    """Note on ``identity`` (in memory only) that the database refused to write ``fingerprint``'s values.

    A refusal for good (a unique or check constraint: another user has that email) would
    otherwise be tried, and logged, on every request: ``stale()`` skips it while this identity
    object lives (the user cache's ``USER_CACHE_TTL``), and a reloaded identity tries once again.
    """
    identity.__dict__[_REFUSED] = fingerprint


def is_encodable(text: str) -> bool:
    """Return whether ``text`` can be written as UTF-8: no lone surrogate (tokens never hold one, /userinfo may)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fit_value(name: str, claim: str, value: Any) -> Any:
    """Return ``value`` converted for the user model's field ``name``, or ``_UNFIT`` (with one WARNING line).

    Text fields take strings only (no NUL, which PostgreSQL refuses, nor lone surrogates, which no
    database stores), within ``max_length`` and the field's validators (``EmailField``: email
    syntax). The value itself is never logged.
    """
    field = user_model_field(name)
    problem = ""
    if field is None:
        problem = "the user model has no such field"
    elif isinstance(field, (models.CharField, models.TextField)) and not isinstance(value, str):
        problem = "not a string"
    elif isinstance(value, str) and "\x00" in value:
        problem = "holds a NUL character"
    elif isinstance(value, str) and not is_encodable(value):
        problem = "not valid Unicode"  # a lone surrogate ("\ud800" in a /userinfo answer): no database stores it
    elif isinstance(value, (dict, list)):
        problem = "not a single value"
    elif value == "" and not field.blank:
        problem = "empty"
    else:
        try:
            value = field.to_python(value)
            field.run_validators(value)
        except (ValidationError, TypeError, ValueError) as exc:
            codes = {getattr(error, "code", None) for error in getattr(exc, "error_list", ())} - {None}
            problem = f"invalid ({', '.join(sorted(map(str, codes)))})" if codes else "invalid"
    if problem:
        logger.warning("auth0_drf: claim %s does not fit user field %s (%s): skipped", claim, name, problem)
        return _UNFIT
    return value


def group_names(claim: str, value: Any) -> tuple[str, ...]:
    """Return the group names of a ``GROUPS_CLAIM`` value, sorted; names that cannot be groups are skipped."""
    names = claim_values(value)
    fitting = sorted(name for name in names if len(name) <= GROUP_NAME_MAX_LENGTH and "\x00" not in name)
    if len(fitting) < len(names):
        logger.warning(
            "auth0_drf: claim %s: %d names skipped (longer than %d characters, or holding NUL)",
            claim,
            len(names) - len(fitting),
            GROUP_NAME_MAX_LENGTH,
        )
    if len(fitting) > MAX_GROUPS:
        logger.warning("auth0_drf: claim %s names %d groups: only the first %d used", claim, len(fitting), MAX_GROUPS)
        fitting = fitting[:MAX_GROUPS]
    return tuple(fitting)


def load_plan() -> SyncPlan:
    """Return the ``SyncPlan`` of the current settings."""
    return SyncPlan(
        auth0_settings.USER_FIELDS or {},
        auth0_settings.USER_FLAGS or {},
        auth0_settings.GROUPS_CLAIM,
        auth0_settings.CLAIMS_NAMESPACE or "",
        bool(auth0_settings.MIRROR_GROUPS),
    )


#: Return the ``SyncPlan`` of the settings (one per settings change).
get_plan = BuiltFromSettings(load_plan).get


def apply_to_token_user(user: Any, claims: Claims, plan: SyncPlan | None = None) -> None:
    """Set the mapped fields and flags on a user that has no database row (``TokenUser``), and ``group_names``."""
    plan = plan or get_plan()
    if not plan.enabled:
        return
    # A token seen before comes back as the same Claims (the verified-token cache): keep what it
    # maps to on it, so a stateless user's steady state skips the digest too.
    memo: tuple[SyncPlan, Mapped] | None = claims.__dict__.get(_TOKEN_USER_MEMO)
    if memo is not None and memo[0] is plan:
        mapped = memo[1]
    else:
        mapped = plan.mapped(claims)
        claims.__dict__[_TOKEN_USER_MEMO] = (plan, mapped)
    for name, value in mapped.fields.items():
        setattr(user, name, value)
    for name, flag in mapped.flags.items():
        setattr(user, name, flag)
    if mapped.groups is not None:
        user.group_names = frozenset(mapped.groups)


def sync_user(identity: Auth0Identity, claims: Claims, fingerprint: str, plan: SyncPlan | None = None) -> Auth0Identity:
    """Write what the claims map to into the user, in one transaction; return the identity as written.

    Returns a fresh identity (its ``user`` loaded): as this call wrote it, or as another request
    wrote it meanwhile. A database failure raises ``DatabaseError`` with nothing written (the
    backend retries lock conflicts, then logs with ``log_sync_failure``).
    """
    plan = plan or get_plan()
    mapped = plan.mapped(claims, fingerprint)
    if mapped.groups and plan.mirror_groups:
        create_missing_groups(mapped.groups)
    synced = _write(identity, mapped, fingerprint)
    remember_values(synced, plan, plan.values(claims))
    return synced


def first_line(exc: BaseException) -> str:
    """Return the first line of an error's message, shortened: the lines after it (PostgreSQL's DETAIL) quote values."""
    return str(exc).strip().split("\n", 1)[0][:300]


def log_sync_failure(identity: Auth0Identity, exc: DatabaseError) -> None:
    """Log one WARNING line for a sync the database refused: the request goes on with the user as it was."""
    logger.warning(
        "auth0_drf: could not write the claims of user %s (%s: %s); it stays as it was until a later request",
        identity.user_id,
        type(exc).__name__,
        first_line(exc),
    )


def _write(identity: Auth0Identity, mapped: Mapped, fingerprint: str) -> Auth0Identity:
    with transaction.atomic():
        # Both rows locked (PostgreSQL, MySQL): concurrent first requests of one user write one
        # after the other, and the later one sees the earlier one's work and writes nothing.
        fresh = Auth0Identity.objects.select_for_update().select_related("user").get(pk=identity.pk)
        if fresh.synced_fingerprint == fingerprint:
            return fresh
        user = fresh.user
        wanted = {**mapped.fields, **mapped.flags}
        changed = [name for name, value in wanted.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, wanted[name])
        if changed:
            user.save(update_fields=changed)
        managed = list(fresh.managed_groups) if isinstance(fresh.managed_groups, list) else []
        if mapped.groups is not None:
            managed = replace_managed_groups(user, managed, mapped.groups)
        Auth0Identity.objects.filter(pk=fresh.pk).update(synced_fingerprint=fingerprint, managed_groups=managed)
    fresh.synced_fingerprint = fingerprint
    fresh.managed_groups = managed
    return fresh


def replace_managed_groups(user: Any, managed: Iterable[Any], names: Sequence[str]) -> list[int]:
    """Make the user's claim-given memberships those of ``names``; return the ids the claim now manages.

    Only existing groups count (``create_missing_groups`` has made the missing ones when
    ``MIRROR_GROUPS`` is on). Memberships not in ``managed`` were given by hand: never removed,
    and not taken over when the claim names them too.
    """
    wanted = {group.pk for group in Group.objects.filter(name__in=names) if group.name in names}
    current = set(user.groups.values_list("pk", flat=True))
    previous = {pk for pk in managed if isinstance(pk, int)}
    remove = (previous - wanted) & current
    add = wanted - current
    if remove:
        user.groups.remove(*remove)
    if add:
        user.groups.add(*add)
    return sorted((previous & wanted & current) | add)


def create_missing_groups(names: Sequence[str]) -> None:
    """Create the groups of ``names`` that do not exist yet (``MIRROR_GROUPS``), each in its own savepoint.

    Two first requests creating one group: the loser's insert fails on the unique name, and the
    group is there. A name that equals an existing one only under the database's collation
    (MySQL: ``Admin`` and ``admin``) is skipped: the claim gets no look-alike group.
    """
    existing = {group.name for group in Group.objects.filter(name__in=names)}
    for name in names:
        if name in existing:
            continue
        try:
            with transaction.atomic():
                Group.objects.create(name=name)
        except IntegrityError:
            if not Group.objects.filter(name=name).exists():
                logger.warning("auth0_drf: a group from the token clashes with an existing name: not created")


# --- the profile from /userinfo (USERINFO) ------------------------------------------------------------------

#: Seconds before a failed ``/userinfo`` fetch for a user is tried again (at most ``USERINFO_INTERVAL``).
USERINFO_RETRY = 300.0
#: How many times the background write of a profile is tried when the database is busy.
PROFILE_WRITE_ATTEMPTS = 6
#: Seconds after which a fetch that was scheduled but never started (its transaction rolled back) is forgotten.
_STALE_RESERVATION = 60.0
_profiles_lock = threading.Lock()
#: Fetches scheduled or running, by (issuer, subject): when scheduled, and the thread once started.
_profiles_running: dict[tuple[str, str], tuple[float, threading.Thread | None]] = {}
_profiles_failed: dict[tuple[str, str], float] = {}
auth0_settings.on_reset(_profiles_failed.clear)


def refresh_profile_if_due(identity: Auth0Identity, claims: Claims, plan: SyncPlan | None = None) -> None:
    """Fetch the user's ``/userinfo`` profile in the background when it is due (``USERINFO``).

    Due for a new user and then once per ``USERINFO_INTERVAL``, only for a token whose ``aud``
    includes the issuer's ``/userinfo``. Costs a comparison when not due; the fetch and the write
    run in a thread, off the request path, and a failure leaves the user as it was (one WARNING
    line, retried after ``USERINFO_RETRY`` seconds).
    """
    plan = plan or get_plan()
    fetched = identity.userinfo_at
    interval = float(auth0_settings.USERINFO_INTERVAL)
    if not plan.fields or (fetched is not None and time.time() < fetched.timestamp() + interval):
        return
    url = userinfo_url(claims)
    if url is None:
        return
    key = (claims.iss, claims.sub)
    now = time.monotonic()
    with _profiles_lock:
        running = _profiles_running.get(key)
        if (running is not None and (running[1] is not None or now - running[0] < _STALE_RESERVATION)) or (
            _profiles_failed.get(key, 0.0) > now
        ):
            return
        _profiles_running[key] = (now, None)
        # Noted at once on the (cached) identity: the requests that follow do not start another fetch.
        identity.userinfo_at = timezone.now()
    pk = identity.pk

    def start() -> None:
        thread = threading.Thread(
            target=_refresh_profile, args=(pk, claims, url, plan, key), name="auth0-drf-userinfo", daemon=True
        )
        with _profiles_lock:
            _profiles_running[key] = (now, thread)
        thread.start()

    # After the commit: under ATOMIC_REQUESTS a new user is not in the database before it.
    transaction.on_commit(start)


def wait_for_profiles(timeout: float = 10.0) -> None:
    """Wait until the ``/userinfo`` fetches running now have ended (for tests and management commands)."""
    deadline = time.monotonic() + timeout
    with _profiles_lock:
        threads = [thread for _, thread in _profiles_running.values() if thread is not None]
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))


def _refresh_profile(identity_pk: Any, claims: Claims, url: str, plan: SyncPlan, key: tuple[str, str]) -> None:
    try:
        fields = profile_fields(claims, fetch_userinfo(claims, url), plan)
        for attempt in range(PROFILE_WRITE_ATTEMPTS):
            try:
                write_profile(identity_pk, fields)
                break
            except OperationalError:
                # The request that scheduled us may still be writing (SQLite has one writer at a
                # time): off the request path, waiting a little is free.
                if attempt == PROFILE_WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
    except Exception as exc:  # a background job: whatever happens, the user stays as it was
        # The reason names the URL at most (FetchError), never the token.
        logger.warning("auth0_drf: the /userinfo profile was not applied (%s: %s)", type(exc).__name__, first_line(exc))
        with _profiles_lock:
            while len(_profiles_failed) >= 10000:
                del _profiles_failed[next(iter(_profiles_failed))]
            retry = min(USERINFO_RETRY, float(auth0_settings.USERINFO_INTERVAL))
            _profiles_failed[key] = time.monotonic() + retry
    finally:
        with _profiles_lock:
            _profiles_running.pop(key, None)
        connections.close_all()  # this thread's connections only


def profile_fields(claims: Claims, profile: Mapping[str, Any], plan: SyncPlan) -> dict[str, Any]:
    """Return the ``USER_FIELDS`` values ``profile`` (a ``/userinfo`` answer) gives for claims the token lacks.

    A claim the token carries wins: its value is the token sync's to write. Values are fitted as
    the token's are (a misfit is skipped with one WARNING line).
    """
    fields: dict[str, Any] = {}
    for name, claim in plan.fields:
        if plan.claim(claims, claim) is not None:
            continue
        value = plan.claim(profile, claim)
        if value is not None:
            fitted = fit_value(name, claim, value)
            if fitted is not _UNFIT:
                fields[name] = fitted
    return fields


def write_profile(identity_pk: Any, fields: Mapping[str, Any]) -> None:
    """Write ``fields`` into the identity's user, and the time of the fetch, in one transaction.

    ``userinfo_at`` records the fetch even when nothing changed.
    """
    with transaction.atomic():
        fresh = Auth0Identity.objects.select_for_update().select_related("user").get(pk=identity_pk)
        user = fresh.user
        changed = [name for name, value in fields.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, fields[name])
        if changed:
            user.save(update_fields=changed)  # its signal drops the user from the user cache
        Auth0Identity.objects.filter(pk=identity_pk).update(userinfo_at=timezone.now())
