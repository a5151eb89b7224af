"""URLs of the local development issuer; include them at the site root (404 unless enabled)."""

from django.urls import path

from .dev_issuer import jwks_view, openid_configuration_view, token_view, userinfo_view

urlpatterns = [
    path(".well-known/jwks.json", jwks_view, name="auth0_drf_dev_jwks"),
    path(".well-known/openid-configuration", openid_configuration_view, name="auth0_drf_dev_openid_configuration"),
    # Tokens for a single-page app working offline (loopback only).
    path("dev-issuer/token", token_view, name="auth0_drf_dev_token"),
    # The profile auth0_mint --userinfo gave, for USERINFO without a tenant.
    path("userinfo", userinfo_view, name="auth0_drf_dev_userinfo"),
]
