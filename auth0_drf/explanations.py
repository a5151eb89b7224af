"""Word a token's problems for a developer: dates, durations, and what to do about each rejection.

``diagnosis`` finds the problems by running the verifier's own checks; the functions here say,
with the values found in the token and the settings, why each one fails and how to fix it
(``aud is X; request the token with audience=Y``). Values from the token are shown as JSON, so
control characters cannot reach the terminal.

The words are in the active language (English unless a project activates another, as
``LocaleMiddleware`` does for the admin's token inspector); claim names, setting names and
values stay as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.utils import timezone
from django.utils.translation import gettext, ngettext, pgettext

from .errors import ClaimError, IDTokenNotAccepted, InvalidAudience, TokenExpired, TokenNotYetValid, audience_advice
from .fetch import is_loopback_url
from .jose import is_number

if TYPE_CHECKING:
    from .profiles import TokenProfile

#: Claims holding NumericDate values, shown as local dates.
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")
_MAX_SHOWN = 200


def show(value: Any) -> str:
    """Return ``value`` as JSON (so control characters cannot reach the terminal), shortened."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def duration(seconds: float) -> str:
    """Return a rough human duration: ``45 s``, ``5 min``, ``2 h``, ``3 days``."""
    seconds = abs(seconds)
    if seconds < 90:
        return gettext("%(count)s s") % {"count": f"{seconds:.0f}"}
    if seconds < 90 * 60:
        return gettext("%(count)s min") % {"count": f"{seconds / 60:.0f}"}
    if seconds < 48 * 3600:
        return gettext("%(count)s h") % {"count": f"{seconds / 3600:.0f}"}
    days = round(seconds / 86400)
    return ngettext("%(count)s day", "%(count)s days", days) % {"count": f"{seconds / 86400:.0f}"}


def local_date(value: float) -> str:
    """Return a NumericDate as a date in the current time zone (``TIME_ZONE``)."""
    try:
        moment = timezone.localtime(datetime.fromtimestamp(value, tz=dt_timezone.utc))
    except (OverflowError, OSError, ValueError):
        return gettext("not a representable date")
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}"


def describe_time(name: str, value: Any, now: float) -> str:
    """Return a NumericDate claim as a local date with its distance from ``now``."""
    if not is_number(value):  # what the verifier takes for a number, and nothing else
        return gettext("%(value)s (not a number)") % {"value": show(value)}
    delta = value - now
    future = delta > 0
    if name == "exp":
        relative = gettext("expires in %(duration)s") if future else gettext("expired %(duration)s ago")
    elif name == "nbf":
        relative = gettext("not valid for another %(duration)s") if future else gettext("valid since %(duration)s ago")
    elif name == "iat":
        relative = gettext("issued %(duration)s in the future") if future else gettext("issued %(duration)s ago")
    else:
        relative = gettext("in %(duration)s") if future else gettext("%(duration)s ago")
    return f"{value} = {local_date(value)} ({relative % {'duration': duration(delta)}})"


def explain_algorithm(alg: Any, accepted: Iterable[str]) -> str:
    """Say why the header's ``alg`` is refused, and what to configure at Auth0 instead."""
    accepted_text = ", ".join(accepted) or pgettext("algorithms", "none configured")
    text = gettext("alg is %(alg)s; this API accepts %(accepted)s (AUTH0_DRF['ALGORITHMS']).") % {
        "alg": show(alg),
        "accepted": accepted_text,
    }
    if isinstance(alg, str) and alg.upper().startswith("HS"):
        text += " " + gettext(
            "HMAC tokens come from an Auth0 API whose signing algorithm is HS256: auth0_drf never "
            "accepts them; set the API's signing algorithm to RS256 in the Auth0 dashboard."
        )
    elif isinstance(alg, str) and alg.lower() == "none":
        text += " " + gettext("An unsigned token is never accepted.")
    return text


def explain_issuer(iss: Any, trusted: Sequence[str]) -> str:
    """Say why ``iss`` is not trusted: a trailing slash, a custom domain, or another tenant."""
    trusted_text = ", ".join(trusted) or gettext("none (set AUTH0_DRF['DOMAIN'])")
    text = gettext("iss is %(iss)s; this API trusts %(trusted)s.") % {"iss": show(iss), "trusted": trusted_text}
    if not isinstance(iss, str):
        return text
    host = urlsplit(iss).hostname or ""
    # A loopback issuer is a local or test issuer, neither a tenant nor a custom domain.
    trusted_hosts = [urlsplit(t).hostname or "" for t in trusted if not is_loopback_url(t)]
    if any(iss.rstrip("/") == t.rstrip("/") for t in trusted):
        return (
            text
            + " "
            + gettext(
                "They differ only by the trailing '/': Auth0's iss ends with '/', so set ISSUER to exactly what "
                "the token says (or set DOMAIN and leave ISSUER unset)."
            )
        )
    if is_loopback_url(iss):
        return text + explain_local_issuer(iss, [t for t in trusted if is_loopback_url(t)])
    if host.endswith(".auth0.com") and any(h and not h.endswith(".auth0.com") for h in trusted_hosts):
        return (
            text
            + " "
            + gettext(
                "The token was requested through the tenant's *.auth0.com domain, but this API trusts a custom "
                "domain (iss is the domain the token was requested through): request it through the custom "
                "domain, or also trust %(iss)s in AUTH0_DRF['ISSUERS']."
            )
            % {"iss": iss}
        )
    if host and not host.endswith(".auth0.com") and any(h.endswith(".auth0.com") for h in trusted_hosts):
        return (
            text
            + " "
            + gettext(
                "The token was requested through a custom domain, but this API trusts the tenant's *.auth0.com "
                "domain: set AUTH0_DRF['DOMAIN'] to %(host)s, or also trust %(iss)s in AUTH0_DRF['ISSUERS']."
            )
            % {"host": host, "iss": iss}
        )
    return text + " " + gettext("The token comes from another tenant or identity provider.")


def explain_local_issuer(iss: str, trusted_local: Sequence[str]) -> str:
    """Say that ``iss`` is an issuer on this machine (a development or test issuer), never a tenant or custom domain."""
    if trusted_local:
        # Both local: most often the server runs on another port than the tokens were minted for.
        return " " + gettext(
            "Both are local issuers (loopback addresses), at different addresses: tokens carry the address of "
            "the issuer that minted them. Mint the token with the server's settings (in the demo, set "
            "AUTH0_DEV_ISSUER_URL=%(url)s for manage.py auth0_mint, as bin/demo does from PORT)."
        ) % {"url": trusted_local[0]}
    development = f'AUTH0_DRF = {{"ISSUER": {show(iss)}, "AUDIENCE": ..., "DEV_ISSUER": True}}'
    return " " + gettext(
        "The token comes from a local development issuer (its iss is a loopback address: manage.py auth0_mint, "
        "the demo, or a test issuer), not from an Auth0 tenant or custom domain, and this API trusts no local "
        "issuer. Send an access token from your tenant (your app's getTokenSilently(), or the Test tab of your "
        "API in the Auth0 dashboard); to develop without a tenant instead, run with %(settings)s (DEBUG only)."
    ) % {"settings": development}


def explain_no_audience(issuer: str) -> str:
    """Say that the settings name no audience for ``issuer``: the server's fault, not the token's."""
    return gettext(
        "No AUDIENCE is configured for %(issuer)s, so this API accepts no token at all (it answers 503): set "
        "AUTH0_DRF['AUDIENCE'] to your API identifier (system check auth0_drf.E002)."
    ) % {"issuer": issuer}


def explain_unknown_key(message: str, kid: Any, alg: str, known_kids: Sequence[Any] | None, where: str) -> str:
    """Say why no published key fits: no ``kid`` and no single key for ``alg``, or a ``kid`` not published."""
    if kid is None:
        return f"{message} " + gettext("The token has no kid and no single published key fits %(alg)s.") % {"alg": alg}
    known = ", ".join(show(k) for k in known_kids) if known_kids is not None else pgettext("no value", "none")
    return gettext(
        "kid is %(kid)s, which is not among the keys published at %(where)s (kids: %(known)s): the "
        "token was signed by another tenant or issuer, or by a key that has been revoked."
    ) % {"kid": show(kid), "where": where, "known": known}


def explain_keys_unavailable(issuer: str, last_error: str | None) -> str:
    """Say that the issuer's keys could not be fetched, and how to look into it."""
    return gettext("The signing keys of %(issuer)s could not be fetched (%(error)s): run manage.py auth0_check.") % {
        "issuer": issuer,
        "error": last_error or gettext("unknown reason"),
    }


def explain_bad_signature(kid: Any, iss: Any) -> str:
    """Say that the signature does not verify with the key the token names."""
    return gettext(
        "The signature does not verify with the key %(kid)s published by "
        "%(iss)s: the token was altered, or signed by a different key."
    ) % {"kid": show(kid), "iss": show(iss)}


def explain_claim(
    error: ClaimError,
    payload: Mapping[str, Any],
    audiences: Sequence[str],
    profile: TokenProfile,
    now: float,
    *,
    development: bool = False,
) -> str:
    """Say what is wrong with a claim, with its value: when it expired, which audience to request.

    ``development``: the token's issuer is the local development issuer, whose tokens are minted, not fetched.
    """
    if isinstance(error, TokenExpired) and is_number(payload.get("exp")):
        exp = payload["exp"]
        if development:
            text = gettext("The token expired %(duration)s ago (%(date)s): mint a new one (manage.py auth0_mint).")
        else:
            text = gettext("The token expired %(duration)s ago (%(date)s): get a new one from Auth0.")
        return text % {"duration": duration(now - exp), "date": local_date(exp)}
    if isinstance(error, TokenNotYetValid) and error.claim in payload:
        when = describe_time(error.claim, payload[error.claim], now)
        return gettext("%(message)s (%(claim)s is %(when)s)") % {
            "message": error.message,
            "claim": error.claim,
            "when": when,
        }
    if isinstance(error, IDTokenNotAccepted):
        marks = profile.id_token_marks(payload)
        values = {
            "aud": show(payload.get("aud")),
            "marks": ", ".join(marks),
            "advice": audience_advice(audiences, "requested"),
        }
        if marks:
            text = gettext(
                "This is an ID token (aud is %(aud)s, the client id; it carries %(marks)s). APIs accept access "
                "tokens only: send the access token, %(advice)s."
            )
        else:
            text = gettext(
                "This is an ID token (aud is %(aud)s, the client id). APIs accept access "
                "tokens only: send the access token, %(advice)s."
            )
        return text % values
    if isinstance(error, InvalidAudience) and "aud" in payload:
        aud = payload["aud"]
        found = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if found and all(isinstance(a, str) and a.endswith("/userinfo") for a in found):
            return gettext(
                "aud is %(aud)s, which is only Auth0's /userinfo endpoint: no audience was requested. %(advice)s."
            ) % {"aud": show(aud), "advice": audience_advice(audiences, "Request the token")}
        return gettext("aud is %(aud)s; %(advice)s.") % {"aud": show(aud), "advice": audience_advice(audiences)}
    return error.message
