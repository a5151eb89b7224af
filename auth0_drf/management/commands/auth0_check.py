"""Fetch the configured JWKS now and say whether tokens signed by its keys would be accepted."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from auth0_drf.conf import IssuerConfig, auth0_settings
from auth0_drf.dev_issuer import dev_jwks
from auth0_drf.fetch import FetchError, discover_jwks_uri, fetch_json
from auth0_drf.keys import MIN_RSA_BITS, SUPPORTED_ALGORITHMS, parse_jwk


def _rsa_bits(n: Any) -> int | None:
    if not isinstance(n, str):
        return None
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big").bit_length()


def describe_jwk(jwk: Any, algorithms: list[str]) -> tuple[str, str | None]:
    """Return a one-line description of a published key and the algorithm it would verify.

    The verdict comes from ``auth0_drf.keys.parse_jwk`` (what the verifier itself uses); the
    reasons given for a refused key are only for the reader.
    """
    if not isinstance(jwk, Mapping):
        return "a key that is not a JSON object", None
    kty = jwk.get("kty")
    parts = [f"kid={jwk.get('kid', '-')}", f"kty={kty or '-'}", f"alg={jwk.get('alg', '-')}"]
    if kty == "RSA":
        parts.append(f"size={_rsa_bits(jwk.get('n')) or '?'} bits")
    elif kty in ("EC", "OKP"):
        parts.append(f"curve={jwk.get('crv', '-')}")
    parts.append(f"use={jwk.get('use', '-')}")
    text = "  ".join(parts)
    key = parse_jwk(jwk)
    if key is None:
        if kty == "oct":
            reason = "a symmetric (HMAC) key, never accepted"
        elif jwk.get("use") not in (None, "sig"):
            reason = "not a signing key"
        elif kty == "RSA" and (_rsa_bits(jwk.get("n")) or 0) < MIN_RSA_BITS:
            reason = f"an RSA key under {MIN_RSA_BITS} bits"
        else:
            reason = "malformed, or of a type auth0_drf does not verify"
        return f"{text}  -> ignored: {reason}", None
    usable = sorted(alg for alg in key.algorithms if alg in algorithms and alg in SUPPORTED_ALGORITHMS)
    if not usable:
        signs = ", ".join(sorted(key.algorithms))
        return f"{text}  -> NOT accepted: it verifies {signs}, but ALGORITHMS is {algorithms}", None
    return f"{text}  -> accepted ({', '.join(usable)})", usable[0]


class Command(BaseCommand):
    help = (
        "Fetch each configured issuer's JWKS now and report reachability, latency and keys, and "
        "whether tokens signed by them would be accepted. Exits non-zero on failure."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        issuers = auth0_settings.issuers
        if not issuers:
            raise CommandError("No issuer is configured: set AUTH0_DRF['DOMAIN'] (or ISSUER, or ISSUERS).")
        algorithms = list(auth0_settings.ALGORITHMS or [])
        self.stdout.write(f"ALGORITHMS: {', '.join(algorithms) or '(none)'}")
        failures = []
        for config in issuers:
            problem = self.check_issuer(config, algorithms)
            if problem:
                failures.append(f"{config.issuer}: {problem}")
        if failures:
            raise CommandError("auth0_check failed.\n" + "\n".join(failures))
        self.stdout.write(self.style.SUCCESS("OK: every issuer's keys are available and would verify tokens."))

    def check_issuer(self, config: IssuerConfig, algorithms: list[str]) -> str | None:
        """Report one issuer; return the reason it fails, or None."""
        self.stdout.write(f"\nIssuer: {config.issuer}")
        audiences = ", ".join(config.audiences) or "(none: set AUTH0_DRF['AUDIENCE'])"
        self.stdout.write(f"  Audience: {audiences}")
        if auth0_settings.DEV_ISSUER and config is auth0_settings.issuers[0]:
            self.stdout.write("  JWKS: the local development issuer's key, installed in-process (nothing fetched)")
            data: dict[str, Any] = dev_jwks()
        else:
            timeout, max_bytes = auth0_settings.JWKS_TIMEOUT, auth0_settings.JWKS_MAX_BYTES
            try:
                uri = config.jwks_uri or discover_jwks_uri(config.issuer, timeout, max_bytes)
            except FetchError as exc:
                self.stdout.write(f"  Discovery: FAILED: {exc}")
                return f"the OpenID configuration could not be read: {exc}"
            self.stdout.write(f"  JWKS URI: {uri}")
            try:
                result = fetch_json(uri, timeout=timeout, max_bytes=max_bytes)
            except FetchError as exc:
                self.stdout.write(f"  Reachable: NO: {exc}")
                return f"the JWKS could not be fetched: {exc}"
            cache = (
                "no Cache-Control max-age" if result.max_age is None else f"Cache-Control max-age {result.max_age} s"
            )
            self.stdout.write(f"  Reachable: yes, in {result.elapsed * 1000:.0f} ms ({cache})")
            data = result.data
        keys = data.get("keys")
        if not isinstance(keys, list):
            self.stdout.write("  Keys: the document has no 'keys' list")
            return "the JWKS document has no 'keys' list (is the JWKS URI right?)"
        self.stdout.write(f"  Keys ({len(keys)}):")
        accepted = 0
        for jwk in keys:
            line, alg = describe_jwk(jwk, algorithms)
            accepted += alg is not None
            self.stdout.write(f"    {line}")
        if not accepted:
            return (
                f"none of its {len(keys)} keys would verify a token with ALGORITHMS {algorithms}: "
                "set AUTH0_DRF['ALGORITHMS'] to your Auth0 API's signing algorithm (normally RS256)"
            )
        return None
