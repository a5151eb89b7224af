"""Database records: the link from a token's identity to a Django user, recently seen claims and their changes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def exact_key(*parts: str) -> str:
    """Return the SHA-256 (64 hex digits) of ``parts``, which differs whenever any part differs by one code point.

    Why a digest and not the columns themselves: MySQL's and MariaDB's default collations
    compare strings ignoring case, accents and trailing spaces, so ``auth0|Alice`` equals
    ``auth0|alice`` there, in ``WHERE`` clauses and in unique indexes alike. A digest of the
    exact text is lowercase hexadecimal, which every collation of every database compares
    byte for byte, and needs no per-backend collation name. It also keeps the unique index
    short (a unique index over three ``varchar(255)`` columns in utf8mb4 is near MySQL's
    3072-byte limit). The parts are encoded as a JSON array with ``\\uXXXX`` escapes, so the
    encoding is unambiguous (no separator can be forged) and never fails, even on lone
    surrogates.
    """
    return hashlib.sha256(json.dumps(parts).encode("ascii")).hexdigest()


_KeyedModel = TypeVar("_KeyedModel", bound="Auth0Identity | ClaimRecord")


# QuerySet[...] works at run time too: Django's QuerySet has __class_getitem__ (since 3.1).
class KeyedQuerySet(models.QuerySet[_KeyedModel]):
    """A queryset whose ``bulk_create`` fills in ``lookup_key``, which ``save()`` would set."""

    def bulk_create(self, objs: Iterable[_KeyedModel], *args: Any, **kwargs: Any) -> list[_KeyedModel]:
        objs = list(objs)
        for obj in objs:
            obj.lookup_key = obj.compute_lookup_key()
        return super().bulk_create(objs, *args, **kwargs)


class Auth0IdentityQuerySet(KeyedQuerySet["Auth0Identity"]):
    """Queries on identity links."""

    def for_subject(self, issuer: str, subject: str) -> Auth0IdentityQuerySet:
        """Return the link of exactly this (issuer, subject): compared byte for byte on every database."""
        return self.filter(lookup_key=Auth0Identity.key_for(issuer, subject))

    def revoke_tokens(
        self, issuer: str | None = None, subject: str | None = None, *, at: datetime | None = None
    ) -> int:
        """Refuse the tokens issued before ``at`` (default: now) of these identities; return how many there were.

        ``Auth0Identity.objects.revoke_tokens(issuer, subject)`` revokes one subject's tokens;
        without ``issuer`` and ``subject``, every identity of the queryset
        (``Auth0Identity.objects.filter(user=user).revoke_tokens()``). A subject never seen here
        has no identity, so nothing is recorded and 0 is returned: block it at Auth0 instead.
        Each identity is saved (not ``update()``d), so this process's user cache forgets it at
        once; other processes within ``USER_CACHE_TTL``.
        """
        if (issuer is None) != (subject is None):
            raise TypeError("revoke_tokens() takes both issuer and subject, or neither.")
        identities = self if issuer is None or subject is None else self.for_subject(issuer, subject)
        at = at or timezone.now()
        count = 0
        for identity in identities:
            identity.revoke_tokens(at)
            count += 1
        return count


class Auth0Identity(models.Model):
    """Link an (issuer, subject) pair to a Django user.

    Users are never found by username, so a token can never log in as a local account that
    merely shares its name, and two issuers' identical subjects never collide. The pair is
    found and kept unique by ``lookup_key`` (see ``exact_key``), so subjects that differ only in
    case, accents or trailing spaces are different identities on every database; ``issuer``
    and ``subject`` keep the readable values for the admin. ``save()`` and ``bulk_create()``
    set the key; ``QuerySet.update()`` of ``issuer`` or ``subject`` does not, so do not use it.
    """

    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    lookup_key = models.CharField(_("lookup key"), max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth0_identities", verbose_name=_("user")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    #: Tokens of this identity whose ``iat`` is before this moment are refused (``revoke_tokens()``).
    tokens_revoked_at = models.DateTimeField(
        _("tokens revoked at"),
        null=True,
        blank=True,
        help_text=_(
            "Access tokens of this identity issued before this moment are refused with 401 token_revoked. "
            "Empty: none are."
        ),
    )
    #: The fingerprint of the mapped claims last written to the user (``auth0_drf.usersync``):
    #: compared in memory on every request, so the user is written only when they change.
    synced_fingerprint = models.CharField(_("synced claims fingerprint"), max_length=64, blank=True, default="")
    #: The ids of the groups the user is a member of because ``GROUPS_CLAIM`` said so (memberships
    #: given by hand are not listed, and the sync leaves them alone).
    managed_groups = models.JSONField(_("groups from the token"), default=list, blank=True)
    #: When the issuer's ``/userinfo`` was last fetched for this user (``USERINFO``), or None.
    userinfo_at = models.DateTimeField(_("profile fetched"), null=True, blank=True)

    objects = Auth0IdentityQuerySet.as_manager()

    class Meta:
        verbose_name = _("Auth0 identity")
        verbose_name_plural = _("Auth0 identities")

    def __str__(self) -> str:
        return f"{self.subject} ({self.issuer})"

    @classmethod
    def key_for(cls, issuer: str, subject: str) -> str:
        """Return the ``lookup_key`` of the link of (``issuer``, ``subject``)."""
        return exact_key(issuer, subject)

    def compute_lookup_key(self) -> str:
        """Return the ``lookup_key`` this link's current issuer and subject call for."""
        return self.key_for(self.issuer, self.subject)

    def revoke_tokens(self, at: datetime | None = None) -> None:
        """Refuse this identity's tokens issued before ``at`` (default: now), and save.

        A token is refused when its ``iat`` is before ``at``, or when it has no ``iat``; tokens
        issued at or after ``at`` are accepted. A revocation never moves back: if the identity
        was already revoked at a later moment, that one stays. Saving drops the identity from
        this process's user cache at once; other processes see it within ``USER_CACHE_TTL``.
        """
        at = at or timezone.now()
        if settings.USE_TZ and timezone.is_naive(at):
            raise ValueError("revoke_tokens() needs an aware datetime when USE_TZ is on.")
        if self.tokens_revoked_at is not None and self.tokens_revoked_at >= at:
            return
        self.tokens_revoked_at = at
        self.save(update_fields=["tokens_revoked_at"])

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, setting ``lookup_key`` from the issuer and subject first (links made in the admin too)."""
        self.lookup_key = self.compute_lookup_key()
        _add_key_to_update_fields(kwargs, ("issuer", "subject"))
        super().save(*args, **kwargs)


def _add_key_to_update_fields(kwargs: dict[str, Any], sources: Sequence[str]) -> None:
    # save(update_fields=["subject"]) must write the new key with the new subject.
    fields = kwargs.get("update_fields")
    if fields is not None and any(name in fields for name in sources) and "lookup_key" not in fields:
        kwargs["update_fields"] = [*fields, "lookup_key"]


class ClaimRecordQuerySet(KeyedQuerySet["ClaimRecord"]):
    """Queries on claim records."""

    def for_subject(self, issuer: str, subject: str, client_id: str = "") -> ClaimRecordQuerySet:
        """Return the record of exactly this (issuer, subject, client): compared byte for byte on every database."""
        return self.filter(lookup_key=ClaimRecord.key_for(issuer, subject, client_id))


class ClaimRecord(models.Model):
    """The custom claims last seen in verified tokens of one subject, client and issuer.

    Never holds the token or its signature; claims named in ``REDACTED_CLAIMS`` are stored
    with their value replaced. Like ``Auth0Identity``, a record is found and kept unique by a
    ``lookup_key`` of the exact (issuer, subject, client), so near-duplicate subjects never
    share a record on MySQL or MariaDB.
    """

    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255, db_index=True)
    client_id = models.CharField(_("client"), max_length=255, blank=True, default="")
    lookup_key = models.CharField(_("lookup key"), max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="auth0_claim_records",
        verbose_name=_("user"),
    )
    claims = models.JSONField(_("custom claims"), default=dict)
    claim_names = models.TextField(_("claim names"), blank=True, default="")
    scopes = models.JSONField(_("scopes granted"), default=list)
    fingerprint = models.CharField(max_length=64, default="")
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"), db_index=True)
    times_seen = models.PositiveBigIntegerField(_("times seen"), default=0)
    #: Per redacted claim, a keyed digest (HMAC with ``SECRET_KEY``) of its value: how a change
    #: of a redacted claim is seen without its value being stored.
    redacted_digests = models.JSONField(_("digests of redacted claims"), default=dict, blank=True)

    objects = ClaimRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("recorded claims")
        verbose_name_plural = _("recorded claims")
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.subject} via {self.client_id or '-'}"

    @classmethod
    def key_for(cls, issuer: str, subject: str, client_id: str = "") -> str:
        """Return the ``lookup_key`` of the record of (``issuer``, ``subject``, ``client_id``)."""
        return exact_key(issuer, subject, client_id or "")

    def compute_lookup_key(self) -> str:
        """Return the ``lookup_key`` this record's current issuer, subject and client call for."""
        return self.key_for(self.issuer, self.subject, self.client_id)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, setting ``lookup_key`` from the issuer, subject and client first."""
        self.lookup_key = self.compute_lookup_key()
        _add_key_to_update_fields(kwargs, ("issuer", "subject", "client_id"))
        super().save(*args, **kwargs)


class ClaimChange(models.Model):
    """One change of one custom claim of a recorded subject: its name, old and new value, and when.

    Written only when the recorder sees the claims change, deleted with its record (and pruned
    per record and in total). A redacted claim's change is recorded with ``redacted`` set and no
    values. ``old_present``/``new_present`` tell a claim that appeared or went from one whose value
    is ``null``.
    """

    record = models.ForeignKey(
        ClaimRecord, on_delete=models.CASCADE, related_name="changes", verbose_name=_("recorded claims")
    )
    claim = models.TextField(_("claim"))
    old_value = models.JSONField(_("old value"), null=True, blank=True)
    new_value = models.JSONField(_("new value"), null=True, blank=True)
    old_present = models.BooleanField(_("claim was present"), default=True)
    new_present = models.BooleanField(_("claim is present"), default=True)
    redacted = models.BooleanField(_("redacted"), default=False)
    changed_at = models.DateTimeField(_("seen changed at"), db_index=True)

    class Meta:
        verbose_name = _("claim change")
        verbose_name_plural = _("claim changes")
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.claim} of {self.record_id}"


class TokenInspector(models.Model):
    """No table: the admin entry of the token inspector, and the permission to use it.

    ``auth0_drf.use_token_inspector`` is the only permission; nothing is ever stored here.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("use_token_inspector", _("Can use the token inspector"))]
        verbose_name = _("token inspector")
        verbose_name_plural = _("token inspector")


class RejectionCount(models.Model):
    """How many requests were rejected with one code, for one issuer and client, in one time bucket.

    Written by ``auth0_drf.rejectcounts``, which adds counts (never sets them), so the rows
    merge what every worker process counted. ``issuer``, ``client_id`` and ``audience`` hold
    values of tokens whose signature was verified, or ``"unverified"``; nothing else of a
    token is kept: never the token, an unverified claim, an IP address or a user agent. The
    row is found by ``lookup_key``, a digest of the exact (bucket, code, issuer, client,
    audience), so case-insensitive collations (MySQL, MariaDB) cannot merge two clients.
    """

    bucket = models.DateTimeField(_("time bucket"), db_index=True)
    code = models.CharField(_("code"), max_length=64)
    issuer = models.CharField(_("issuer"), max_length=255)
    client_id = models.CharField(_("client"), max_length=255)
    audience = models.CharField(_("audience"), max_length=255, blank=True, default="")
    lookup_key = models.CharField(_("lookup key"), max_length=64, unique=True, editable=False)
    count = models.PositiveBigIntegerField(_("count"), default=0)
    last_seen = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("rejection count")
        verbose_name_plural = _("rejections")
        ordering = ["-bucket", "code"]

    def __str__(self) -> str:
        return f"{self.code} x{self.count} at {self.bucket:%Y-%m-%d %H:%M}"

    @classmethod
    def key_for(cls, bucket: int, code: str, issuer: str, client_id: str, audience: str = "") -> str:
        """Return the ``lookup_key`` of a bucket (seconds since the epoch), code, issuer, client and audience."""
        return exact_key(str(bucket), code, issuer, client_id, audience)
