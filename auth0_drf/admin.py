"""The read-only admin of recorded custom claims: list, detail, a summary by claim name, recent changes, a user inline.

Only staff with the ``view_claimrecord`` permission see any of it (superusers have it). Records
can be deleted (with the view *and* delete permissions), never added or changed: they are what
the tokens said. The same view permission shows the history of claim changes, on each record's
page and grouped on *Recent claim changes*. The token inspector (``inspector``) is registered
here too, behind its own permission.

On a user's admin page, ``ClaimRecordInline`` lists that user's records with links to them. It
is added to the instance of whatever ``ModelAdmin`` is registered for the user model on the
default admin site, *without* replacing or subclassing it, so a project's custom user admin keeps
its behaviour. To opt out, set ``auth0_claims_inline = False`` on your user admin class; for
another admin site, add ``ClaimRecordInline`` to your user admin's ``inlines`` yourself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.auth import get_permission_codename, get_user_model
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from . import rejection_admin  # noqa: F401  (registers the rejections page with the admin site)
from .admin_pages import render_page, require_view_permission, single_page_urls
from .changes import REDACTED, SubjectTally, group_changes, shorten
from .conf import as_tuple, auth0_settings
from .identity_admin import attach_user_revoke_action
from .inspector import TokenInspectorAdmin
from .models import ClaimChange, ClaimRecord, TokenInspector
from .recorder import redact

if TYPE_CHECKING:
    # django-stubs makes the admin classes generic; Django's own are not subscriptable at run time.
    _RecordAdmin = admin.ModelAdmin[ClaimRecord]
    _RecordInline = admin.TabularInline[ClaimRecord, Model]
    _ChangeAdmin = admin.ModelAdmin[ClaimChange]
else:
    _RecordAdmin = admin.ModelAdmin
    _RecordInline = admin.TabularInline
    _ChangeAdmin = admin.ModelAdmin

#: Example values longer than this (as JSON text) are cut in the summary.
EXAMPLE_MAX_CHARS = 500

_JSON_TYPES = (
    (bool, "boolean"),
    (str, "string"),
    (int, "number"),
    (float, "number"),
    (list, "array"),
    (dict, "object"),
)


def json_type(value: Any) -> str:
    """Return the JSON type name of ``value`` (``"object"``, ``"string"``...)."""
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def pretty_json(value: Any) -> str:
    """Return ``value`` as indented JSON text with sorted keys (unescaped: escape before output)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def can_view_records(request: HttpRequest) -> bool:
    """Return whether the request's user holds the view permission of ``ClaimRecord`` itself.

    Stricter than Django's default, which also lets the *change* permission see: records are
    never changed here, so only the view permission counts.
    """
    opts = ClaimRecord._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")


@dataclass
class ClaimSummary(SubjectTally):
    """One custom claim name across every recorded subject."""

    name: str
    subjects: set[tuple[str, str]] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)
    types: set[str] = field(default_factory=set)
    last_seen: datetime | None = None
    example: str = ""

    @property
    def type_list(self) -> list[str]:
        return sorted(self.types)


def summarize_claims(records: Iterable[ClaimRecord]) -> list[ClaimSummary]:
    """Group recorded claims by name, sorted by name.

    ``records`` should come newest first: the example value and last-seen time of each name
    are taken from its most recent record. Values are redacted again with the current
    ``REDACTED_CLAIMS``, in case the setting grew after they were recorded.
    """
    summaries: dict[str, ClaimSummary] = {}
    for record in records:
        claims = record.claims if isinstance(record.claims, dict) else {}
        for name, value in redact(claims).items():
            summary = summaries.get(name)
            if summary is None:
                summary = summaries[name] = ClaimSummary(name)
            summary.subjects.add((record.issuer, record.subject))
            summary.clients.add(record.client_id or "-")
            summary.types.add(json_type(value))
            if summary.last_seen is None or record.last_seen > summary.last_seen:
                summary.last_seen = record.last_seen
                text = pretty_json(value)
                summary.example = text if len(text) <= EXAMPLE_MAX_CHARS else text[:EXAMPLE_MAX_CHARS] + " …"
    return [summaries[name] for name in sorted(summaries)]


class ReadOnlyRecordMixin:
    """Permissions shared by the record admin and the inline: view only with the view permission."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_view_records(request)


@admin.register(ClaimRecord)
class ClaimRecordAdmin(ReadOnlyRecordMixin, _RecordAdmin):
    """Recorded custom claims: searchable list, detail page with pretty JSON, and a summary view."""

    list_display = ("subject", "client_id", "issuer", "last_seen", "times_seen", "claim_names_list")
    list_filter = ("client_id", "last_seen", "issuer")
    # "claims" searches the stored JSON text: claim names and (unredacted) values.
    search_fields = ("subject", "claim_names", "claims")
    search_help_text = _("Search by subject, claim name or claim value.")
    fields = (
        "subject",
        "issuer",
        "client_id",
        "user",
        "claims_json",
        "scopes_list",
        "first_seen",
        "last_seen",
        "times_seen",
        "changes_table",
    )
    readonly_fields = fields
    ordering = ("-last_seen",)

    def has_delete_permission(self, request: HttpRequest, obj: ClaimRecord | None = None) -> bool:
        # The delete confirmation pages (one record's, and the changelist's bulk action) show
        # the records: without the view permission, the delete permission alone shows nothing.
        return can_view_records(request) and super().has_delete_permission(request, obj)

    @admin.display(description=_("claim names"))
    def claim_names_list(self, obj: ClaimRecord) -> str:
        return ", ".join(name for name in obj.claim_names.split("\n") if name) or "-"

    @admin.display(description=_("custom claims"))
    def claims_json(self, obj: ClaimRecord) -> str:
        # format_html escapes the JSON text: claim values are whatever the token said.
        return format_html('<pre class="auth0-drf-claims">{}</pre>', pretty_json(redact(obj.claims or {})))

    @admin.display(description=_("scopes granted"))
    def scopes_list(self, obj: ClaimRecord) -> str:
        return " ".join(obj.scopes or []) or "-"

    @admin.display(description=_("claim changes"))
    def changes_table(self, obj: ClaimRecord) -> str:
        """The record's history, newest first: when, which claim, from what to what (escaped, shortened)."""
        rows = [describe_change(change) for change in obj.changes.order_by("-changed_at", "-pk")]
        if not rows:
            return str(_("No change seen yet."))
        body = format_html_join(
            "",
            '<tr><td class="change-when">{}</td><td class="change-claim">{}</td>'
            '<td class="change-old"><code>{}</code></td><td class="change-new"><code>{}</code></td></tr>',
            (
                (timezone.localtime(when).strftime("%Y-%m-%d %H:%M:%S"), claim, old, new)
                for when, claim, old, new in rows
            ),
        )
        return format_html(
            '<table class="auth0-drf-changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            _("seen at"),
            _("claim"),
            _("old value"),
            _("new value"),
            body,
        )

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        # Before the default URLs: their "<path:object_id>/" would swallow "summary/".
        return [
            path(
                "summary/",
                self.admin_site.admin_view(self.summary_view),
                name=f"{opts.app_label}_{opts.model_name}_summary",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        # The list's object tools link to the recent changes, when the history is registered.
        opts = ClaimChange._meta
        context = {
            **(extra_context or {}),
            "changes_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name
            ),
        }
        return super().changelist_view(request, context)

    def summary_view(self, request: HttpRequest) -> TemplateResponse:
        """Show every custom claim name: how many subjects carry it, when last seen, an example."""
        require_view_permission(self, request)
        opts = self.model._meta
        records = ClaimRecord.objects.only("issuer", "subject", "client_id", "claims", "last_seen").order_by(
            "-last_seen"
        )
        context = {
            "summaries": summarize_claims(records.iterator()),
            "record_count": records.count(),
            "changelist_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name
            ),
        }
        return render_page(
            self, request, "admin/auth0_drf/claimrecord/summary.html", _("Custom claims seen in tokens"), context
        )


def describe_change(change: ClaimChange) -> tuple[datetime, str, str, str]:
    """Return (when, claim, old, new) of a change as text to escape; the current ``REDACTED_CLAIMS`` is honoured too."""
    if change.redacted or change.claim in set(as_tuple(auth0_settings.REDACTED_CLAIMS)):
        old = REDACTED if change.old_present else shorten(None, False)
        new = REDACTED if change.new_present else shorten(None, False)
    else:
        old, new = shorten(change.old_value, change.old_present), shorten(change.new_value, change.new_present)
    return change.changed_at, change.claim, old, new


#: The time ranges of *Recent claim changes*: hours, and their label.
CHANGE_PERIODS = (
    (1, _("the last hour")),
    (24, _("the last 24 hours")),
    (24 * 7, _("the last 7 days")),
    (24 * 30, _("the last 30 days")),
)


@admin.register(ClaimChange)
class ClaimChangeAdmin(ReadOnlyRecordMixin, _ChangeAdmin):
    """*Recent claim changes*: identical changes grouped across subjects, for a time range (view permission)."""

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # the history goes with its records

    def get_urls(self) -> list[URLPattern]:
        # Only the grouped list: a change has no page of its own (it is shown on its record's).
        return single_page_urls(self, self.changelist_view)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """Show the claim changes of the chosen period, identical ones grouped, the most subjects first."""
        require_view_permission(self, request)
        hours = next((h for h, _label in CHANGE_PERIODS if str(h) == request.GET.get("hours")), 24)
        period = dict(CHANGE_PERIODS)[hours]
        since = timezone.now() - timedelta(hours=hours)
        changes = (
            ClaimChange.objects.filter(changed_at__gte=since)
            .select_related("record")
            .only(*CHANGE_FIELDS)
            .order_by("-changed_at")
        )
        groups = group_changes(changes.iterator(), as_tuple(auth0_settings.REDACTED_CLAIMS))
        records = ClaimRecord._meta
        context = {
            "groups": groups,
            "period": period,
            "hours": hours,
            "periods": CHANGE_PERIODS,
            "records_url": reverse(
                f"admin:{records.app_label}_{records.model_name}_changelist", current_app=self.admin_site.name
            ),
            **(extra_context or {}),
        }
        return render_page(self, request, "admin/auth0_drf/claimchange/recent.html", _("Recent claim changes"), context)


#: What the grouped list reads of each change and its record (never the record's claims).
CHANGE_FIELDS = (
    "claim",
    "old_value",
    "new_value",
    "old_present",
    "new_present",
    "redacted",
    "changed_at",
    "record__issuer",
    "record__subject",
    "record__client_id",
)

admin.site.register(TokenInspector, TokenInspectorAdmin)


class ClaimRecordInline(ReadOnlyRecordMixin, _RecordInline):
    """A user's recorded claims on the user's admin page, each with a link to its detail page."""

    model = ClaimRecord
    fk_name = "user"
    fields = ("subject", "client_id", "issuer", "last_seen", "times_seen", "claim_names_list")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = _("recorded Auth0 claims")
    verbose_name_plural = _("recorded Auth0 claims")
    ordering = ("-last_seen",)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Hidden on the "add user" page (no user yet, so obj is None): a new user has no records.
        return obj is not None and super().has_view_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Deleting happens on the record's own page; a delete permission alone must not show
        # the inline on the "add user" page either.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ClaimRecord]:
        # InlineModelAdmin filters by has_view_permission(request) without the user, which is
        # False above; the permission itself is what counts here.
        queryset = self.model._default_manager.order_by(*self.ordering)
        return queryset if can_view_records(request) else queryset.none()

    @admin.display(description=_("claim names"))
    def claim_names_list(self, obj: ClaimRecord) -> str:
        return ", ".join(name for name in obj.claim_names.split("\n") if name) or "-"


def attach_user_inline(site: admin.AdminSite | None = None) -> bool:
    """Add ``ClaimRecordInline`` to the user model's registered admin; return whether it is there.

    Changes the registered instance only (never the class, never the registration), once.
    """
    site = site or admin.site
    model_admin = site._registry.get(get_user_model())
    if model_admin is None or getattr(model_admin, "auth0_claims_inline", True) is False:
        return False
    if ClaimRecordInline not in model_admin.inlines:
        # In the instance's own __dict__: the class (a project's own user admin) is left alone.
        vars(model_admin)["inlines"] = [*model_admin.inlines, ClaimRecordInline]
    return True


attach_user_inline()
attach_user_revoke_action()
