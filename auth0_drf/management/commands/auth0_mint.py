"""Mint an access token from the local development issuer (DEBUG only)."""

from __future__ import annotations

import json
import math
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from auth0_drf.dev_issuer import dev_issuer_enabled, mint_token

#: A value starting with one of these is meant as JSON (an array, an object, a quoted string).
_JSON_STARTS = ("[", "{", '"')


class _NotFinite(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: jwt.encode would write Infinity, which is not JSON
        raise _NotFinite(f"{text} is too large for a JSON number")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python's json accepts them, JSON does not


def parse_claim(text: str) -> tuple[str, Any]:
    """Parse ``name=value``: the value is JSON when it parses as JSON, else a string.

    A value that starts like a JSON array, object or string but does not parse is an error (a
    forgotten quote or bracket would otherwise become a string claim); so is a malformed
    ``name=value``. Raises ``CommandError`` with a one-line message.
    """
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise CommandError(f"--claim takes name=value (the value may be JSON), not {text!r}: e.g. --claim plan=pro")
    try:
        return name, json.loads(value, parse_float=_finite, parse_constant=_no_constant)
    except ValueError as exc:
        if isinstance(exc, _NotFinite) or value.lstrip().startswith(_JSON_STARTS):
            raise CommandError(f"--claim {name}: {value!r} is not valid JSON ({exc}).") from None
        return name, value


class Command(BaseCommand):
    help = "Mint an access token signed by the local development issuer (AUTH0_DRF['DEV_ISSUER'], DEBUG only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sub", default="auth0|demo-user", help="the subject (default: auth0|demo-user)")
        parser.add_argument(
            "--scope", action="append", default=[], help="a scope; repeat, or give several separated by spaces"
        )
        parser.add_argument("--permission", action="append", default=None, help="an RBAC permission; repeat for more")
        # Parsed in handle(), not by argparse's type=: a CommandError there is one line, not a traceback.
        parser.add_argument(
            "--claim",
            action="append",
            default=[],
            help="a custom claim name=value (JSON values allowed); repeat for more",
        )
        parser.add_argument(
            "--lifetime",
            type=int,
            default=3600,
            help="seconds until it expires (default 3600; negative for an expired token)",
        )
        parser.add_argument("--audience", default=None, help="the audience (default: the configured AUDIENCE)")
        parser.add_argument("--email", default=None, help="the user's email, as the claim {CLAIMS_NAMESPACE}email")
        parser.add_argument(
            "--name", default=None, help="the user's full name ({CLAIMS_NAMESPACE}name, given_name, family_name)"
        )
        parser.add_argument(
            "--role", action="append", default=[], help="a role, in the list {CLAIMS_NAMESPACE}roles; repeat for more"
        )
        parser.add_argument(
            "--userinfo",
            action="store_true",
            help="serve --email and --name at the issuer's /userinfo (named in aud) instead of in the token",
        )
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
        claims = dict(parse_claim(text) for text in options["claim"])
        audience = options["audience"]
        if audience is not None and not audience.strip():
            raise CommandError("--audience is empty: give your API identifier, or leave --audience out for AUDIENCE.")
        scopes = [scope for text in options["scope"] for scope in text.split()]
        try:
            token = mint_token(
                sub=options["sub"],
                scopes=scopes,
                permissions=options["permission"],
                claims=claims,
                lifetime=options["lifetime"],
                audience=audience,
                email=options["email"],
                name=options["name"],
                roles=options["role"],
                userinfo=options["userinfo"],
            )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        if options["curl"]:
            self.stdout.write(f"curl -H 'Authorization: Bearer {token}' {options['curl']}")
        else:
            self.stdout.write(token)
