"""The auth0_drf Django app: registers system checks and cache-invalidating signals."""

from __future__ import annotations

import importlib.util

from django.apps import AppConfig


class Auth0DrfConfig(AppConfig):
    """Verify Auth0 access tokens in Django REST framework."""

    name = "auth0_drf"
    verbose_name = "Auth0 for DRF"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import backends, checks  # noqa: F401  (registers checks and signal receivers)

        if importlib.util.find_spec("drf_spectacular") is not None:
            # An optional dependency: describe our scheme and scopes in generated OpenAPI schemas.
            from . import openapi  # noqa: F401
