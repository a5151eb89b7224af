"""Map a verified token's identity (issuer, ``sub``) to a Django user, in the style of RemoteUserBackend."""

from __future__ import annotations

import hashlib
import logging
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterator
from itertools import count, islice
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.db.models.signals import post_delete, post_save
from django.utils.module_loading import import_string

from .challenges import header_safe
from .claims import Claims
from .conf import BuiltFromSettings, auth0_settings
from .errors import DatabaseUnavailable, UnknownSubject, UsernameUnavailable, UserRejected
from .models import Auth0Identity, ClaimRecord
from .revocation import check_not_revoked
from .usersync import (
    SyncPlan,
    apply_to_token_user,
    get_plan,
    log_sync_failure,
    refresh_profile_if_due,
    remember_refused,
    sync_user,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

logger = logging.getLogger("auth0_drf")

_SAFE_USERNAME = re.compile(r"[A-Za-z0-9@.+_|:-]+")


class TokenUser:
    """A user that exists only in the token: no database row.

    Used when ``STATELESS_USERS`` is on, and for machine-to-machine tokens by default
    (``MACHINE_USERS = "stateless"``). ``pk`` is the token's ``sub``, so per-user throttles work.
    """

    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False
    is_authenticated = True

    def __init__(self, claims: Claims) -> None:
        self.claims = claims
        self.pk = self.id = self.username = claims.sub

    @property
    def is_machine(self) -> bool:
        return self.claims.is_machine

    def __str__(self) -> str:
        return self.username

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenUser) and other.pk == self.pk and other.claims.iss == self.claims.iss

    def __hash__(self) -> int:
        return hash((self.claims.iss, self.pk))

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, module: str) -> bool:
        return False

    def get_all_permissions(self, obj: Any = None) -> set[str]:
        return set()


class UserCache:
    """Remember looked-up identities, each with its user, for a few seconds: steady-state requests make no query.

    An entry is the ``Auth0Identity`` with its ``user`` loaded, so what the identity row holds
    besides the link is at hand without a query too. Entries are dropped when the user or its
    identity link is saved or deleted in this process; other processes see such a change within
    ``USER_CACHE_TTL`` seconds.
    """

    timer: Callable[[], float] = staticmethod(time.monotonic)
    max_entries = 10000

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[Auth0Identity, float]] = {}
        self._lock = threading.Lock()
        #: Bumped by every forget and clear: a lookup that started before one must not store
        #: what it read, which may predate the change (a user deactivated meanwhile).
        self.version = 0

    def get(self, key: tuple[str, str]) -> Auth0Identity | None:
        entry = self._entries.get(key)
        if entry is not None and self.timer() < entry[1]:
            return entry[0]
        return None

    def put(self, key: tuple[str, str], identity: Auth0Identity, ttl: float, version: int | None = None) -> None:
        """Remember ``identity`` (its user loaded).

        With ``version`` (read before the lookup), only if nothing was forgotten since.
        """
        if ttl <= 0:
            return
        with self._lock:
            if version is not None and version != self.version:
                return
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (identity, self.timer() + ttl)

    def forget_user(self, pk: Any) -> None:
        with self._lock:
            self.version += 1
            for key in [key for key, (identity, _) in self._entries.items() if identity.user_id == pk]:
                del self._entries[key]

    def forget_key(self, key: tuple[str, str]) -> None:
        with self._lock:
            self.version += 1
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self.version += 1
            self._entries.clear()


user_cache = UserCache()
auth0_settings.on_reset(user_cache.clear)


class Auth0UserBackend:
    """Find or create the Django user for a verified token.

    Override the hooks to change how users are found, named, created and configured, as with
    ``django.contrib.auth.backends.RemoteUserBackend``; point ``USER_BACKEND`` at the subclass.
    """

    #: Create a user on first sight of an unknown subject (``CREATE_USERS`` overrides).
    create_unknown_user = True
    #: How many usernames ``free_username`` considers for a new subject.
    max_username_candidates = 10
    #: How many times creating a new user is attempted when the chosen username turns out taken.
    max_create_attempts = 3
    #: How many more times creating a new user is tried after a lock conflict rolled it back
    #: (SQLite's "database is locked", a deadlock), pausing a little longer before each.
    max_locked_retries = 5
    #: Seconds of the first pause after a lock conflict; each next one doubles (the five default
    #: pauses add up to at most 1.55 s, with some randomness so that waiting requests spread out).
    locked_retry_pause = 0.05
    #: Seconds for the 503's ``Retry-After`` when the database stayed locked through the retries.
    locked_retry_after = 1

    def get_user(self, claims: Claims, request: HttpRequest | None = None) -> Any:
        """Return the user for ``claims``, raising ``UserRejected`` when it may not authenticate.

        Raises ``DatabaseUnavailable`` (a 503) when the database fails during the lookup, e.g.
        because ``manage.py migrate`` was not run, and ``UsernameUnavailable`` (a 503) when no
        username could be found for a new subject.
        """
        if auth0_settings.STATELESS_USERS or (claims.is_machine and auth0_settings.MACHINE_USERS == "stateless"):
            token_user = TokenUser(claims)
            apply_to_token_user(token_user, claims, self.sync_plan())
            return token_user
        identity = user_cache.get((claims.iss, claims.sub))
        if identity is None:
            try:
                identity = self.find_or_create_identity(claims, request)
            except DatabaseError as exc:
                # The boundary of the user lookup: a missing table (migrate not run) or a database
                # that is down is the server's problem, answered with a 503 and one clear log line,
                # not a 500 with a stack trace.
                log_database_error(exc)
                unavailable = DatabaseUnavailable()
                if is_lock_conflict(exc):
                    # Busy, not broken: worth trying again soon.
                    unavailable.retry_after = self.locked_retry_after
                raise unavailable from None
        check_not_revoked(identity, claims)
        if not self.user_can_authenticate(identity.user):
            raise UserRejected()
        plan = self.sync_plan()
        if plan.enabled:
            # USER_FIELDS, USER_FLAGS, GROUPS_CLAIM: compared in memory; written only on a change.
            fingerprint = plan.stale(identity, claims)
            if fingerprint is not None:
                identity = self.sync_identity(identity, claims, fingerprint)
            if auth0_settings.USERINFO:
                refresh_profile_if_due(identity, claims, plan)
        return identity.user

    def sync_plan(self) -> SyncPlan:
        """Return the claims-to-user mapping (``USER_FIELDS``, ``USER_FLAGS``, ``GROUPS_CLAIM``) to keep users in."""
        return get_plan()

    def sync_identity(self, identity: Auth0Identity, claims: Claims, fingerprint: str) -> Auth0Identity:
        """Write the mapped claims into the user (``usersync.sync_user``) and cache the identity as written.

        Never raises for a database failure: lock conflicts are retried as when creating a user
        (``max_locked_retries``), then the failure is logged and the user stays as it was. A
        refusal that is not a busy database (a unique constraint) is not tried again while the
        identity stays cached (``usersync.remember_refused``).
        """
        own_transaction = not transaction.get_connection().in_atomic_block
        retries = 0
        while True:
            try:
                synced = sync_user(identity, claims, fingerprint, self.sync_plan())
                break
            except DatabaseError as exc:
                # Concurrent first requests on SQLite: the sync's read-then-write meets another writer.
                if own_transaction and is_lock_conflict(exc) and retries < self.max_locked_retries:
                    self.pause_after_lock_conflict(retries)
                    retries += 1
                    continue
                log_sync_failure(identity, exc)
                if not isinstance(exc, OperationalError):
                    # Not busy but refused (IntegrityError, DataError): the same values would be again.
                    remember_refused(identity, fingerprint)
                return identity
        key = (claims.iss, claims.sub)
        version = user_cache.version  # after our saves, whose signals bumped it
        transaction.on_commit(lambda: user_cache.put(key, synced, auth0_settings.USER_CACHE_TTL, version))
        return synced

    def find_or_create_user(self, claims: Claims, request: HttpRequest | None) -> Any:
        """Return the user of the token's identity, creating user and identity together on first sight."""
        return self.find_or_create_identity(claims, request).user

    def find_or_create_identity(self, claims: Claims, request: HttpRequest | None) -> Auth0Identity:
        """Look the identity up (with its user), creating user and identity together on first sight."""
        key = (claims.iss, claims.sub)
        version = user_cache.version
        identity = self.find_identity(claims)
        if identity is not None:
            user_cache.put(key, identity, auth0_settings.USER_CACHE_TTL, version)
            return identity
        if not (self.create_unknown_user and auth0_settings.CREATE_USERS):
            raise UnknownSubject()
        username: str | None = self.clean_username(claims)
        tried: set[str] = set()
        created: Auth0Identity | None = None
        last_error: IntegrityError | OperationalError | None = None
        # Whether our atomic block below is the whole transaction (no ATOMIC_REQUESTS around it).
        own_transaction = not transaction.get_connection().in_atomic_block
        attempts = locked_retries = 0
        while created is None and username is not None and attempts < self.max_create_attempts:
            attempts += 1
            try:
                # User and identity commit together or not at all. When two first requests for
                # the same subject race, the unique identity key lets exactly one win; the loser
                # rolls back its user and reads the winner's.
                created = self.create_user_and_identity(claims, request, username=username)
            except IntegrityError as exc:
                identity = self.find_identity(claims)
                if identity is not None:
                    return identity
                # No identity, so the username was taken after it was checked (a local account
                # created at that instant), or equals a taken one only under the database's
                # collation (MySQL: "Bob" and "bob", "bob " and "bob"): never link to that
                # account, try the next free name.
                last_error = exc
                tried.add(username)
                username = self.free_username(claims, exclude=tried)
            except OperationalError as exc:
                # Lock conflicts between first requests. On InnoDB several first requests of one
                # subject can deadlock: when the loser of the race rolls back its new user, the
                # requests that waited for that username each hold a shared lock and want to
                # insert (MySQL error 1213). On SQLite, a transaction that has read and then
                # writes gets "database is locked" at once, whatever the timeout, while another
                # one writes (always before Django 5.1, which has no transaction_mode option).
                # The database rolled our transaction back; when it was ours alone, look again
                # and retry. Inside an outer transaction it is gone: the 503 of get_user().
                if not own_transaction:
                    raise
                identity = self.find_identity(claims)
                if identity is not None:
                    return identity
                last_error = exc
                if is_lock_conflict(exc) and locked_retries < self.max_locked_retries:
                    # A lock conflict is no failed attempt at a username: pause, then try again.
                    self.pause_after_lock_conflict(locked_retries)
                    locked_retries += 1
                    attempts -= 1
        if created is None:
            if isinstance(last_error, OperationalError):
                raise last_error
            log_no_username(claims, last_error)
            raise UsernameUnavailable()
        new_identity = created
        new_identity.user = self.configure_user(request, new_identity.user, claims, created=True)
        # Read after our own saves (their signals bump it): a change made by someone else
        # before the commit still prevents the put.
        version = user_cache.version
        # Cache only once committed: an outer transaction (ATOMIC_REQUESTS) might roll back.
        transaction.on_commit(lambda: user_cache.put(key, new_identity, auth0_settings.USER_CACHE_TTL, version))
        return new_identity

    def pause_after_lock_conflict(self, retries: int) -> None:
        """Wait before retrying after the ``retries``-th lock conflict: ``locked_retry_pause`` doubled each time.

        Between half and all of that, at random, so that requests that collided do not collide again.
        """
        time.sleep(self.locked_retry_pause * 2**retries * random.uniform(0.5, 1.0))

    def find_identity(self, claims: Claims) -> Auth0Identity | None:
        """Return the identity link for the token's issuer and subject, with its user."""
        # By the exact key, never by the columns: MySQL would match "auth0|Bob" for "auth0|bob".
        return Auth0Identity.objects.select_related("user").for_subject(claims.iss, claims.sub).first()

    def create_user_and_identity(
        self, claims: Claims, request: HttpRequest | None, username: str | None = None
    ) -> Auth0Identity:
        """Create the user and its identity link in one transaction; return the identity, its ``user`` set."""
        with transaction.atomic():
            user = self.create_user(claims, request, username=username)
            # By its key: the user is of whatever model AUTH_USER_MODEL names (the stubs assume User).
            identity = Auth0Identity.objects.create(issuer=claims.iss, subject=claims.sub, user_id=user.pk)
        identity.user = user  # type: ignore[assignment]
        return identity

    def create_user(self, claims: Claims, request: HttpRequest | None, username: str | None = None) -> AbstractBaseUser:
        """Create the user row for a new subject, with an unusable password.

        ``username`` defaults to ``clean_username(claims)``.
        """
        User = get_user_model()
        user = User(**{User.USERNAME_FIELD: username or self.clean_username(claims)})
        user.set_unusable_password()
        user.save()
        return user

    def clean_username(self, claims: Claims) -> str:
        """Return the username for a new user: the ``sub`` when it is safe and free, else a digest.

        Long, non-ASCII or look-alike subjects, and subjects that equal an existing username
        (ignoring case), get ``auth0-<digest>`` instead, so they can neither break the user
        table nor be confused with a local account; if that is taken too, the next free name of
        ``username_candidates``. Raises ``UsernameUnavailable`` when none is free.
        """
        username = self.free_username(claims)
        if username is None:
            log_no_username(claims, None)
            raise UsernameUnavailable()
        return username

    def free_username(self, claims: Claims, exclude: Collection[str] = ()) -> str | None:
        """Return the first of ``username_candidates`` that no user holds (ignoring case), or None.

        At most ``max_username_candidates`` names are considered, one query each (usually one
        in all); names in ``exclude`` are skipped without a query.
        """
        User = get_user_model()
        users = User._default_manager
        for candidate in islice(self.username_candidates(claims), self.max_username_candidates):
            if candidate in exclude:
                continue
            if not users.filter(**{f"{User.USERNAME_FIELD}__iexact": candidate}).exists():
                return candidate
        return None

    def username_candidates(self, claims: Claims) -> Iterator[str]:
        """Yield the usernames a new subject may get, best first (an endless iterator).

        The ``sub`` itself when it is short and plain; then ``digest_username()``; then that with
        ``-2`` and ``-3``; then ``auth0-<random>`` names. The deterministic names keep usernames
        predictable; the random ones mean that nobody who can choose usernames (a sign-up form,
        a subject of another issuer) can take every name a subject could get in advance, and so
        lock it out.
        """
        User = get_user_model()
        field = User._meta.get_field(User.USERNAME_FIELD)
        max_length = getattr(field, "max_length", None) or 150
        sub = claims.sub
        if len(sub) <= max_length and _SAFE_USERNAME.fullmatch(sub):
            yield sub
        digest = self.digest_username(claims)
        yield digest[:max_length]
        for n in (2, 3):
            yield digest[: max_length - 2] + f"-{n}"
        for _ in count():
            yield f"auth0-{secrets.token_hex(16)}"[:max_length]

    def digest_username(self, claims: Claims) -> str:
        """Return ``auth0-<digest of issuer and sub>``: a username no subject can take by accident."""
        digest = hashlib.sha256(f"{claims.iss}\n{claims.sub}".encode()).hexdigest()
        return f"auth0-{digest[:32]}"

    def configure_user(self, request: HttpRequest | None, user: Any, claims: Claims, created: bool = True) -> Any:
        """Configure a newly created user from its claims (a hook; does nothing by default)."""
        return user

    def user_can_authenticate(self, user: Any) -> bool:
        """Reject users whose ``is_active`` is False, as Django's ModelBackend does."""
        return getattr(user, "is_active", True)


# SQLite's "database is locked" (SQLITE_BUSY) and "database table is locked" (SQLITE_LOCKED);
# MySQL's and MariaDB's deadlock (1213) and lock wait timeout (1205); PostgreSQL's deadlock
# (40P01), serialization failure (40001) and lock not available (55P03).
_SQLITE_LOCKED = ("database is locked", "database table is locked")
_MYSQL_LOCK_ERRORS = (1205, 1213)
_POSTGRES_LOCK_STATES = ("40P01", "40001", "55P03")


def is_lock_conflict(exc: BaseException) -> bool:
    """Return whether a database error is a lock conflict that a new transaction may not meet.

    Read from the driver's own error (``__cause__``: Django wraps it) by its code where the driver
    gives one, and by SQLite's messages, which every Python version has.
    """
    cause = exc.__cause__ or exc
    if any(text in str(cause) for text in _SQLITE_LOCKED):
        return True
    args = getattr(cause, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_LOCK_ERRORS:
        return True
    # psycopg 3 names it sqlstate, psycopg2 pgcode.
    return (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)) in _POSTGRES_LOCK_STATES


def log_database_error(exc: DatabaseError) -> None:
    """Log one ERROR line for a database failure during a user lookup, naming the fix when it is known.

    Only the exception's class and message: the database names the table or column, never a
    token (tokens are never sent to the database).
    """
    message = str(exc)
    tables = (Auth0Identity._meta.db_table, ClaimRecord._meta.db_table, get_user_model()._meta.db_table)
    if any(table in message for table in tables) or "lookup_key" in message:
        # A missing table or column of ours or of the user model: the migrations were not run
        # (or not since an upgrade). Every database says so in its own words, naming the table.
        logger.error(
            "auth0_drf: the database is missing auth0_drf's tables or columns: run `manage.py migrate` "
            "(answering 503 until then): %s: %s",
            type(exc).__name__,
            message,
        )
    elif is_lock_conflict(exc):
        # Many first requests at once on a database with one writer at a time (SQLite), most often.
        logger.error(
            "auth0_drf: the database stayed locked while creating the user of a verified token, through every "
            "retry (answering 503): %s: %s",
            type(exc).__name__,
            message,
        )
    else:
        logger.error(
            "auth0_drf: the database failed while looking up the user of a verified token (answering 503): %s: %s",
            type(exc).__name__,
            message,
        )


def log_no_username(claims: Claims, exc: Exception | None) -> None:
    """Log one ERROR line when no username could be found for a new subject (verified iss and sub only)."""
    logger.error(
        "auth0_drf: no free username for a new user (answering 503): iss=%s sub=%s%s",
        header_safe(claims.iss)[:200],
        header_safe(claims.sub)[:200],
        f" last error: {type(exc).__name__}: {exc}" if exc is not None else "",
    )


def load_backend() -> Auth0UserBackend:
    """Return a new instance of the configured ``USER_BACKEND``."""
    backend_class: type[Auth0UserBackend] = import_string(auth0_settings.USER_BACKEND)
    return backend_class()


#: Return the configured ``USER_BACKEND`` instance (one per settings change).
get_backend = BuiltFromSettings(load_backend).get


def _forget_saved_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_cache.forget_user(instance.pk)


def _forget_identity_user(sender: Any, instance: Auth0Identity, created: bool = False, **kwargs: Any) -> None:
    user_cache.forget_key((instance.issuer, instance.subject))
    user_cache.forget_user(instance.user_id)
    if not created and kwargs.get("signal") is post_save:
        # An existing link was edited (an admin action, rare): it may have moved to another
        # user, or to another subject, and the old entry names neither the new user nor the
        # new key; start afresh. Links created on first sight (the common case) clear nothing.
        user_cache.clear()


post_save.connect(_forget_saved_user, sender=get_user_model(), dispatch_uid="auth0_drf_user_saved")
post_delete.connect(_forget_saved_user, sender=get_user_model(), dispatch_uid="auth0_drf_user_deleted")
post_save.connect(_forget_identity_user, sender=Auth0Identity, dispatch_uid="auth0_drf_identity_saved")
post_delete.connect(_forget_identity_user, sender=Auth0Identity, dispatch_uid="auth0_drf_identity_deleted")
