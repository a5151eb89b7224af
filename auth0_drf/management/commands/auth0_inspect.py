"""Decode an access token, check it against the configured settings, and explain every problem."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from auth0_drf.diagnosis import KINDS, Diagnosis, decode, decoded_rows, diagnose
from auth0_drf.tokens import get_verifier


class Command(BaseCommand):
    help = (
        "Decode an access token (header and claims, times as local dates), verify it with the "
        "configured AUTH0_DRF settings, and explain every problem in plain words. Pass the token "
        "on stdin ('-' or no argument) to keep it out of your shell history. The token is never "
        "logged or stored."
    )
    # call_command(..., stdin=StringIO(token)) in tests.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "token", nargs="?", default="-", help="the access token, or '-' (the default) to read it from stdin"
        )
        parser.add_argument(
            "--offline", action="store_true", help="only decode: no keys are fetched, nothing is verified"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        token = options["token"]
        if token == "-":
            token = (options.get("stdin") or sys.stdin).read()
        if not token.strip():
            raise CommandError("No token given: pass it as an argument or on stdin.")
        diagnosis = decode(token) if options["offline"] else diagnose(token)
        self.print_diagnosis(diagnosis)
        if options["offline"]:
            if diagnosis.kind != "jwt":
                raise CommandError("The token could not be decoded (see above).")
            return
        if diagnosis.problems:
            count = len(diagnosis.problems)
            raise CommandError(f"This API would reject the token: {count} problem{'s' * (count != 1)} (see above).")
        self.stdout.write(self.style.SUCCESS("Verdict: this API would accept the token."))

    def print_diagnosis(self, diagnosis: Diagnosis) -> None:
        """Write the decoded token and the problems found."""
        now = get_verifier().timer()
        self.stdout.write(f"Token: {KINDS[diagnosis.kind]}")
        for title, part in (("Header", diagnosis.header), ("Claims", diagnosis.payload)):
            if part is None:
                continue
            self.stdout.write(f"{title}:")
            for name, shown in decoded_rows(part, now):
                self.stdout.write(f"  {name}: {shown}")
        if not diagnosis.verified:
            self.stdout.write("Not verified (--offline): decoded only.")
        elif diagnosis.kind == "jwt":
            self.stdout.write(f"Signature: {diagnosis.signature}")
        if diagnosis.problems:
            self.stdout.write(self.style.ERROR(f"Problems ({len(diagnosis.problems)}):"))
            for number, problem in enumerate(diagnosis.problems, 1):
                self.stdout.write(f"  {number}. [{problem.code}] {problem.message}")
