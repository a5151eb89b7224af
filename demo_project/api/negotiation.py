"""The demo's content negotiation: JSON even when the Accept header asks for something else."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class JSONFallbackNegotiation(DefaultContentNegotiation):
    """Answer in the first renderer's format instead of 406 (or 404 for ``?format=``) when it cannot be met.

    DRF negotiates before it authenticates, so a 406 would otherwise hide a 401: a client with a
    bad token and an odd (or empty) ``Accept`` would never see the RFC 6750 challenge. RFC 9110
    section 12.5.1 allows disregarding ``Accept``.
    """

    def select_renderer(self, request: Any, renderers: list[Any], format_suffix: str | None = None) -> tuple[Any, str]:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except (NotAcceptable, Http404):  # Http404: an unknown ?format= value
            return renderers[0], renderers[0].media_type
