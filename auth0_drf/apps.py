"""The auth0_drf Django app: registers system checks, signal receivers, the development key, the user admin inline."""

from __future__ import annotations

import importlib.util

from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


class Auth0DrfConfig(AppConfig):
    """Verify Auth0 access tokens in Django REST framework."""

    name = "auth0_drf"
    verbose_name = _("Auth0 for DRF")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The imports in this method must stay in it: apps.py is imported while INSTALLED_APPS is
        # loading, before the models (which these modules import) can be.
        from . import backends, checks  # noqa: F401, PLC0415  (registers checks and signal receivers)

        # The development issuer's key comes in as static keys, registered from here, the top
        # of the layers, so that the verifier never imports a development tool.
        from .dev_issuer import follow_settings  # noqa: PLC0415

        follow_settings()

        if apps.is_installed("django.contrib.admin"):
            # Again here, after the admin's autodiscovery (when it is listed before us, as
            # startproject does), so that a project's own user admin gets the inline too.
            from .admin import attach_user_inline  # noqa: PLC0415
            from .identity_admin import attach_user_revoke_action  # noqa: PLC0415

            attach_user_inline()
            attach_user_revoke_action()

        if importlib.util.find_spec("drf_spectacular") is not None:
            # An optional dependency: describe our scheme and scopes in generated OpenAPI schemas.
            from . import openapi  # noqa: F401, PLC0415
