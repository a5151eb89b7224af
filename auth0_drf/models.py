"""Database records: the link from a token's identity to a Django user, and recently seen claims."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Auth0Identity(models.Model):
    """Link an (issuer, subject) pair to a Django user.

    Users are never found by username, so a token can never log in as a local account that
    merely shares its name, and two issuers' identical subjects never collide.
    """

    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth0_identities", verbose_name=_("user")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("Auth0 identity")
        verbose_name_plural = _("Auth0 identities")
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="auth0_drf_unique_identity")]

    def __str__(self) -> str:
        return f"{self.subject} ({self.issuer})"


class ClaimRecord(models.Model):
    """The custom claims last seen in verified tokens of one subject, client and issuer.

    Never holds the token or its signature; claims named in ``REDACTED_CLAIMS`` are stored
    with their value replaced.
    """

    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255, db_index=True)
    client_id = models.CharField(_("client"), max_length=255, blank=True, default="")
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

    class Meta:
        verbose_name = _("recorded claims")
        verbose_name_plural = _("recorded claims")
        ordering = ["-last_seen"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject", "client_id"], name="auth0_drf_unique_claim_record")
        ]

    def __str__(self) -> str:
        return f"{self.subject} via {self.client_id or '-'}"
