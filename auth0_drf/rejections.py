"""The one log line every rejected request writes, built from verified values only."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .challenges import header_safe

logger = logging.getLogger("auth0_drf")


def verified_context(header: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """Return what may be logged or counted about a token whose signature has been verified.

    The log line uses ``kid``, ``iss`` and ``sub``; the rejection counts (``rejectcounts``) use
    ``iss``, ``client`` (``azp``, or RFC 9068's ``client_id``) and ``aud``.
    """
    return {
        "kid": header.get("kid"),
        "iss": payload.get("iss"),
        "sub": payload.get("sub"),
        "client": payload.get("azp") or payload.get("client_id"),
        "aud": payload.get("aud"),
    }


def log_rejection(code: str, verified: Mapping[str, Any], **more: str) -> None:
    """Log one INFO line for a rejected request: its code and the *verified* kid, iss and sub.

    ``verified`` must hold only values from a token whose signature was checked (or be empty):
    nothing an attacker wrote unverified ever reaches the log. Values are stripped of control
    characters and shortened. The fields are also passed as ``extra`` (``auth0_code``,
    ``auth0_kid``, ``auth0_iss``, ``auth0_sub``) for structured log handlers.
    """
    fields = {
        "code": code,
        "kid": header_safe(str(verified.get("kid") or "-"))[:100],
        "iss": header_safe(str(verified.get("iss") or "-"))[:200],
        "sub": header_safe(str(verified.get("sub") or "-"))[:200],
        **{name: header_safe(value)[:200] for name, value in more.items()},
    }
    logger.info(
        "auth0_drf: rejected token: " + " ".join(f"{name}=%s" for name in fields),
        *fields.values(),
        extra={f"auth0_{name}": value for name, value in fields.items()},
    )
