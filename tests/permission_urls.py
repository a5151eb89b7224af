"""Views exercising every form of scope permission, for tests/test_permissions.py."""

from __future__ import annotations

from django.urls import include, path
from rest_framework import viewsets
from rest_framework.authentication import BasicAuthentication
from rest_framework.decorators import action, api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from auth0_drf.authentication import Auth0Authentication
from auth0_drf.permissions import HasAnyScope, HasScope, ReadWriteScopes, RequiredScopes


def ok(request, *args, **kwargs) -> Response:
    return Response({"ok": True})


@api_view(["GET"])
@permission_classes([HasScope("read:messages")])
def single(request):
    return ok(request)


@api_view(["GET"])
@permission_classes([HasScope("read:messages", "write:messages")])
def all_of(request):
    return ok(request)


@api_view(["GET"])
@permission_classes([HasAnyScope("read:messages", "admin")])
def any_of(request):
    return ok(request)


@api_view(["GET"])
@permission_classes([IsAuthenticated & (HasScope("a") | HasScope("b"))])
def either(request):
    return ok(request)


@api_view(["GET"])
@permission_classes([IsAuthenticated & ~HasScope("banned")])
def negated(request):
    return ok(request)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def in_view(request):
    return Response(
        {
            "can_read": request.auth.has_scope("read:messages"),
            "any": request.auth.has_scope("x", "read:messages", any_of=True),
        }
    )


@api_view(["GET"])
@authentication_classes([Auth0Authentication, BasicAuthentication])
@permission_classes([HasScope("read:messages")])
def basic_or_token(request):
    return ok(request)


class MethodScoped(APIView):
    permission_classes = [RequiredScopes]
    required_scopes = {"GET": ["read:things"], "post": ["write:things"]}
    get = post = ok
    put = ok  # not in the mapping: denied


class ListScoped(APIView):
    permission_classes = [RequiredScopes]
    required_scopes = ["read:things", "audit"]
    get = post = ok


class Undeclared(APIView):
    permission_classes = [RequiredScopes]
    get = ok


# Misconfigured: permissions that name no scopes at all. Each must refuse every request.
class BareHasScope(APIView):
    permission_classes = [HasScope]
    get = ok


class BareHasAnyScope(APIView):
    permission_classes = [HasAnyScope]
    get = ok


class NegatedBareHasAnyScope(APIView):
    permission_classes = [IsAuthenticated & ~HasAnyScope]
    get = ok


class NegatedBareHasScope(APIView):
    permission_classes = [~HasScope]
    get = ok


class BareHasScopeOrScoped(APIView):
    permission_classes = [HasScope | HasScope("read:things")]
    get = ok


class EmptyRequiredScopes(APIView):
    permission_classes = [RequiredScopes]
    required_scopes: list[str] = []
    get = ok


class EmptyRequiredScopesForGet(APIView):
    permission_classes = [RequiredScopes]
    required_scopes = {"GET": [], "POST": ["write:things"]}
    get = post = ok


class BareReadWriteScopes(APIView):
    permission_classes = [ReadWriteScopes]
    get = ok


@api_view(["GET"])
@permission_classes([HasScope])
def bare_function(request):
    return ok(request)


EMPTY_REQUIREMENTS = {
    "empty/has-scope": BareHasScope,
    "empty/has-any-scope": BareHasAnyScope,
    "empty/not-has-any-scope": NegatedBareHasAnyScope,
    "empty/not-has-scope": NegatedBareHasScope,
    "empty/or": BareHasScopeOrScoped,
    "empty/required-scopes": EmptyRequiredScopes,
    "empty/required-scopes-get": EmptyRequiredScopesForGet,
    "empty/read-write": BareReadWriteScopes,
}


class ThingViewSet(viewsets.ViewSet):
    permission_classes = [RequiredScopes]
    required_scopes = {"list": ["read:things"], "create": ["write:things"], "publish": ["publish:things"]}
    list = create = retrieve = ok  # retrieve is not in the mapping: denied

    @action(detail=False, methods=["post"])
    def publish(self, request):
        return ok(request)


class ReadWriteViewSet(viewsets.ViewSet):
    permission_classes = [ReadWriteScopes("messages")]
    list = create = ok


class ResourceViewSet(viewsets.ViewSet):
    permission_classes = [ReadWriteScopes]
    scope_resource = "notes"
    list = create = ok


router = SimpleRouter()
router.register("things", ThingViewSet, basename="thing")
router.register("rw", ReadWriteViewSet, basename="rw")
router.register("notes", ResourceViewSet, basename="notes")

urlpatterns = [
    path("single", single),
    path("all", all_of),
    path("any", any_of),
    path("either", either),
    path("negated", negated),
    path("in-view", in_view),
    path("basic-or-token", basic_or_token),
    path("method", MethodScoped.as_view()),
    path("list", ListScoped.as_view()),
    path("undeclared", Undeclared.as_view()),
    *(path(url, view.as_view()) for url, view in EMPTY_REQUIREMENTS.items()),
    path("empty/function", bare_function),
    path("", include(router.urls)),
]
