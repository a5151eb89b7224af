#!/usr/bin/env python
"""Measure what counting rejections costs per rejected request (RECORD_REJECTIONS on, off) and in writes under a flood.

Run from the repository root (about 10 s; updates the "Rejections" section of RESULTS.md)::

    .venv/bin/python benchmarks/rejections.py            # --no-write: print only; --smoke: a second or two

The per-request rows time a rejected request through Django's test client (a garbage token, and
an expired token whose signature is checked first), alternating on and off in each round so that
drift of a shared machine hits both alike. The flood sends rejected requests as fast as one thread
can for a few seconds with a short ``REJECTIONS_INTERVAL`` and counts the writes: at most one per
interval (plus the first after the interval began), whatever the number of requests.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import RESULTS, machine, replace_section  # noqa: E402  (sets up Django)


def time_batch(client: Any, header: dict[str, str], n: int) -> float:
    """Return the mean seconds per rejected request over ``n`` requests."""
    start = time.perf_counter()
    for _ in range(n):
        response = client.get("/private", **header)
        if response.status_code != 401:
            raise AssertionError(f"expected 401, got {response.status_code}: {response.content[:200]!r}")
    return (time.perf_counter() - start) / n


def per_request(issuer: Any, rounds: int, batch: int) -> list[str]:
    """Return table lines: median µs per rejected request with counting on and off."""
    from django.test import Client
    from django.test.utils import override_settings

    from auth0_drf.conf import auth0_settings
    from auth0_drf.rejectcounts import count_rejection, rejection_counter

    client = Client()
    cases = {
        "garbage token (not_a_jwt, unverified)": {"HTTP_AUTHORIZATION": "Bearer garbage"},
        "expired token (token_expired, verified)": {"HTTP_AUTHORIZATION": f"Bearer {issuer.token(lifetime=-60)}"},
    }
    samples: dict[tuple[str, bool], list[float]] = {}
    with override_settings(AUTH0_DRF=issuer.settings(RECORD_CLAIMS=False, REJECTIONS_INTERVAL=3600)):
        for index in range(rounds + 1):  # the first round warms up (keys fetched, headers cached), untimed
            for name, header in cases.items():
                for enabled in (True, False) if index % 2 else (False, True):
                    # Set on the settings object, not with override_settings: an override resets every
                    # cache (the issuer's keys too), and the refetch would be timed.
                    auth0_settings.__dict__["RECORD_REJECTIONS"] = enabled
                    samples.setdefault((name, enabled), []).append(time_batch(client, header, batch))
    for values in samples.values():
        del values[0]
    rejection_counter.clear()
    lines = ["| rejected request | counting on (µs) | counting off (µs) | difference (µs) |", "|---|---:|---:|---:|"]
    for name in cases:
        with_on = statistics.median(samples[(name, True)]) * 1e6
        with_off = statistics.median(samples[(name, False)]) * 1e6
        lines.append(f"| {name} | {with_on:.1f} | {with_off:.1f} | {with_on - with_off:+.1f} |")
    # The counting alone, without the request around it (whose noise on a shared machine is larger).
    verified = {"iss": issuer.issuer, "client": "test-client-id", "aud": issuer.audience}
    with override_settings(AUTH0_DRF=issuer.settings(REJECTIONS_INTERVAL=3600)):
        for label, code, context in (("unverified", "not_a_jwt", {}), ("verified", "token_expired", verified)):
            calls = 20000
            alone = timeit.timeit(lambda code=code, context=context: count_rejection(code, context), number=calls)
            lines.append(f"| `count_rejection()` alone, {label} | {alone / calls * 1e6:.1f} | | |")
        rejection_counter.clear()
    return lines


def flood(issuer: Any, seconds: float, interval: float) -> tuple[list[str], bool]:
    """Return lines on the writes made by a flood of rejected requests, and whether the bound held."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from auth0_drf.models import RejectionCount
    from auth0_drf.rejectcounts import rejection_counter

    client = Client()
    headers = [{"HTTP_AUTHORIZATION": "Bearer garbage"}, {"HTTP_AUTHORIZATION": f"Bearer {issuer.token(lifetime=-60)}"}]
    with override_settings(AUTH0_DRF=issuer.settings(RECORD_CLAIMS=False, REJECTIONS_INTERVAL=interval)):
        RejectionCount.objects.all().delete()
        rejection_counter.clear()
        writes_before = rejection_counter.writes
        requests = 0
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            while time.perf_counter() - started < seconds:
                client.get("/private", **headers[requests % 2])
                requests += 1
        elapsed = time.perf_counter() - started
        writes = rejection_counter.writes - writes_before
        rejection_counter.flush()
        stored = sum(RejectionCount.objects.values_list("count", flat=True))
    statements = [q["sql"] for q in queries if "auth0_drf_rejectioncount" in q["sql"]]
    bound = math.floor(elapsed / interval)
    held = writes <= bound and stored == requests
    lines = [
        f"Flood: {requests} rejected requests in {elapsed:.1f} s (two codes, one thread), "
        f"REJECTIONS_INTERVAL = {interval:g} s: {writes} writes ({len(statements)} statements on the counts "
        f"table; bound: one write per interval, {bound}); {stored} rejections stored, "
        f"{'all of them' if stored == requests else 'MISSING SOME'}. {'OK' if held else 'FAILED'}.",
    ]
    return lines, held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--flood-seconds", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--smoke", action="store_true", help="a second or two, no RESULTS.md; fails only on errors")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.batch, args.flood_seconds, args.no_write = 2, 20, 1.0, True

    from django.core.management import call_command

    from auth0_drf.testing import LocalIssuer

    call_command("migrate", verbosity=0, run_syncdb=True)
    issuer = LocalIssuer().start()
    try:
        table = per_request(issuer, args.rounds, args.batch)
        flood_lines, held = flood(issuer, args.flood_seconds, args.interval)
    finally:
        issuer.stop()
    info = machine()
    header = (
        f"Measured {info['date']} on {info['cpu']} (nproc {info['nproc']}), {info['python']}; "
        f"{args.rounds} rounds of {args.batch} requests per row. "
        f"Command: `.venv/bin/python benchmarks/rejections.py{' --smoke' if args.smoke else ''}`"
    )
    notes = [
        "Notes:",
        "- A rejected request through Django's test client (benchmarks/settings.py, in-memory SQLite), "
        "median of the rounds; counting costs a dictionary update under a lock, and no query until the "
        "interval has passed (REJECTIONS_INTERVAL 3600 s here, so no write falls in the timed rows). On a "
        "shared machine the request rows differ by more than that from noise alone: the `count_rejection()` "
        "rows are the cost itself.",
        "- The flood's writes happen after the request that found the interval passed (request_finished); "
        "each write is one UPDATE per distinct key (plus an INSERT for a new row), whatever the number of "
        "requests.",
    ]
    output = "\n".join([header, "", *table, "", *flood_lines, "", *notes])
    print(output)
    if not args.no_write:
        replace_section(
            RESULTS, "rejections", "## Rejections (benchmarks/rejections.py)\n\n" + output, "Benchmark results"
        )
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    if not held:
        print("FAILED: the write bound did not hold under the flood, or counts were lost", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
