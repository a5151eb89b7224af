"""Map a verified token's identity (issuer, ``sub``) to a Django user, in the style of RemoteUserBackend."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save
from django.utils.module_loading import import_string

from .claims import Claims
from .conf import BuiltFromSettings, auth0_settings
from .errors import UnknownSubject, UserRejected
from .models import Auth0Identity

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

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
    """Remember looked-up users for a few seconds so that steady-state requests make no query.

    Entries are dropped when the user or its identity link is saved or deleted in this
    process; other processes see such a change within ``USER_CACHE_TTL`` seconds.
    """

    timer: Callable[[], float] = staticmethod(time.monotonic)
    max_entries = 10000

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[Any, float]] = {}
        self._lock = threading.Lock()
        #: Bumped by every forget and clear: a lookup that started before one must not store
        #: what it read, which may predate the change (a user deactivated meanwhile).
        self.version = 0

    def get(self, key: tuple[str, str]) -> Any | None:
        entry = self._entries.get(key)
        if entry is not None and self.timer() < entry[1]:
            return entry[0]
        return None

    def put(self, key: tuple[str, str], user: Any, ttl: float, version: int | None = None) -> None:
        """Remember ``user``; with ``version`` (read before the lookup), only if nothing was forgotten since."""
        if ttl <= 0:
            return
        with self._lock:
            if version is not None and version != self.version:
                return
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (user, self.timer() + ttl)

    def forget_user(self, pk: Any) -> None:
        with self._lock:
            self.version += 1
            for key in [key for key, (user, _) in self._entries.items() if user.pk == pk]:
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

    def get_user(self, claims: Claims, request: HttpRequest | None = None) -> Any:
        """Return the user for ``claims``, raising ``UserRejected`` when it may not authenticate."""
        if auth0_settings.STATELESS_USERS or (claims.is_machine and auth0_settings.MACHINE_USERS == "stateless"):
            return TokenUser(claims)
        key = (claims.iss, claims.sub)
        user = user_cache.get(key)
        if user is None:
            user = self.find_or_create_user(claims, request)
        if not self.user_can_authenticate(user):
            raise UserRejected()
        return user

    def find_or_create_user(self, claims: Claims, request: HttpRequest | None) -> Any:
        """Look the identity up, creating user and identity together on first sight."""
        key = (claims.iss, claims.sub)
        version = user_cache.version
        identity = self.find_identity(claims)
        if identity is not None:
            user_cache.put(key, identity.user, auth0_settings.USER_CACHE_TTL, version)
            return identity.user
        if not (self.create_unknown_user and auth0_settings.CREATE_USERS):
            raise UnknownSubject()
        try:
            # User and identity commit together or not at all. When two first requests for the
            # same subject race, the unique (issuer, subject) constraint lets exactly one win;
            # the loser rolls back its user and reads the winner's.
            user = self.create_user_and_identity(claims, request)
        except IntegrityError:
            identity = self.find_identity(claims)
            if identity is not None:
                return identity.user
            # No identity, so the username was taken by someone else after clean_username()
            # looked (a local account created at that instant): the digest name cannot be.
            user = self.create_user_and_identity(claims, request, username=self.digest_username(claims))
        user = self.configure_user(request, user, claims, created=True)
        # Read after our own saves (their signals bump it): a change made by someone else
        # before the commit still prevents the put.
        version = user_cache.version
        # Cache only once committed: an outer transaction (ATOMIC_REQUESTS) might roll back.
        transaction.on_commit(lambda: user_cache.put(key, user, auth0_settings.USER_CACHE_TTL, version))
        return user

    def find_identity(self, claims: Claims) -> Auth0Identity | None:
        """Return the identity link for the token's issuer and subject, with its user."""
        return Auth0Identity.objects.select_related("user").filter(issuer=claims.iss, subject=claims.sub).first()

    def create_user_and_identity(self, claims: Claims, request: HttpRequest | None, username: str | None = None) -> Any:
        """Create the user and its identity link in one transaction; return the user."""
        with transaction.atomic():
            user = self.create_user(claims, request, username=username)
            Auth0Identity.objects.create(issuer=claims.iss, subject=claims.sub, user=user)
        return user

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

        Long, non-ASCII or look-alike subjects, and subjects that equal an existing username,
        get ``auth0-<digest>`` instead, so they can neither break the user table nor be
        confused with a local account.
        """
        User = get_user_model()
        field = User._meta.get_field(User.USERNAME_FIELD)
        max_length = getattr(field, "max_length", None) or 150
        sub = claims.sub
        if len(sub) <= max_length and _SAFE_USERNAME.fullmatch(sub):
            if not User._default_manager.filter(**{f"{User.USERNAME_FIELD}__iexact": sub}).exists():
                return sub
        return self.digest_username(claims)

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


def load_backend() -> Auth0UserBackend:
    """Return a new instance of the configured ``USER_BACKEND``."""
    return import_string(auth0_settings.USER_BACKEND)()


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
