"""The auth0_drf Django app: registers system checks and cache-invalidating signals."""

from __future__ import annotations

from django.apps import AppConfig


class Auth0DrfConfig(AppConfig):
    """Verify Auth0 access tokens in Django REST framework."""

    name = "auth0_drf"
    verbose_name = "Auth0 for DRF"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import backends, checks  # noqa: F401  (registers checks and signal receivers)
