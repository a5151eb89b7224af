"""The admin of identity links, with the action that revokes their tokens, and that action on the user admin.

``Auth0IdentityAdmin`` lists the (issuer, subject) links and their ``tokens_revoked_at``; its
action "Revoke tokens issued before now" (the change permission of identities) calls
``Auth0Identity.objects.revoke_tokens()`` on the selected links. Only ``tokens_revoked_at`` can
be edited, to set a moment or clear a revocation made by mistake: the link itself is what the
first token said, and identities are created on first sight, never added here.

On the user model's registered admin, ``attach_user_revoke_action()`` adds the action
"Revoke Auth0 tokens issued before now" for the selected users' identities (the change permission
of users), to the instance only, as ``auth0_drf.admin`` adds its inline. To opt out, set
``auth0_revoke_action = False`` on your user admin class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import Auth0Identity, Auth0IdentityQuerySet

if TYPE_CHECKING:
    # django-stubs makes the admin classes generic; Django's own are not subscriptable at run time.
    _IdentityAdmin = admin.ModelAdmin[Auth0Identity]
else:
    _IdentityAdmin = admin.ModelAdmin


def report_revoked(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, count: int) -> None:
    """Tell the admin user how many identities had their tokens revoked."""
    if count:
        text = ngettext(
            "Revoked the tokens of %(count)d Auth0 identity: its tokens issued before now are refused.",
            "Revoked the tokens of %(count)d Auth0 identities: their tokens issued before now are refused.",
            count,
        ) % {"count": count}
        modeladmin.message_user(request, text, messages.SUCCESS)
    else:
        modeladmin.message_user(request, _("No Auth0 identity was selected: nothing was revoked."), messages.WARNING)


@admin.register(Auth0Identity)
class Auth0IdentityAdmin(_IdentityAdmin):
    """Identity links: searchable, with their revocation moment and the action that sets it to now."""

    list_display = ("subject", "issuer", "user", "created_at", "tokens_revoked_at")
    list_filter = ("issuer", "tokens_revoked_at", "created_at")
    list_select_related = ("user",)
    search_fields = ("subject", "issuer")
    search_help_text = _("Search by subject or issuer.")
    fields = ("subject", "issuer", "user", "created_at", "tokens_revoked_at")
    readonly_fields = ("subject", "issuer", "user", "created_at")
    ordering = ("-created_at",)
    actions = ("revoke_tokens",)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Identities are created by the first token of a subject, with its user.
        return False

    @admin.action(description=_("Revoke tokens issued before now"), permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: Auth0IdentityQuerySet) -> None:
        """Refuse every token of the selected identities issued before now."""
        report_revoked(self, request, queryset.revoke_tokens())


@admin.action(description=_("Revoke Auth0 tokens issued before now"), permissions=["change"])
def revoke_user_tokens(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]) -> None:
    """Refuse every token issued before now of the selected users' Auth0 identities."""
    report_revoked(modeladmin, request, Auth0Identity.objects.filter(user__in=queryset).revoke_tokens())


def attach_user_revoke_action(site: admin.AdminSite | None = None) -> bool:
    """Add ``revoke_user_tokens`` to the user model's registered admin; return whether it is there.

    Changes the registered instance only (never the class, never the registration), once.
    """
    site = site or admin.site
    model_admin = site._registry.get(get_user_model())
    if model_admin is None or getattr(model_admin, "auth0_revoke_action", True) is False:
        return False
    actions = list(model_admin.actions or [])
    if revoke_user_tokens not in actions:
        # In the instance's own __dict__: the class (a project's own user admin) is left alone.
        vars(model_admin)["actions"] = [*actions, revoke_user_tokens]
    return True
