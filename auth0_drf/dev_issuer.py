"""A local development issuer, so the demo (and your project) runs with no Auth0 tenant.

Enabled by ``AUTH0_DRF["DEV_ISSUER"] = True`` and only ever with ``DEBUG`` on (system check
``auth0_drf.E010``). A key pair is generated once into ``DEV_ISSUER_KEY_FILE`` (keep it out of
git); its public half is published at ``/.well-known/jwks.json`` by ``auth0_drf.dev_urls`` and
installed in-process, so verification needs no free server thread to fetch it. Mint tokens with
``manage.py auth0_mint``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, JsonResponse

from .conf import auth0_settings
from .issuer import LocalKey, access_token_claims, jwks_document

if TYPE_CHECKING:
    from .tokens import TokenVerifier


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
    return LocalKey(serialization.load_pem_private_key(pem, password=None), alg="RS256")


def dev_issuer() -> str:
    """Return the issuer the development tokens carry (the first configured issuer)."""
    issuers = auth0_settings.issuers
    if not issuers:
        raise ImproperlyConfigured("AUTH0_DRF['DEV_ISSUER'] needs AUTH0_DRF['ISSUER'] (or DOMAIN) to be set.")
    return issuers[0].issuer


def install_dev_keys(verifier: TokenVerifier) -> None:
    """Install the development key into ``verifier`` so nothing has to be fetched."""
    verifier.jwks[dev_issuer()].preload(jwks_document([load_or_create_key()]), static=True)


def mint_token(
    *,
    sub: str,
    scopes: Iterable[str] = (),
    permissions: Iterable[str] | None = None,
    claims: dict[str, Any] | None = None,
    lifetime: int = 3600,
    audience: str | None = None,
) -> str:
    """Return an access token signed by the development key."""
    issuer = dev_issuer()
    audiences = auth0_settings.issuers[0].audiences
    payload = access_token_claims(
        issuer=issuer,
        audience=audience or (audiences[0] if audiences else ""),
        sub=sub,
        scope=" ".join(scopes),
        permissions=permissions,
        lifetime=lifetime,
        claims=claims,
    )
    payload["azp"] = "auth0-drf-dev-client"
    return load_or_create_key().sign(payload)


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
