"""A local development issuer, so the demo (and your project) runs with no Auth0 tenant.

Enabled by ``AUTH0_DRF["DEV_ISSUER"] = True`` and only ever with ``DEBUG`` on (system check
``auth0_drf.E010``). A key pair is generated once into ``DEV_ISSUER_KEY_FILE`` (keep it out of
git); its public half is published at ``/.well-known/jwks.json`` by ``auth0_drf.dev_urls`` and
registered in-process as the issuer's static keys (``register_static_keys``), so verification
needs no free server thread to fetch it. Mint tokens with ``manage.py auth0_mint``, or, for a
single-page app working offline, with ``POST /dev-issuer/token`` (``token_view``: loopback only).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .conf import auth0_settings
from .errors import TokenError
from .keysources import register_static_keys, static_keys, unregister_static_keys
from .signing import LocalKey, access_token_claims, jwks_document
from .tokens import get_verifier


def dev_issuer_enabled() -> bool:
    """Return whether the development issuer is configured (regardless of DEBUG)."""
    return bool(auth0_settings.DEV_ISSUER)


def key_file_path() -> Path:
    """Return where the development key lives (relative paths are under ``BASE_DIR``)."""
    path = Path(auth0_settings.DEV_ISSUER_KEY_FILE)
    if not path.is_absolute():
        path = Path(getattr(settings, "BASE_DIR", Path.cwd())) / path
    return path


def load_or_create_key() -> LocalKey:
    """Return the development signing key, generating and saving it on first use."""
    if not settings.DEBUG:
        raise ImproperlyConfigured("AUTH0_DRF['DEV_ISSUER'] works only with DEBUG = True.")
    path = key_file_path()
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        key = LocalKey.generate("RS256")
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race; use its key
            pem = path.read_bytes()
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):  # the development tokens are RS256
        raise ImproperlyConfigured(f"AUTH0_DRF['DEV_ISSUER_KEY_FILE'] ({path}) does not hold an RSA private key.")
    return LocalKey(private_key, alg="RS256")


def dev_issuer() -> str:
    """Return the issuer the development tokens carry (the first configured issuer)."""
    issuers = auth0_settings.issuers
    if not issuers:
        raise ImproperlyConfigured("AUTH0_DRF['DEV_ISSUER'] needs AUTH0_DRF['ISSUER'] (or DOMAIN) to be set.")
    return issuers[0].issuer


def dev_jwks() -> dict[str, Any]:
    """Return the JWKS of the development key (what ``jwks_view`` publishes)."""
    return jwks_document([load_or_create_key()])


_registered_issuer: str | None = None  # the issuer the development key is registered for
_following_settings = False


def register_dev_keys() -> None:
    """Register the development key as the dev issuer's static keys while ``DEV_ISSUER`` is on, and only then.

    The key itself is read when a verifier is built, so ``DEBUG`` is checked then (as
    ``load_or_create_key`` does). Settings that name no issuer register nothing: the system
    checks report them.
    """
    global _registered_issuer
    issuer = _configured_dev_issuer()
    if issuer == _registered_issuer:
        return
    if _registered_issuer is not None and static_keys(_registered_issuer) is dev_jwks:
        unregister_static_keys(_registered_issuer)  # unless keys were registered for it since by another
    _registered_issuer = issuer
    if issuer is not None:
        register_static_keys(issuer, dev_jwks)


def follow_settings() -> None:
    """Register the development key now and again whenever ``AUTH0_DRF`` changes (``AppConfig.ready()``).

    So ``override_settings`` turns the development issuer on and off, as it does every setting.
    """
    global _following_settings
    if not _following_settings:
        _following_settings = True
        auth0_settings.on_reset(register_dev_keys)
    register_dev_keys()


def _configured_dev_issuer() -> str | None:
    # This runs at start-up and on every settings change, before the system checks: settings
    # they report (AUTH0_DRF not a dict, malformed ISSUERS...) must not fail here.
    try:
        if not auth0_settings.DEV_ISSUER:
            return None
        issuers = auth0_settings.issuers
    except Exception:
        return None
    return issuers[0].issuer if issuers else None


def mint_token(
    *,
    sub: str,
    scopes: Iterable[str] = (),
    permissions: Iterable[str] | None = None,
    claims: dict[str, Any] | None = None,
    lifetime: int = 3600,
    audience: str | None = None,
    email: str | None = None,
    name: str | None = None,
    roles: Iterable[str] = (),
    userinfo: bool = False,
) -> str:
    """Return an access token signed by the development key.

    ``audience`` defaults to the first configured ``AUDIENCE``; with none, or an empty one, raises
    ``ImproperlyConfigured``: a token with an empty ``aud`` is one no API accepts. ``email``,
    ``name`` and ``roles`` become custom claims under ``CLAIMS_NAMESPACE``, as an Auth0 Action
    would add them (docs/users.md): ``email``, ``name`` with ``given_name`` (its first word) and
    ``family_name`` (the rest), and ``roles`` (a list). With ``userinfo``, the token's ``aud``
    also names the issuer's ``/userinfo``, and ``email`` and ``name`` are served there
    (``userinfo_view``) instead of being custom claims, as with a tenant whose tokens carry no
    profile (``USERINFO``).
    """
    issuer = dev_issuer()
    if audience is None:
        audiences = auth0_settings.issuers[0].audiences
        audience = audiences[0] if audiences else ""
    if not audience:
        raise ImproperlyConfigured(
            "No audience for the development token: set AUTH0_DRF['AUDIENCE'] (your API identifier)."
        )
    if userinfo:
        profile = profile_claims(email=email, name=name)
        namespace = auth0_settings.CLAIMS_NAMESPACE or ""
        # Served by userinfo_view under their standard names; not custom claims USER_FIELDS would map.
        standard = {claim.removeprefix(namespace): value for claim, value in profile.items()}
        claims = {USERINFO_PROFILE_CLAIM: standard, **profile_claims(roles=roles), **(claims or {})}
    else:
        claims = {**profile_claims(email=email, name=name, roles=roles), **(claims or {})}
    payload = access_token_claims(
        issuer=issuer,
        audience=audience,
        sub=sub,
        scope=" ".join(scopes),
        permissions=permissions,
        lifetime=lifetime,
        claims=claims,
    )
    payload["azp"] = "auth0-drf-dev-client"
    if userinfo:
        payload["aud"] = [audience, issuer.rstrip("/") + "/userinfo"]
    return load_or_create_key().sign(payload)


def profile_claims(*, email: str | None = None, name: str | None = None, roles: Iterable[str] = ()) -> dict[str, Any]:
    """Return the namespaced profile claims ``mint_token`` adds for ``email``, ``name`` and ``roles``."""
    namespace = auth0_settings.CLAIMS_NAMESPACE or ""
    claims: dict[str, Any] = {}
    if email is not None:
        claims[namespace + "email"] = email
    if name is not None:
        given, _, family = name.strip().partition(" ")
        claims[namespace + "name"] = name
        claims[namespace + "given_name"] = given
        claims[namespace + "family_name"] = family.strip()
    roles = list(roles)
    if roles:
        claims[namespace + "roles"] = roles
    return claims


#: Where a development token carries the profile ``userinfo_view`` serves (``auth0_mint --userinfo``).
USERINFO_PROFILE_CLAIM = "https://auth0-drf.dev/userinfo"


def userinfo_view(request: HttpRequest) -> JsonResponse:
    """Answer ``/userinfo`` for the development issuer's own tokens: ``sub`` and the profile given to ``auth0_mint``.

    The token is verified as the API verifies it, and must name this ``/userinfo`` in its ``aud``.
    """
    _require_enabled()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        claims = get_verifier().verify(token) if scheme == "Bearer" else None
    except TokenError:
        claims = None
    if claims is None or claims.iss != dev_issuer() or dev_issuer().rstrip("/") + "/userinfo" not in claims.audiences:
        response = JsonResponse({"error": "invalid_token"}, status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    profile = claims.get(USERINFO_PROFILE_CLAIM)
    return JsonResponse({**(profile if isinstance(profile, dict) else {}), "sub": claims.sub})


#: The subject of tokens from ``token_view`` when the request names none.
SPA_SUBJECT = "auth0|dev-spa-user"
#: Seconds a token from ``token_view`` lasts.
SPA_TOKEN_LIFETIME = 3600


@csrf_exempt  # a form POST from a page on another origin, as a SPA's login would make; loopback only
def token_view(request: HttpRequest) -> JsonResponse:
    """Mint a development access token for a single-page app working without a tenant.

    ``POST`` a form with ``scope`` (space-separated) and optionally ``sub``; the answer has the
    shape of Auth0's ``/oauth/token`` answer (``access_token``, ``token_type``, ``expires_in``,
    ``scope``). For local development only: 404 unless the development issuer is enabled with
    ``DEBUG`` on (``auth0_drf.E010`` refuses it otherwise) and the request comes from a loopback
    address; anyone who can reach it gets any scope.
    """
    _require_enabled()
    if not _from_loopback(request):
        raise Http404("The development issuer's token endpoint answers loopback clients only.")
    if request.method != "POST":
        response = JsonResponse({"detail": "POST a form with scope (and optionally sub)."}, status=405)
        response["Allow"] = "POST"
        return response
    scope = " ".join(request.POST.get("scope", "").split())
    token = mint_token(sub=request.POST.get("sub") or SPA_SUBJECT, scopes=scope.split(), lifetime=SPA_TOKEN_LIFETIME)
    response = JsonResponse(
        {"access_token": token, "token_type": "Bearer", "expires_in": SPA_TOKEN_LIFETIME, "scope": scope}
    )
    response["Cache-Control"] = "no-store"  # RFC 6749 section 5.1: a token is never cached
    return response


def _from_loopback(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1, from a dual-stack socket
    return address.is_loopback


def _require_enabled() -> None:
    if not (dev_issuer_enabled() and settings.DEBUG):
        raise Http404("The development issuer is not enabled.")


def jwks_view(request: HttpRequest) -> JsonResponse:
    """Publish the development JWKS, as a tenant's ``/.well-known/jwks.json`` does."""
    _require_enabled()
    return JsonResponse(jwks_document([load_or_create_key()]))


def openid_configuration_view(request: HttpRequest) -> JsonResponse:
    """Publish a minimal OpenID configuration naming the issuer and its JWKS."""
    _require_enabled()
    return JsonResponse({"issuer": dev_issuer(), "jwks_uri": request.build_absolute_uri("/.well-known/jwks.json")})
