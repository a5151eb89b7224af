"""Database records: the link from a token's identity to a Django user, and recently seen claims."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db import models
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
