"""Fetch the issuer's ``/userinfo`` profile with the request's own access token (``USERINFO``).

Only for a token whose ``aud`` includes the issuer's ``/userinfo`` (Auth0 adds it when the login
asked for ``openid``): the token is then meant for it, and sending it there hands it to no one
new. Through ``fetch.fetch_json``, the JWKS's bounded fetch: a total deadline, a size cap, no
redirects (a token never follows one). The answer counts only when its ``sub`` is the token's
(OpenID Connect Core, section 5.3.2). The token is never logged: failures name the URL alone.
"""

from __future__ import annotations

from typing import Any

from .claims import Claims
from .conf import auth0_settings
from .fetch import FetchError, fetch_json

#: A profile is small: a larger answer is refused.
MAX_BYTES = 64 * 1024


def userinfo_url(claims: Claims) -> str | None:
    """Return the issuer's ``/userinfo`` when the token's ``aud`` includes it, else None."""
    url = claims.iss.rstrip("/") + "/userinfo"
    return url if url in claims.audiences else None


def fetch_userinfo(claims: Claims, url: str) -> dict[str, Any]:
    """Return the profile ``url`` answers for the request's token; raise ``FetchError`` when it does not.

    Bounded by ``JWKS_TIMEOUT``; a profile for another subject is refused.
    """
    timeout = min(float(auth0_settings.JWKS_TIMEOUT), 10.0)
    result = fetch_json(url, timeout=timeout, max_bytes=MAX_BYTES, headers={"Authorization": f"Bearer {claims.token}"})
    if result.data.get("sub") != claims.sub:
        raise FetchError(f"{url} answered with the profile of another subject")
    return result.data
