"""Mint an access token from the local development issuer (DEBUG only)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from auth0_drf.dev_issuer import dev_issuer_enabled, mint_token


def parse_claim(text: str) -> tuple[str, Any]:
    """Parse ``name=value``; the value is JSON when it parses as JSON, else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CommandError(f"--claim takes name=value, not {text!r}")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


class Command(BaseCommand):
    help = "Mint an access token signed by the local development issuer (AUTH0_DRF['DEV_ISSUER'], DEBUG only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sub", default="auth0|demo-user", help="the subject (default: auth0|demo-user)")
        parser.add_argument(
            "--scope", action="append", default=[], help="a scope; repeat, or give several separated by spaces"
        )
        parser.add_argument("--permission", action="append", default=None, help="an RBAC permission; repeat for more")
        parser.add_argument(
            "--claim",
            action="append",
            default=[],
            type=parse_claim,
            help="a custom claim name=value (JSON values allowed); repeat for more",
        )
        parser.add_argument(
            "--lifetime",
            type=int,
            default=3600,
            help="seconds until it expires (default 3600; negative for an expired token)",
        )
        parser.add_argument("--audience", default=None, help="the audience (default: the configured AUDIENCE)")
        parser.add_argument(
            "--curl",
            metavar="URL",
            default=None,
            help="print a ready-to-paste curl command for URL instead of the bare token",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not dev_issuer_enabled():
            raise CommandError(
                "The development issuer is not enabled: set AUTH0_DRF['DEV_ISSUER'] = True (DEBUG only)."
            )
        scopes = [scope for text in options["scope"] for scope in text.split()]
        token = mint_token(
            sub=options["sub"],
            scopes=scopes,
            permissions=options["permission"],
            claims=dict(options["claim"]),
            lifetime=options["lifetime"],
            audience=options["audience"],
        )
        if options["curl"]:
            self.stdout.write(f"curl -H 'Authorization: Bearer {token}' {options['curl']}")
        else:
            self.stdout.write(token)
