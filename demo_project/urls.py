"""URLs of the demo: Auth0's API quickstart endpoints, a messages API, and the admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from .api import views

router = DefaultRouter(trailing_slash=True)
# The slash is optional, like the quickstart endpoints': with DEBUG on, Django's APPEND_SLASH
# answers a POST to /api/messages with a 500 (it cannot redirect a POST).
router.trailing_slash = "/?"
router.include_root_view = False
router.register("messages", views.MessagesViewSet, basename="message")

urlpatterns = [
    re_path(r"^api/public/?$", views.public, name="public"),
    re_path(r"^api/private/?$", views.private, name="private"),
    re_path(r"^api/private-scoped/?$", views.private_scoped, name="private-scoped"),
    re_path(r"^api/claims/?$", views.claims, name="claims"),
    re_path(r"^api/async-private/?$", views.AsyncPrivate.as_view(), name="async-private"),
    re_path(r"^api/role-messages/?$", views.RoleMessages.as_view(), name="role-messages"),
    path("api/", include(router.urls)),
    path("admin/", admin.site.urls),
    # The local development issuer's JWKS (answers 404 unless it is enabled).
    path("", include("auth0_drf.dev_urls")),
]

if getattr(settings, "OPENAPI", False):
    from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

    from auth0_drf.openapi import SwaggerUIOAuth2RedirectView

    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    ]
    if getattr(settings, "OPENAPI_SIDECAR", False):
        # Swagger UI's OAuth2 login returns here (it defaults to oauth2-redirect.html beside the docs page):
        # this is the callback URL to allow in the Auth0 application.
        redirect = SwaggerUIOAuth2RedirectView.as_view()
        urlpatterns.append(path("api/docs/oauth2-redirect.html", redirect, name="docs-oauth2-redirect"))
