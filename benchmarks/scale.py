#!/usr/bin/env python
"""Measure how auth0_drf's cost grows: JWKS keys, issuers, users, distinct tokens, worker processes.

Run from the repository root (about half a minute; updates the "Scale" section of RESULTS.md)::

    .venv/bin/python benchmarks/scale.py [--no-write]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
import timeit
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
# A database file rather than memory, so that worker processes can share the database cache.
_DB_DIR = tempfile.TemporaryDirectory(prefix="auth0_drf_scale_")
os.environ["AUTH0_DRF_BENCH_DB"] = os.path.join(_DB_DIR.name, "scale.sqlite3")

from bench import RESULTS, machine, replace_section  # noqa: E402  (sets up Django)

from auth0_drf.conf import IssuerConfig  # noqa: E402
from auth0_drf.keys import parse_jwks  # noqa: E402
from auth0_drf.signing import LocalKey, access_token_claims, jwks_document  # noqa: E402
from auth0_drf.testing import LocalIssuer  # noqa: E402
from auth0_drf.tokens import TokenVerifier  # noqa: E402

AUDIENCE = "https://api.example.test/"


def best_per_call(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def token_for(key: LocalKey, issuer: str, **claims) -> str:
    return key.sign(
        access_token_claims(
            issuer=issuer,
            audience=[AUDIENCE, issuer + "userinfo"],
            sub="auth0|u",
            scope="openid read:messages",
            lifetime=86400,
            claims=claims,
        )
    )


def static_verifier(
    issuers: list[str], keys_per_issuer: dict[str, list[LocalKey]], cache_size: int = 0
) -> TokenVerifier:
    verifier = TokenVerifier([IssuerConfig(i, (AUDIENCE,), None) for i in issuers], cache_size=cache_size)
    for issuer in issuers:
        verifier.jwks[issuer].preload(jwks_document(keys_per_issuer[issuer]), static=True)
    return verifier


def keys_rows(signing: LocalKey, others: list[LocalKey]) -> list[str]:
    rows = ["| keys in the JWKS | first-sight verify µs | parse the JWKS once per refresh, ms |", "|---:|---:|---:|"]
    issuer = "https://tenant.example.test/"
    token = token_for(signing, issuer)
    for n in (1, 10, 50):
        keys = [signing] + others[: n - 1]
        verifier = static_verifier([issuer], {issuer: keys})
        verify = best_per_call(lambda verifier=verifier: verifier.verify(token), 2000)
        document = jwks_document(keys)
        parse = best_per_call(lambda document=document: parse_jwks(document), 20)
        rows.append(f"| {n} | {verify * 1e6:.1f} | {parse * 1e3:.2f} |")
    return rows


def issuer_rows(signing: LocalKey) -> list[str]:
    rows = ["| configured issuers | first-sight verify µs |", "|---:|---:|"]
    for n in (1, 10, 100):
        issuers = [f"https://tenant-{i}.example.test/" for i in range(n)]
        verifier = static_verifier(issuers, {i: [signing] for i in issuers})
        token = token_for(signing, issuers[-1])
        rows.append(
            f"| {n} | {best_per_call(lambda verifier=verifier, token=token: verifier.verify(token), 2000) * 1e6:.1f} |"
        )
    return rows


def user_rows() -> list[str]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from auth0_drf.backends import Auth0UserBackend
    from auth0_drf.claims import Claims
    from auth0_drf.models import Auth0Identity

    User = get_user_model()
    backend = Auth0UserBackend()
    issuer = "https://tenant.example.test/"
    rows = [
        "| users in the table | lookup on a user-cache miss, µs (1 query) | steady state (cache hit), µs, queries |",
        "|---:|---:|---:|",
    ]
    created = 0
    for n in (100, 10_000, 50_000):
        users = [User(username=f"user-{i}") for i in range(created, n)]
        User.objects.bulk_create(users, batch_size=2000)
        saved = {u.username: u for u in User.objects.filter(username__in=[u.username for u in users])}
        Auth0Identity.objects.bulk_create(
            [Auth0Identity(issuer=issuer, subject=f"auth0|{name}", user=user) for name, user in saved.items()],
            batch_size=2000,
        )
        created = n
        claims = Claims({"iss": issuer, "sub": f"auth0|user-{n // 2}"})
        miss = best_per_call(lambda claims=claims: backend.find_identity(claims), 1000)
        backend.get_user(claims)  # fills the user cache
        with CaptureQueriesContext(connection) as queries:
            hit = best_per_call(lambda claims=claims: backend.get_user(claims), 5000)
        rows.append(f"| {n:,} | {miss * 1e6:.0f} | {hit * 1e6:.2f}, {len(queries)} |")
    return rows


def token_cache_rows(signing: LocalKey) -> list[str]:
    issuer = "https://tenant.example.test/"
    size = 256
    rows = [f"| distinct tokens in use (cache size {size}) | hit rate | mean verify µs |", "|---:|---:|---:|"]
    tokens = [token_for(signing, issuer, jti=f"t{i}") for i in range(4 * size)]
    rng = random.Random(1)
    for working_set in (size // 2, size, 2 * size, 4 * size):
        verifier = static_verifier([issuer], {issuer: [signing]}, cache_size=size)
        misses = [0]
        original = verifier._verify

        def counting(token, _original=original, misses=misses):
            misses[0] += 1
            return _original(token)

        verifier._verify = counting
        picks = [tokens[rng.randrange(working_set)] for _ in range(20 * working_set)]
        start = time.perf_counter()
        for token in picks:
            verifier.verify(token)
        elapsed = time.perf_counter() - start
        rows.append(f"| {working_set} | {1 - misses[0] / len(picks):.0%} | {elapsed / len(picks) * 1e6:.1f} |")
    return rows


def memory_per_entry(signing: LocalKey) -> float:
    issuer = "https://tenant.example.test/"
    count = 1000
    tokens = [
        token_for(signing, issuer, jti=f"m{i}", permissions=["read:messages", "write:messages"]) for i in range(count)
    ]
    verifier = static_verifier([issuer], {issuer: [signing]}, cache_size=count)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for token in tokens:
        verifier.verify(token)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # The token strings themselves already existed; count them too (the cache keeps them alive).
    return grown / count + sum(sys.getsizeof(t) for t in tokens) / count


def _worker(shared: str | None, shared_dir: str, issuer_settings: dict, token: str, barrier, results) -> None:
    from django.core.cache import caches
    from django.core.cache.backends.filebased import FileBasedCache

    options = {
        "ttl": 600,
        "min_ttl": 60,
        "max_ttl": 86400,
        "max_staleness": 86400,
        "refetch_cooldown": 30,
        "timeout": 5.0,
        "max_bytes": 512 * 1024,
    }
    if shared == "file":
        options["shared_cache"] = FileBasedCache(shared_dir, {})
    elif shared == "database":
        options["shared_cache"] = caches["jwks"]
    config = IssuerConfig(issuer_settings["ISSUER"], (issuer_settings["AUDIENCE"],), issuer_settings["JWKS_URI"])
    verifier = TokenVerifier([config], jwks_options=options)
    barrier.wait()
    verifier.verify(token)
    results.put(next(iter(verifier.jwks.values())).fetch_count)


def worker_rows(workers: int) -> list[str]:
    from django.core.cache import caches
    from django.db import connections

    rows = ["| worker processes | JWKS_SHARED_CACHE | JWKS fetches at the issuer |", "|---:|---|---:|"]
    context = multiprocessing.get_context("fork")
    variants = (
        (None, False, "none (per-process caches)"),
        ("database", False, "Django's database cache (atomic `add`), all starting at once"),
        ("file", False, "Django's FileBasedCache (`add` not atomic), all starting at once"),
        ("file", True, "Django's FileBasedCache, started one after another"),
    )
    for shared, staggered, label in variants:
        caches["jwks"].clear()
        connections.close_all()  # each forked worker opens its own connection
        with LocalIssuer() as issuer, tempfile.TemporaryDirectory() as shared_dir:
            token = issuer.token()
            barrier, results = context.Barrier(1 if staggered else workers), context.Queue()
            processes = []
            for _ in range(workers):
                process = context.Process(
                    target=_worker, args=(shared, shared_dir, issuer.settings(), token, barrier, results)
                )
                process.start()
                processes.append(process)
                if staggered:
                    process.join(30)
            for process in processes:
                process.join(30)
            failed = sum(1 for process in processes if process.exitcode != 0)
            rows.append(
                f"| {workers} | {label} | {issuer.jwks_hits()}{f' ({failed} workers failed)' if failed else ''} |"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)

    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)
    call_command("createcachetable", verbosity=0)
    signing = LocalKey.generate("RS256")
    others = [LocalKey.generate("RS256") for _ in range(49)]
    per_entry = memory_per_entry(signing)
    sections = [
        "## Scale (benchmarks/scale.py)",
        "",
        f"Measured {machine()['date']}; best of 5 repeats per cell, one process. "
        "Command: `.venv/bin/python benchmarks/scale.py`",
        "",
        "**Keys in the JWKS.** Keys are parsed once per refresh into a `kid → key` dictionary, so "
        "verification does not depend on how many keys are published; only the refresh does.",
        "",
        *keys_rows(signing, others),
        "",
        "**Issuers.** The issuer is one dictionary lookup on `iss`; each issuer has its own key cache.",
        "",
        *issuer_rows(signing),
        "",
        "**Users in the table.** A user-cache miss is one indexed query on the unique (issuer, subject) "
        "pair, so it grows with the depth of a B-tree, not the number of rows; a hit makes no query.",
        "",
        *user_rows(),
        "",
        "**Distinct tokens.** The verified-token cache holds `TOKEN_CACHE_SIZE` entries (default 4096) "
        "and drops the oldest first. While the tokens in use fit, every token is verified once per "
        "process and then hit; beyond that the hit rate falls towards size/working set.",
        "",
        *token_cache_rows(signing),
        "",
        f"Memory: about **{per_entry / 1024:.1f} KiB per entry** for an Auth0-shaped token "
        f"(digest, claims, header and the token string that `request.auth.token` keeps), so the default "
        f"4096 entries stay under **{4096 * per_entry / 2**20:.0f} MiB** per process. Only tokens whose "
        "signature and claims verified are stored, so junk tokens cannot fill it.",
        "",
        "**Worker processes.** Every process has its own key cache, token cache and user cache: N "
        "workers fetch the JWKS N times on a cold start and verify each token once each. With "
        "`JWKS_SHARED_CACHE` naming a cross-process Django cache (Redis, Memcached, database or file "
        "based; not LocMemCache, which is per process), a worker that finds a fresh copy there "
        "does not fetch; workers that need keys at the same moment let the first one that adds a "
        "short-lived marker to that cache (`cache.add`) fetch, and wait for its copy (at most "
        "`JWKS_TIMEOUT`, then they fetch themselves). With a backend whose `add()` is atomic (Redis, "
        "Memcached, the database cache; LocMemCache within a process, see tests/test_keyshare.py) "
        "that is one fetch; Django's FileBasedCache checks and writes in two steps, so workers "
        "starting at the same instant occasionally fetch twice.",
        "",
        *worker_rows(args.workers),
    ]
    output = "\n".join(sections)
    print(output)
    if not args.no_write:
        replace_section(RESULTS, "scale", output, "Benchmark results")
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
