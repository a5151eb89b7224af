"""Where keys come from: static keys registered by one public call, the swappable key cache, and the layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

import auth0_drf
from auth0_drf.dev_issuer import load_or_create_key, mint_token
from auth0_drf.jwks import JWKSCache
from auth0_drf.keysources import (
    Discovery,
    HttpJWKS,
    StaticJWKS,
    register_static_keys,
    static_keys,
    unregister_static_keys,
)
from auth0_drf.signing import LocalKey, access_token_claims, jwks_document
from auth0_drf.tokens import TokenVerifier, get_verifier

pytestmark = pytest.mark.django_db

#: Nothing is listening here: a fetch would fail at once (and the tests below must not fetch).
ISSUER = "http://127.0.0.1:9/"
AUDIENCE = "https://api.example.test/"


@pytest.fixture
def static_issuer(settings, auth0_signing_key):
    settings.AUTH0_DRF = {"ISSUER": ISSUER, "AUDIENCE": AUDIENCE}
    register_static_keys(ISSUER, jwks_document([auth0_signing_key]))
    yield auth0_signing_key
    unregister_static_keys(ISSUER)


def token(key: LocalKey, **kwargs) -> str:
    return key.sign(access_token_claims(issuer=ISSUER, audience=AUDIENCE, **kwargs))


def test_static_keys_registered_for_an_issuer_verify_its_tokens_without_a_fetch(static_issuer):
    assert get_verifier().verify(token(static_issuer, sub="auth0|static"))["sub"] == "auth0|static"
    cache = get_verifier().jwks[ISSUER]
    assert isinstance(cache.source, StaticJWKS) and cache.static and cache.fetch_count == 0


def test_registering_new_keys_reaches_the_verifier_already_built(static_issuer):
    get_verifier().verify(token(static_issuer))
    new_key = LocalKey.generate("ES256")
    register_static_keys(ISSUER, lambda: jwks_document([new_key]))
    assert get_verifier().jwks[ISSUER].keys.find(new_key.kid, "ES256") is not None
    assert get_verifier().jwks[ISSUER].keys.find(static_issuer.kid, "RS256") is None


def test_unregistered_keys_are_fetched_again_as_configured(static_issuer):
    assert get_verifier().jwks[ISSUER].static
    unregister_static_keys(ISSUER)
    cache = get_verifier().jwks[ISSUER]
    assert isinstance(cache.source, HttpJWKS) and cache.jwks_uri == ISSUER + ".well-known/jwks.json"
    assert not cache.static and cache.keys is None


def test_discovery_is_the_source_of_an_issuer_without_a_jwks_uri(settings):
    settings.AUTH0_DRF = {"ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "DISCOVERY": True}
    cache = get_verifier().jwks[ISSUER]
    assert isinstance(cache.source, Discovery) and cache.jwks_uri is None  # nothing discovered yet


def test_a_subclass_set_as_key_cache_class_holds_every_issuers_keys(static_issuer, settings, monkeypatch):
    class CountingCache(JWKSCache):
        lookups = 0

        def get_signing_key(self, kid, alg, *, deadline=None):
            CountingCache.lookups += 1
            return super().get_signing_key(kid, alg, deadline=deadline)

    monkeypatch.setattr(TokenVerifier, "key_cache_class", CountingCache)
    issuers = [{"ISSUER": ISSUER}, {"ISSUER": "https://other.example.test/"}]
    settings.AUTH0_DRF = {"ISSUERS": issuers, "AUDIENCE": AUDIENCE}
    assert all(type(cache) is CountingCache for cache in get_verifier().jwks.values())
    get_verifier().verify(token(static_issuer))
    assert CountingCache.lookups == 1


def test_the_development_key_is_registered_while_dev_issuer_is_on_and_only_then(settings, tmp_path):
    settings.DEBUG = True
    dev = {"ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "DEV_ISSUER": True, "DEV_ISSUER_KEY_FILE": str(tmp_path / "dev.pem")}
    settings.AUTH0_DRF = dev
    assert static_keys(ISSUER) is not None
    response = APIClient().get("/api/private", HTTP_AUTHORIZATION=f"Bearer {mint_token(sub='auth0|dev')}")
    assert response.status_code == 200, response.content
    assert response.json()["sub"] == "auth0|dev"
    assert get_verifier().jwks[ISSUER].static and get_verifier().jwks[ISSUER].fetch_count == 0
    settings.AUTH0_DRF = {**dev, "DEV_ISSUER": False}
    assert static_keys(ISSUER) is None
    assert not get_verifier().jwks[ISSUER].static


def test_a_development_key_file_without_an_rsa_key_is_a_configuration_error(settings, tmp_path):
    # The development tokens are RS256: an EC key there made tokens nothing could verify.
    path = tmp_path / "dev.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings.DEBUG = True
    settings.AUTH0_DRF = {"ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "DEV_ISSUER_KEY_FILE": str(path)}
    with pytest.raises(ImproperlyConfigured) as raised:
        load_or_create_key()
    assert str(raised.value) == f"AUTH0_DRF['DEV_ISSUER_KEY_FILE'] ({path}) does not hold an RSA private key."


# --- the layers -----------------------------------------------------------------------------

PACKAGE = Path(auth0_drf.__file__).parent
#: The tools: they may use the development issuer, the test helpers and local signing keys.
TOOLS = {
    "apps",
    "checks",
    "dev_issuer",
    "dev_urls",
    "diagnosis",
    "inspect",
    "openapi",
    "admin",
    "pytest_plugin",
    "signing",
    "testing",
}
TOOL_MODULES = {"dev_issuer", "signing", "testing"}


def imported_modules(path: Path) -> set[str]:
    """Return the auth0_drf modules ``path`` imports anywhere (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and not module.startswith("auth0_drf"):
                continue
            module = module.removeprefix("auth0_drf").lstrip(".")
            found.update([module.split(".")[0]] if module else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("auth0_drf."))
    return found


def test_no_module_below_the_tools_imports_the_development_issuer_the_test_helpers_or_signing():
    offenders = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem in TOOLS:
            continue
        wrong = imported_modules(path) & TOOL_MODULES
        if wrong:
            offenders[path.stem] = sorted(wrong)
    assert offenders == {}
