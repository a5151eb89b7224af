"""DRF throttles keyed by the verified token: by subject (issuer and ``sub``) and by client (``azp`` or ``client_id``).

DRF's ``UserRateThrottle`` keys by ``request.user.pk``, which a stateless ``TokenUser`` only
imitates and which cannot tell two issuers' identical subjects apart. These throttles key by
what the verified token says, so the same limits hold for database users, stateless users and
machine tokens alike::

    REST_FRAMEWORK = {
        "DEFAULT_THROTTLE_CLASSES": [
            "auth0_drf.throttling.SubjectRateThrottle",
            "auth0_drf.throttling.ClientRateThrottle",
        ],
        "DEFAULT_THROTTLE_RATES": {"auth0_subject": "100/min", "auth0_client": "1000/min"},
    }

A request not authenticated by auth0_drf (another authentication class, or none) is keyed as
``UserRateThrottle`` keys it: by the user's ``pk`` when authenticated, else by the client's IP
address. For the client throttle, a token that names no client is keyed by its subject (a digest,
as the subject throttle's, in its own scope). System check
``auth0_drf.E020`` reports a throttle of these whose rate is missing or malformed at startup,
where DRF itself would answer every request with a 500.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from .claims import Claims

__all__ = ["ClientRateThrottle", "SubjectRateThrottle", "TokenRateThrottle", "rate_problem", "token_ident"]

#: The periods DRF's ``parse_rate`` knows, by their first letter ("100/min", "5/s", "1000/day").
_PERIODS = frozenset("smhd")


def rate_problem(rate: object) -> str | None:
    """Return what is wrong with a DRF throttle rate (``"<number>/<s|m|h|d...>"`` or None), or None if nothing is.

    DRF's ``parse_rate`` fails on anything else with a ``ValueError`` or ``KeyError``, on every request.
    The text is in the active language: system check E020 puts it into its message.
    """
    if rate is None:
        return None
    if not isinstance(rate, str):
        return gettext("is not a string")
    number, slash, period = rate.partition("/")
    # As DRF reads it: rate.split("/") into exactly two parts (so one slash), and int(number)
    # (isdecimal, not isdigit: "²" and "①" are digits that int() refuses).
    if not slash or "/" in period or not number.isdecimal() or not period or period[0] not in _PERIODS:
        return gettext("is not of the form '<number>/<period>' with a period of s, m, h or d")
    return None


def token_ident(*parts: str) -> str:
    """Return a cache-key-safe digest of ``parts`` (64 hex digits): any text, any length, no collisions by joining."""
    return hashlib.sha256(json.dumps(parts).encode("ascii")).hexdigest()


class TokenRateThrottle(UserRateThrottle):
    """Base class: throttle by what ``get_token_ident()`` takes from the verified token.

    Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]`` (or a ``rate`` class
    attribute), read when the throttle is made rather than when DRF was imported, so
    ``override_settings`` works. ``get_token_ident()`` returning None falls back to
    ``UserRateThrottle``'s key.
    """

    scope: str | None = None

    def get_rate(self) -> str | None:
        """Return the rate of ``scope``: from ``THROTTLE_RATES`` when a subclass sets it, else DRF's current settings.

        Raises ``ImproperlyConfigured``, as DRF does, when there is none (check E020 says so at startup).
        """
        if not self.scope:
            raise ImproperlyConfigured(f"Set a scope or a rate on the throttle {type(self).__name__}.")
        # DRF's own class attribute holds the rates of when DRF was imported; a settings change
        # since then (override_settings) is only in api_settings.
        own = type(self).THROTTLE_RATES
        rates: dict[str, Any] = (
            own if own is not SimpleRateThrottle.THROTTLE_RATES else api_settings.DEFAULT_THROTTLE_RATES
        )
        try:
            rate: str | None = rates[self.scope]
        except KeyError:
            raise ImproperlyConfigured(
                f"No rate for the throttle scope {self.scope!r} in REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']."
            ) from None
        return rate

    def get_token_ident(self, claims: Claims) -> str | None:
        """Return the identifier of the verified token's bucket, or None for DRF's fallback."""
        raise NotImplementedError(".get_token_ident() must be overridden")

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        auth = getattr(request, "auth", None)
        ident = self.get_token_ident(auth) if isinstance(auth, Claims) else None
        if ident is None:
            return super().get_cache_key(request, view)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class SubjectRateThrottle(TokenRateThrottle):
    """Limit each verified subject (issuer and ``sub``): a person, or a machine token's client, across its clients.

    Scope ``auth0_subject``. The cache key holds a digest of the issuer and subject, never the
    subject itself.
    """

    scope = "auth0_subject"

    def get_token_ident(self, claims: Claims) -> str | None:
        return token_ident("sub", claims.iss, claims.sub)


class ClientRateThrottle(TokenRateThrottle):
    """Limit each verified client (issuer and ``azp``, or RFC 9068's ``client_id``), whoever its users are.

    Scope ``auth0_client``. A token that names no client is keyed by its issuer and subject (the
    user), so it is never counted with another client's requests; by a digest, not the ``pk``
    ``UserRateThrottle`` would use, which for a stateless user is the raw ``sub`` (spaces, 255
    characters: a key memcached refuses).
    """

    scope = "auth0_client"

    def get_token_ident(self, claims: Claims) -> str | None:
        client = claims.client_id
        if not isinstance(client, str) or not client:
            return token_ident("user", claims.iss, claims.sub)
        return token_ident("client", claims.iss, client)
