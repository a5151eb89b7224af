"""Delete old recorded claims now (recording also prunes on its own, so cron is optional)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from auth0_drf.conf import auth0_settings
from auth0_drf.recorder import prune


class Command(BaseCommand):
    help = (
        "Delete recorded claims last seen more than RECORD_MAX_AGE seconds ago, and all but the "
        "RECORD_MAX_ROWS most recently seen."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-age", type=float, default=None, help="seconds (default: AUTH0_DRF['RECORD_MAX_AGE'])"
        )
        parser.add_argument(
            "--max-rows", type=int, default=None, help="rows kept (default: AUTH0_DRF['RECORD_MAX_ROWS'])"
        )
        parser.add_argument("--database", default=None, help="the database alias (default: the router's choice)")

    def handle(self, *args: Any, **options: Any) -> None:
        max_age = auth0_settings.RECORD_MAX_AGE if options["max_age"] is None else options["max_age"]
        max_rows = auth0_settings.RECORD_MAX_ROWS if options["max_rows"] is None else options["max_rows"]
        if max_age < 0 or max_rows < 0:
            raise CommandError("--max-age and --max-rows must be at least 0.")
        deleted = prune(max_age=max_age, max_rows=max_rows, using=options["database"])
        self.stdout.write(
            f"Deleted {deleted} recorded claim row(s); kept at most {max_rows}, none older than {max_age:.0f} seconds."
        )
