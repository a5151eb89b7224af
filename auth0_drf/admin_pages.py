"""What this package's own admin pages share: a single page in place of the list, and its rendering.

The token inspector, the rejections page, *Recent claim changes* and the claims summary are
not Django's generated admin views but templates of their own. Each still looks like the rest
of the admin (the site's context, the model's breadcrumbs) and answers only staff who may view it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path


class ReadOnlyPageMixin:
    """Mixin of an admin that only shows a page: nothing can be added, changed or deleted through it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def single_page_urls(model_admin: ModelAdmin[Any], view: Callable[..., HttpResponse]) -> list[URLPattern]:
    """Return URLs with only ``view``, at the list's address and under the list's name.

    For a model that has no add, change or delete pages: none of Django's defaults may exist.
    """
    opts = model_admin.model._meta
    return [
        path(
            "",
            model_admin.admin_site.admin_view(view),
            name=f"{opts.app_label}_{opts.model_name}_changelist",
        )
    ]


def require_view_permission(model_admin: ModelAdmin[Any], request: HttpRequest) -> None:
    """Raise ``PermissionDenied`` unless ``model_admin`` lets the request's user view its page."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied


def render_page(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    template: str,
    title: Any,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> TemplateResponse:
    """Render ``template`` with the admin site's context, ``title`` and the page's own ``context``."""
    opts = model_admin.model._meta
    page: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        **context,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, template, page, status=status)
