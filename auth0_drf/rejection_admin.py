"""The rejections page of the admin: a chart of rejections over time by code, and a table per code with advice.

It is the changelist of ``RejectionCount`` (staff with ``view_rejectioncount`` only; superusers
have it), so it shows on the admin index under auth0_drf. The chart is inline SVG drawn here,
on the server: no JavaScript, nothing from a CDN, so the page works offline. The advice for each
code is the text of the 401 or 403 body (``errors``), with the configured audience in place of
the placeholder; for ``invalid_audience`` it is ``explanations``' sentence naming the token's
``aud``, a value counted only when the token's signature was verified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.db.models import Model
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .admin_pages import ReadOnlyPageMixin, render_page, require_view_permission, single_page_urls
from .conf import auth0_settings
from .errors import API_IDENTIFIER, INSUFFICIENT_SCOPE, Auth0Error, ClaimRuleFailed, InvalidAudience
from .explanations import explain_claim
from .models import RejectionCount
from .profiles import get_profile
from .rejectcounts import BUCKET_SECONDS, OTHER, UNVERIFIED, rejection_counter

if TYPE_CHECKING:
    _CountAdmin = admin.ModelAdmin[RejectionCount]
else:
    _CountAdmin = admin.ModelAdmin

#: The time ranges offered, in hours.
RANGES = ((1, _("last hour")), (6, _("last 6 hours")), (24, _("last 24 hours")), (168, _("last 7 days")))
#: Colours of the chart's series, in order of the codes' totals (a code past the last reuses them).
COLOURS = ("#ba2121", "#417690", "#e08e0b", "#5b8c3a", "#7a4ea3", "#1a8a8a", "#c2569b", "#666666")
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 960, 260, 48, 28


def advice_texts() -> dict[str, str]:
    """Return the advice of each code: the message of its error class, the one the 401/403/503 bodies carry."""
    texts: dict[str, str] = {}

    def walk(cls: type[Auth0Error]) -> None:
        for sub in cls.__subclasses__():
            if sub.code not in texts:
                with suppress(TypeError):  # an error that names its claim or rule: written below
                    texts[sub.code] = sub().message
            walk(sub)

    walk(Auth0Error)
    texts.setdefault("missing_claim", gettext("The access token lacks a claim this API requires (the 401 names it)."))
    texts.setdefault(
        "invalid_claim", gettext("A claim of the access token has a value this API refuses (the 401 names it).")
    )
    texts[ClaimRuleFailed.code] = gettext(
        "The token does not satisfy a claim rule of a view or of CLAIM_RULES (the 403 names the rule)."
    )
    texts[INSUFFICIENT_SCOPE] = gettext(
        "The access token lacks the scopes this endpoint requires: request the token with them "
        "(the 403 lists them in missing_scopes)."
    )
    return texts


def advice_for(code: str, audiences: Sequence[str], verified_audiences: Iterable[str] = ()) -> str:
    """Return one sentence on what to do about ``code``, naming the configured audience.

    ``verified_audiences`` are ``aud`` values of verified tokens (counted for ``invalid_audience``
    only): the sentence then says what the token's ``aud`` was.
    """
    if code == InvalidAudience.code:
        for aud in verified_audiences:
            if aud:
                found = aud.split(" ")
                payload = {"aud": found[0] if len(found) == 1 else found}
                return explain_claim(
                    InvalidAudience(), payload, audiences, get_profile(auth0_settings.TOKEN_PROFILE), 0.0
                )
    text = advice_texts().get(code, gettext("See the errors page of the auth0_drf documentation for this code."))
    return text.replace(API_IDENTIFIER, audiences[0]) if audiences else text


class RejectionFilters(forms.Form):
    """The page's GET parameters: a time range, an issuer, a client (all optional)."""

    hours = forms.TypedChoiceField(
        label=_("Time range"), choices=RANGES, coerce=int, required=False, empty_value="24", initial=24
    )
    issuer = forms.CharField(label=_("Issuer"), max_length=255, required=False)
    client = forms.CharField(label=_("Client"), max_length=255, required=False)

    def clean_issuer(self) -> str:
        return self._printable("issuer")

    def clean_client(self) -> str:
        return self._printable("client")

    def _printable(self, name: str) -> str:
        value: str = self.cleaned_data.get(name) or ""
        if not value.isprintable():
            raise forms.ValidationError(gettext("Control characters are not allowed here."))
        return value


@dataclass
class CodeSummary:
    """One code's rejections in the chosen range."""

    code: str
    count: int = 0
    last_seen: datetime | None = None
    clients: dict[str, int] = field(default_factory=dict)
    audiences: dict[str, int] = field(default_factory=dict)
    colour: str = ""
    advice: str = ""

    @property
    def client_list(self) -> list[tuple[str, int]]:
        """The clients, most rejections first."""
        return sorted(self.clients.items(), key=lambda item: (-item[1], item[0]))


def client_label(client_id: str) -> str:
    """Return how a counted client is shown: ``unverified``, ``other``, ``(none)`` or the client id."""
    if client_id == UNVERIFIED:
        return gettext("unverified")
    if client_id == OTHER:
        return gettext("other (too many distinct clients)")
    return client_id or gettext("(no client id)")


def summarize(rows: Iterable[RejectionCount]) -> tuple[list[CodeSummary], dict[tuple[int, str], int]]:
    """Return the summaries by code (most rejections first) and the counts by (bucket, code)."""
    codes: dict[str, CodeSummary] = {}
    series: dict[tuple[int, str], int] = {}
    for row in rows:
        summary = codes.get(row.code)
        if summary is None:
            summary = codes[row.code] = CodeSummary(row.code)
        summary.count += row.count
        if summary.last_seen is None or row.last_seen > summary.last_seen:
            summary.last_seen = row.last_seen
        label = client_label(row.client_id)
        summary.clients[label] = summary.clients.get(label, 0) + row.count
        if row.audience:
            summary.audiences[row.audience] = summary.audiences.get(row.audience, 0) + row.count
        bucket = int(row.bucket.timestamp())
        series[(bucket, row.code)] = series.get((bucket, row.code), 0) + row.count
    ordered = sorted(codes.values(), key=lambda s: (-s.count, s.code))
    for index, summary in enumerate(ordered):
        summary.colour = COLOURS[index % len(COLOURS)]
    return ordered, series


def render_chart(
    summaries: Sequence[CodeSummary], series: dict[tuple[int, str], int], start: int, end: int
) -> SafeString:
    """Return an inline SVG: stacked bars of rejections per 10-minute bucket, one colour per code.

    Every text in it is escaped (codes come from the database); each bar has a ``<title>`` tooltip.
    """
    buckets = list(range(start, end + 1, BUCKET_SECONDS))
    totals = [sum(series.get((bucket, s.code), 0) for s in summaries) for bucket in buckets]
    peak = max(totals, default=0) or 1
    plot_width = CHART_WIDTH - CHART_LEFT - 8
    plot_height = CHART_HEIGHT - CHART_BOTTOM - 8
    step = plot_width / max(len(buckets), 1)
    bar = max(step - 1, 1)
    parts: list[SafeString] = []
    for index, bucket in enumerate(buckets):
        base = float(plot_height + 8)
        x = CHART_LEFT + index * step
        moment = timezone.localtime(datetime.fromtimestamp(bucket, tz=dt_timezone.utc))
        for summary in reversed(summaries):
            value = series.get((bucket, summary.code), 0)
            if not value:
                continue
            height = value / peak * plot_height
            base -= height
            parts.append(
                format_html(
                    '<rect class="bar" data-code="{}" x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{} {}: {}</title></rect>",
                    summary.code,
                    f"{x:.1f}",
                    f"{base:.1f}",
                    f"{bar:.1f}",
                    f"{height:.1f}",
                    summary.colour,
                    f"{moment:%Y-%m-%d %H:%M}",
                    summary.code,
                    value,
                )
            )
    axis_y = plot_height + 8
    labels = [
        format_html(
            '<text x="{}" y="{}" text-anchor="{}">{}</text>',
            f"{CHART_LEFT + index * step:.1f}",
            CHART_HEIGHT - 8,
            anchor,
            f"{timezone.localtime(datetime.fromtimestamp(buckets[index], tz=dt_timezone.utc)):%m-%d %H:%M}",
        )
        for index, anchor in ((0, "start"), (len(buckets) // 2, "middle"), (len(buckets) - 1, "end"))
        if buckets
    ]
    frame = format_html(
        '<line x1="{left}" y1="{axis}" x2="{right}" y2="{axis}" stroke="#999"/>'
        '<line x1="{left}" y1="8" x2="{left}" y2="{axis}" stroke="#999"/>'
        '<text x="{text_x}" y="16" text-anchor="end">{peak}</text>'
        '<text x="{text_x}" y="{axis}" text-anchor="end">0</text>',
        left=CHART_LEFT,
        right=CHART_WIDTH - 8,
        axis=axis_y,
        text_x=CHART_LEFT - 6,
        peak=peak,
    )
    return format_html(
        '<svg id="auth0-drf-rejections-chart" xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {} {}" '
        'width="100%" font-size="11" font-family="sans-serif"><title>{}</title>{}{}{}</svg>',
        CHART_WIDTH,
        CHART_HEIGHT,
        gettext("Rejections per 10 minutes, by code"),
        frame,
        mark_safe("".join(parts)),  # noqa: S308  (each part was built by format_html)
        mark_safe("".join(labels)),  # noqa: S308
    )


@admin.register(RejectionCount)
class RejectionCountAdmin(ReadOnlyPageMixin, _CountAdmin):
    """The rejections page: a chart and a table per code, filtered by time range, issuer and client.

    Read-only: rows are added by the counter and removed by its prune, never by hand.
    """

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # The view permission itself: Django's default lets the change permission see too.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")

    def get_urls(self) -> list[URLPattern]:
        # Only the page itself: there is nothing to add, change or delete.
        return single_page_urls(self, self.changelist_view)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """Show the chart and the table for the range, issuer and client in the query string."""
        require_view_permission(self, request)
        # This process's own counts first, so a developer sees the request they just made.
        rejection_counter.flush()
        filters = RejectionFilters(request.GET or None)
        valid = filters.is_valid() if request.GET else True
        choice: dict[str, Any] = filters.cleaned_data if request.GET and valid else {}
        hours = int(choice.get("hours") or 24)
        issuer: str = choice.get("issuer") or ""
        client: str = choice.get("client") or ""
        now = int(timezone.now().timestamp())
        end = now // BUCKET_SECONDS * BUCKET_SECONDS
        start = end - (hours * 3600 // BUCKET_SECONDS - 1) * BUCKET_SECONDS
        rows = RejectionCount.objects.filter(bucket__gte=datetime.fromtimestamp(start, tz=dt_timezone.utc))
        known_issuers = sorted(set(rows.values_list("issuer", flat=True).distinct()[:200]))
        known_clients = sorted(set(rows.values_list("client_id", flat=True).distinct()[:200]))
        if issuer:
            rows = rows.filter(issuer=issuer)
        if client:
            rows = rows.filter(client_id=client)
        summaries, series = summarize(rows.iterator()) if valid else ([], {})
        audiences = self.audiences(issuer)
        for summary in summaries:
            summary.advice = advice_for(
                summary.code, audiences, sorted(summary.audiences, key=lambda aud: -summary.audiences[aud])
            )
        context = {
            "filters": filters,
            "valid": valid,
            "hours": hours,
            "issuer": issuer,
            "client": client,
            "ranges": RANGES,
            "known_issuers": known_issuers,
            "known_clients": [(value, client_label(value)) for value in known_clients],
            "summaries": summaries,
            "total": sum(s.count for s in summaries),
            "chart": render_chart(summaries, series, start, end) if valid else "",
            "interval": auth0_settings.REJECTIONS_INTERVAL,
            "enabled": auth0_settings.RECORD_REJECTIONS,
            **(extra_context or {}),
        }
        return render_page(
            self,
            request,
            "admin/auth0_drf/rejectioncount/rejections.html",
            _("Rejected tokens"),
            context,
            status=200 if valid else 400,
        )

    def audiences(self, issuer: str) -> tuple[str, ...]:
        """Return the audiences configured for ``issuer`` (every issuer's, for none), for the advice."""
        found: list[str] = []
        for config in auth0_settings.issuers:
            if not issuer or config.issuer == issuer:
                found.extend(a for a in config.audiences if a not in found)
        return tuple(found)
