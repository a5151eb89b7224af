"""The demo API, mirroring Auth0's API quickstart, plus a messages ViewSet with per-action scopes."""

from __future__ import annotations

from typing import Any

from adrf.views import APIView as AsyncAPIView
from django.http import Http404
from rest_framework import generics, serializers, viewsets
from rest_framework.decorators import action, api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny, DjangoModelPermissions, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from auth0_drf.permissions import HasScope, RequiredScopes

from .models import Message

try:  # drf-spectacular is optional: with it, /api/docs/ shows these responses.
    from drf_spectacular.utils import extend_schema
except ImportError:  # pragma: no cover

    def extend_schema(**kwargs: Any) -> Any:
        return lambda view: view


class MessageResponseSerializer(serializers.Serializer):
    message = serializers.CharField()


class PrivateResponseSerializer(MessageResponseSerializer):
    sub = serializers.CharField()


class ClaimsResponseSerializer(serializers.Serializer):
    claims = serializers.DictField()
    custom_claims = serializers.DictField()
    scopes = serializers.ListField(child=serializers.CharField())
    user = serializers.DictField()
    synced = serializers.DictField()


@extend_schema(responses=MessageResponseSerializer)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def public(request: Request) -> Response:
    """No token needed."""
    return Response({"message": "Hello from a public endpoint! You don't need to be authenticated to see this."})


@extend_schema(responses=PrivateResponseSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def private(request: Request) -> Response:
    """Any valid access token."""
    return Response(
        {"message": "Hello from a private endpoint! You need to be authenticated to see this.", "sub": request.auth.sub}
    )


@extend_schema(responses=MessageResponseSerializer)
@api_view(["GET"])
@permission_classes([HasScope("read:messages")])
def private_scoped(request: Request) -> Response:
    """A valid access token with the read:messages scope (or RBAC permission)."""
    return Response(
        {
            "message": (
                "Hello from a private endpoint! "
                "You need to be authenticated and have a scope of read:messages to see this."
            )
        }
    )


class AsyncPrivate(AsyncAPIView):
    """Any valid access token, in an async view (adrf): served by an ASGI server such as uvicorn.

    adrf runs authentication and permissions (``initial()``) through ``sync_to_async``, in a
    thread, so Auth0Authentication's JWKS fetch and user lookup never block the event loop; the
    handler itself runs on the loop, with ``request.user`` and ``request.auth`` already set.
    Under WSGI (runserver, gunicorn's sync workers) Django runs it through ``async_to_sync``.
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=PrivateResponseSerializer)
    async def get(self, request: Request) -> Response:
        message = "Hello from an async private endpoint! You need to be authenticated to see this."
        return Response({"message": message, "sub": request.auth.sub})


def describe_synced(user: Any) -> dict[str, Any]:
    """What USER_FIELDS, USER_FLAGS and GROUPS_CLAIM wrote into the user (settings.py maps them)."""
    if hasattr(user, "claims"):  # a TokenUser: the mapped values are attributes, the groups names
        groups = sorted(getattr(user, "group_names", ()))
    else:
        groups = sorted(user.groups.values_list("name", flat=True))
    synced = {name: getattr(user, name, "") for name in ("email", "first_name", "last_name")}
    return {**synced, "is_staff": bool(user.is_staff), "groups": groups}


def describe_user(user: Any) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.get_username(),
        "is_machine": bool(getattr(user, "is_machine", False)),
        "stored_in_database": not hasattr(user, "claims"),
    }


@extend_schema(responses=ClaimsResponseSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def claims(request: Request) -> Response:
    """The verified claims of the access token and the user it maps to."""
    return Response(
        {
            "claims": request.auth.as_dict(),
            "custom_claims": request.auth.custom_claims,
            "scopes": sorted(request.auth.granted),
            "user": describe_user(request.user),
            "synced": describe_synced(request.user),
        }
    )


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "text", "archived", "created_at"]
        read_only_fields = ["archived", "created_at"]


class MessagesViewSet(viewsets.ModelViewSet):
    """Messages: read:messages to read, write:messages to change, archive:messages to archive."""

    queryset = Message.objects.all()
    serializer_class = MessageSerializer
    permission_classes = [RequiredScopes]
    required_scopes = {
        "list": ["read:messages"],
        "retrieve": ["read:messages"],
        "create": ["write:messages"],
        "update": ["write:messages"],
        "partial_update": ["write:messages"],
        "destroy": ["write:messages"],
        "archive": ["archive:messages"],
    }

    def get_object(self) -> Message:
        """Return the message the URL names; an id the id column cannot hold is a 404.

        Django before 5.0 sends such an id to SQLite, whose driver raises ``OverflowError`` (a 500)
        for integers beyond 64 bits; later versions find no row. Checked here, whatever the version.
        """
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        try:
            number = int(value)
        except (TypeError, ValueError):
            pass  # not a number: the lookup itself answers 404
        else:
            # The id is a BigAutoField (DEFAULT_AUTO_FIELD): 64 bits, signed, on every database.
            if not -(2**63) <= number < 2**63:
                raise Http404
        return super().get_object()

    def perform_create(self, serializer: MessageSerializer) -> None:
        author = self.request.user if getattr(self.request.user, "_meta", None) else None
        serializer.save(author=author)

    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        message = self.get_object()
        message.archived = True
        message.save(update_fields=["archived"])
        return Response(self.get_serializer(message).data)


class ModelPermissionsWithView(DjangoModelPermissions):
    """Django's model permissions, reading included: GET needs ``view_message`` too."""

    perms_map = {**DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}


class RoleMessages(generics.ListCreateAPIView):
    """Messages by Django's model permissions, which the token's roles give (GROUPS_CLAIM → groups).

    ``auth0_mint --role editor`` gives a token whose user joins the ``editor`` group, which may view
    and add messages (its permissions are set by the demo's migration 0002).
    """

    queryset = Message.objects.all()
    serializer_class = MessageSerializer
    permission_classes = [IsAuthenticated, ModelPermissionsWithView]

    def perform_create(self, serializer: MessageSerializer) -> None:  # type: ignore[override]
        serializer.save(author=self.request.user)
