"""Views throttled by auth0_drf's throttles, for tests/test_throttling.py."""

from __future__ import annotations

from django.urls import path
from rest_framework.authentication import BasicAuthentication
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from auth0_drf.authentication import Auth0Authentication
from auth0_drf.throttling import ClientRateThrottle, SubjectRateThrottle


@api_view(["GET"])
@throttle_classes([SubjectRateThrottle])
def by_subject(request):
    return Response({"ok": True})


@api_view(["GET"])
@throttle_classes([ClientRateThrottle])
def by_client(request):
    return Response({"ok": True})


@api_view(["GET"])
@authentication_classes([Auth0Authentication, BasicAuthentication])
@permission_classes([AllowAny])
@throttle_classes([SubjectRateThrottle])
def open_by_subject(request):
    return Response({"ok": True})


urlpatterns = [
    path("subject", by_subject),
    path("client", by_client),
    path("open", open_by_subject),
]
