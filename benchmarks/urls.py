"""The benchmark's endpoints: the same tiny view behind no authentication, auth0_drf, and simplejwt."""

from __future__ import annotations

import contextlib
from typing import Any

from django.urls import path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from auth0_drf.authentication import Auth0Authentication
from auth0_drf.backends import Auth0UserBackend
from auth0_drf.claims import Claims
from auth0_drf.usersync import SyncPlan


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


#: The claims the "user sync on" row maps (its token carries them): fields, a flag and groups.
SYNC_NAMESPACE = "https://bench.example/"
SYNC_PLAN = SyncPlan(
    {"email": "email", "first_name": "given_name", "last_name": "family_name"},
    {"is_staff": (SYNC_NAMESPACE + "roles", "admin")},
    "roles",
    SYNC_NAMESPACE,
)


class SyncingBackend(Auth0UserBackend):
    def sync_plan(self) -> SyncPlan:
        return SYNC_PLAN


class SyncingAuthentication(Auth0Authentication):
    """auth0_drf with USER_FIELDS, USER_FLAGS and GROUPS_CLAIM on, for this view only."""

    backend = SyncingBackend()

    def get_user(self, claims: Claims, request: Request) -> Any:
        return self.backend.get_user(claims, request)


@api_view(["GET"])
@authentication_classes([SyncingAuthentication])
@permission_classes([IsAuthenticated])
def private_synced(request: Request) -> Response:
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


urlpatterns = [path("public", public), path("private", private), path("private-synced", private_synced)]
with contextlib.suppress(ImportError):  # simplejwt is optional: its rows are skipped without it
    urlpatterns += simplejwt_views()
