"""The benchmark's endpoints: the same tiny view behind no authentication, auth0_drf, and simplejwt."""

from __future__ import annotations

import contextlib

from django.urls import path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from auth0_drf.authentication import Auth0Authentication


def _payload(request: Request) -> Response:
    return Response({"message": "hello", "user": str(request.user)})


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def public(request: Request) -> Response:
    return _payload(request)  # the same body as the protected views: only authentication differs


@api_view(["GET"])
@authentication_classes([Auth0Authentication])
@permission_classes([IsAuthenticated])
def private(request: Request) -> Response:
    return _payload(request)


def simplejwt_views() -> list:
    """Return simplejwt's endpoints; imported late, after bench.py has set SIMPLE_JWT."""
    from rest_framework_simplejwt.authentication import JWTAuthentication, JWTStatelessUserAuthentication

    @api_view(["GET"])
    @authentication_classes([JWTAuthentication])
    @permission_classes([IsAuthenticated])
    def simplejwt_db(request: Request) -> Response:
        return _payload(request)

    @api_view(["GET"])
    @authentication_classes([JWTStatelessUserAuthentication])
    @permission_classes([IsAuthenticated])
    def simplejwt_stateless(request: Request) -> Response:
        return _payload(request)

    return [path("simplejwt-db", simplejwt_db), path("simplejwt-stateless", simplejwt_stateless)]


urlpatterns = [path("public", public), path("private", private)]
with contextlib.suppress(ImportError):  # simplejwt is optional: its rows are skipped without it
    urlpatterns += simplejwt_views()
