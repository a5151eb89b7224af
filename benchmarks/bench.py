#!/usr/bin/env python
"""Benchmark auth0_drf against the bare signature check, PyJWT and simplejwt, in one process.

Run from the repository root (simplejwt is installed for the peer rows only)::

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/bench.py            # about 20 s; rewrites its section of benchmarks/RESULTS.md
    .venv/bin/python benchmarks/bench.py --smoke    # a few seconds; fails only on errors (CI)

Every case runs once per round, in a shuffled order, so that drift of a shared machine hits all
cases alike. A sample is the mean time per call of a batch of calls sized to last about
``--batch-ms``; the table gives the median and the 10th/90th percentiles of the samples.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"

import django  # noqa: E402

django.setup()

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SUB = "auth0|bench-user"
POOL = 64  # distinct tokens for the first-sight cases
#: The profile claims of the "user sync on" row's token (under benchmarks.urls.SYNC_NAMESPACE).
PROFILE = {"email": "bench@example.com", "given_name": "Bench", "family_name": "Mark", "roles": ["admin", "editor"]}


class Case:
    """One benchmark row: ``call(i)`` is timed; ``setup()`` runs, untimed, before each batch."""

    def __init__(
        self,
        name: str,
        call: Callable[[int], Any],
        *,
        setup: Callable[[], Any] | None = None,
        kind: str = "verify",
        pool: int | None = None,
    ) -> None:
        self.name, self.call, self.setup, self.kind, self.pool = name, call, setup, kind, pool
        self.batch = 1
        self.samples: list[float] = []
        self.queries: float | None = None

    def run_batch(self) -> float:
        if self.setup is not None:
            self.setup()
        call, n = self.call, self.batch
        start = time.perf_counter()
        for i in range(n):
            call(i)
        return (time.perf_counter() - start) / n

    def calibrate(self, batch_seconds: float) -> None:
        self.batch = 1
        per_call = min(self.run_batch() for _ in range(3))
        self.batch = max(1, int(batch_seconds / per_call))
        if self.pool is not None:
            self.batch = min(self.batch, self.pool)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def build_cases(issuer: Any, simplejwt: bool) -> tuple[list[Case], dict[str, Any]]:
    """Return the cases and the objects the checks after the run need."""
    import jwt
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from auth0_drf.authentication import Auth0Authentication
    from auth0_drf.tokens import build_verifier, get_verifier

    audience, iss = issuer.audience, issuer.issuer
    # An Auth0-shaped token: two audiences (API + /userinfo), scopes and RBAC permissions.
    shape = {
        "sub": SUB,
        "scope": "openid profile email read:messages write:messages",
        "permissions": ["read:messages", "write:messages"],
        "audience": [audience, iss + "userinfo"],
        "lifetime": 86400,
    }
    token = issuer.token(**shape)
    pool = [issuer.token(**shape, claims={"jti": f"bench-{i}"}) for i in range(POOL)]
    public_key = issuer.signing_key.public_key
    head, body, sig = token.split(".")
    signing_input, signature = f"{head}.{body}".encode(), jwt.utils.base64url_decode(sig)
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    keys_by_kid = {issuer.signing_key.kid: public_key}

    def floor(i: int) -> None:
        public_key.verify(signature, signing_input, pkcs1, sha256)

    def pyjwt(i: int) -> None:
        jwt.decode(token, public_key, algorithms=["RS256"], audience=audience, issuer=iss, leeway=5)

    def pyjwt_kid(i: int) -> None:
        key = keys_by_kid[jwt.get_unverified_header(token)["kid"]]
        jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=iss, leeway=5)

    first_verifier, repeat_verifier = build_verifier(), build_verifier()
    first_verifier.verify(pool[0])  # fetches the keys once: they are warm from here on
    repeat_verifier.verify(token)

    def verify_first(i: int) -> None:
        first_verifier.verify(pool[i])

    def verify_repeat(i: int) -> None:
        repeat_verifier.verify(token)

    client = Client()
    header = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    from benchmarks.urls import SYNC_NAMESPACE

    profile = {f"{SYNC_NAMESPACE}{name}": value for name, value in PROFILE.items()}
    synced_token = issuer.token(**{**shape, "sub": SUB + "-synced"}, claims=profile)
    synced_header = {"HTTP_AUTHORIZATION": f"Bearer {synced_token}"}
    assert client.get("/private-synced", **synced_header).status_code == 200  # creates and syncs the user
    pool_headers = [{"HTTP_AUTHORIZATION": f"Bearer {t}"} for t in pool]
    assert client.get("/private", **header).status_code == 200  # creates the user

    def get(path: str, extra: dict[str, str]) -> None:
        response = client.get(path, **extra)
        if response.status_code != 200:
            raise AssertionError(f"GET {path} answered {response.status_code}: {response.content[:200]!r}")

    factory = APIRequestFactory()
    auth = Auth0Authentication()
    drf_request = Request(factory.get("/private", **header))
    pool_requests = [Request(factory.get("/private", **h)) for h in pool_headers]

    def authenticate_steady(i: int) -> None:
        auth.authenticate(drf_request)

    def authenticate_first(i: int) -> None:
        auth.authenticate(pool_requests[i])

    def clear_tokens() -> None:
        first_verifier.clear_cache()
        get_verifier().clear_cache()

    def warm_token() -> None:
        get_verifier().verify(token)

    cases = [
        Case("RSA-2048 PKCS#1 v1.5 verify (cryptography): the floor", floor),
        Case("jwt.decode, key preloaded", pyjwt),
        Case("jwt.get_unverified_header + jwt.decode (kid lookup)", pyjwt_kid),
        Case("auth0_drf TokenVerifier.verify, first sight", verify_first, setup=clear_tokens, pool=POOL),
        Case("auth0_drf TokenVerifier.verify, repeat (cache hit)", verify_repeat),
        Case("auth0_drf authenticate(), first sight, known user", authenticate_first, setup=clear_tokens, pool=POOL),
        Case("auth0_drf authenticate(), steady state", authenticate_steady, setup=warm_token),
        Case("request: AllowAny, no authentication", lambda i: get("/public", {}), kind="request"),
        Case(
            "request: auth0_drf, first sight, known user",
            lambda i: get("/private", pool_headers[i]),
            setup=clear_tokens,
            kind="request",
            pool=POOL,
        ),
        Case("request: auth0_drf, steady state", lambda i: get("/private", header), setup=warm_token, kind="request"),
        Case(
            "request: auth0_drf, steady state, user sync on",
            lambda i: get("/private-synced", synced_header),
            setup=lambda: get_verifier().verify(synced_token),
            kind="request",
        ),
    ]
    if simplejwt:
        from rest_framework_simplejwt.authentication import JWTAuthentication, JWTStatelessUserAuthentication

        sj_db, sj_stateless = JWTAuthentication(), JWTStatelessUserAuthentication()
        cases[7:7] = [
            Case("simplejwt authenticate(), database user", lambda i: sj_db.authenticate(drf_request)),
            Case("simplejwt authenticate(), stateless TokenUser", lambda i: sj_stateless.authenticate(drf_request)),
        ]
        cases += [
            Case("request: simplejwt, database user", lambda i: get("/simplejwt-db", header), kind="request"),
            Case(
                "request: simplejwt, stateless TokenUser", lambda i: get("/simplejwt-stateless", header), kind="request"
            ),
        ]

    # Count database queries per call once (outside the timing).
    for case in cases:
        if case.setup:
            case.setup()
        n = min(case.pool or 20, 20)
        with CaptureQueriesContext(connection) as queries:
            for i in range(n):
                case.call(i)
        case.queries = len(queries) / n
    return cases, {"token": token, "client": client, "header": header}


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from cryptography.hazmat.backends.openssl.backend import backend

    versions = {}
    for dist in ("Django", "djangorestframework", "PyJWT", "cryptography", "djangorestframework-simplejwt"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "openssl": backend.openssl_version_text(),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def table(cases: list[Case]) -> tuple[list[str], dict[str, float]]:
    """Return the Markdown table lines and the medians by case name."""
    medians = {c.name: statistics.median(c.samples) for c in cases}
    floor = medians[cases[0].name]
    allow_any = next(medians[c.name] for c in cases if c.name.startswith("request: AllowAny"))
    lines = [
        "| case | median µs | p10 µs | p90 µs | × floor | vs AllowAny request | DB queries/call |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        m = medians[c.name]
        versus = f"{(m - allow_any) * 1e6:+.0f} µs ({m / allow_any:.2f}×)" if c.kind == "request" else ""
        lines.append(
            f"| {c.name} | {m * 1e6:.1f} | {percentile(c.samples, 0.1) * 1e6:.1f} | "
            f"{percentile(c.samples, 0.9) * 1e6:.1f} | {m / floor:.2f}× | {versus} | {c.queries:g} |"
        )
    return lines, medians


def targets(medians: dict[str, float], cases: list[Case], steady: dict[str, int]) -> list[str]:
    floor = medians[cases[0].name]

    def med(prefix: str) -> float:
        return next(medians[c.name] for c in cases if c.name.startswith(prefix))

    first = med("auth0_drf TokenVerifier.verify, first sight") / floor
    repeat = med("auth0_drf TokenVerifier.verify, repeat") / floor
    extra = (med("request: auth0_drf, steady state") - med("request: AllowAny")) * 1e6
    steady_queries = next(c.queries for c in cases if c.name == "request: auth0_drf, steady state")
    synced = "request: auth0_drf, steady state, user sync on"
    extra_synced = (medians[synced] - med("request: AllowAny")) * 1e6
    synced_queries = next(c.queries for c in cases if c.name == synced)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    return [
        f"- First sight ≤ 2.0× floor: **{first:.2f}×** ({verdict(first <= 2.0)})",
        f"- Repeat ≤ 0.25× floor: **{repeat:.2f}×** ({verdict(repeat <= 0.25)})",
        f"- Steady-state request ≤ +50 µs over AllowAny: **{extra:+.0f} µs** ({verdict(extra <= 50)}), "
        f"DB queries per request {steady_queries:g} ({verdict(steady_queries == 0)})",
        f"- The same with user sync on (USER_FIELDS, USER_FLAGS, GROUPS_CLAIM): **{extra_synced:+.0f} µs** "
        f"({verdict(extra_synced <= 50)}), DB queries per request {synced_queries:g} ({verdict(synced_queries == 0)})",
        f"- Steady state, {steady['requests']} requests: {steady['queries']} DB queries, {steady['writes']} writes, "
        f"{steady['jwks']} JWKS fetches ({verdict(steady['queries'] == steady['writes'] == steady['jwks'] == 0)})",
    ]


def steady_state_counts(issuer: Any, context: dict[str, Any], n: int) -> dict[str, int]:
    """Count queries, writes and JWKS fetches over ``n`` steady-state requests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    before = issuer.jwks_hits()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(n):
            assert context["client"].get("/private", **context["header"]).status_code == 200
    writes = sum(1 for q in queries if not q["sql"].lstrip().upper().startswith("SELECT"))
    return {"requests": n, "queries": len(queries), "writes": writes, "jwks": issuer.jwks_hits() - before}


def replace_section(path: Path, name: str, text: str, title: str) -> None:
    """Replace (or add) the section between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    current = path.read_text() if path.exists() else f"# {title}\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(current):
        current = pattern.sub(lambda _: block, current)
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    path.write_text(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few rounds, no RESULTS.md; fails only on errors")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--batch-ms", type=float, default=2.0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.batch_ms, args.no_write = 5, 0.5, True

    from django.core.management import call_command
    from django.test.utils import override_settings

    from auth0_drf.testing import LocalIssuer

    call_command("migrate", verbosity=0, run_syncdb=True)
    issuer = LocalIssuer().start()
    try:
        from cryptography.hazmat.primitives import serialization

        pem = issuer.signing_key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        # simplejwt configured for the same RS256 token: no token_type/jti claims (Auth0 has none).
        simple_jwt = {
            "ALGORITHM": "RS256",
            "SIGNING_KEY": None,
            "VERIFYING_KEY": pem,
            "AUDIENCE": issuer.audience,
            "ISSUER": issuer.issuer,
            "LEEWAY": 5,
            "USER_ID_CLAIM": "sub",
            "USER_ID_FIELD": "username",
            "TOKEN_TYPE_CLAIM": None,
            "JTI_CLAIM": None,
            "AUTH_HEADER_TYPES": ("Bearer",),
        }
        override = override_settings(AUTH0_DRF=issuer.settings(), SIMPLE_JWT=simple_jwt)
        override.enable()
        try:
            import rest_framework_simplejwt  # noqa: F401

            simplejwt = True
        except ImportError:
            simplejwt = False
            print("djangorestframework-simplejwt is not installed: its rows are skipped", file=sys.stderr)

        cases, context = build_cases(issuer, simplejwt)
        jwks_after_warmup = issuer.jwks_hits()
        for case in cases:
            case.calibrate(args.batch_ms / 1000)
        rng = random.Random(args.seed)
        order = list(cases)
        started = time.perf_counter()
        gc_was_enabled = gc.isenabled()
        for _ in range(args.rounds):
            rng.shuffle(order)
            gc.collect()
            gc.disable()
            try:
                for case in order:
                    case.samples.append(case.run_batch())
            finally:
                if gc_was_enabled:
                    gc.enable()
        elapsed = time.perf_counter() - started
        steady = steady_state_counts(issuer, context, 200)
        steady["jwks"] = issuer.jwks_hits() - jwks_after_warmup  # fetches during the whole timed run
        lines, medians = table(cases)
        verdicts = targets(medians, cases, steady)
        if args.smoke:
            verdicts.insert(
                0, "(smoke run: too few rounds for the ratios to mean anything; it checks that every case runs)"
            )
        override.disable()
    finally:
        issuer.stop()

    info = machine()
    header = (
        f"Measured {info['date']} on {info['cpu']} (nproc {info['nproc']}), {info['python']}, "
        f"{info['openssl']}; {info['versions']}.\n"
        f"{args.rounds} rounds, batches of about {args.batch_ms:g} ms, {elapsed:.0f} s. "
        f"Command: `.venv/bin/python benchmarks/bench.py{' --smoke' if args.smoke else ''}`"
    )
    notes = [
        "Notes:",
        "- The token: RS256, 2048-bit key, Auth0's shape (two audiences, `scope` and `permissions`, `azp`). "
        '"First sight" rows use a different token on each call (64 tokens, the token cache emptied before '
        'each batch); the user is already known. "Steady state" repeats one token.',
        "- auth0_drf runs its default pipeline: DPoP binding check (DPOP off), claim rules (none), the claims "
        "recorder (RECORD_CLAIMS on), the user cache (USER_CACHE_TTL 30 s).",
        "- simplejwt is configured for the same token: ALGORITHM RS256, VERIFYING_KEY the issuer's public key, "
        "AUDIENCE, ISSUER, LEEWAY 5, USER_ID_CLAIM `sub` → USER_ID_FIELD `username` (the row auth0_drf "
        'created), TOKEN_TYPE_CLAIM and JTI_CLAIM None (Auth0 access tokens carry neither). "database '
        'user" is `JWTAuthentication` (one `User.objects.get` per request), "stateless" is '
        "`JWTStatelessUserAuthentication` (simplejwt's TokenUser, no query).",
        "- Requests go through Django's test client with SecurityMiddleware and CommonMiddleware on in-memory "
        "SQLite (benchmarks/settings.py); each sample is the mean of a batch, the table shows the median and "
        "10th/90th percentiles of the samples.",
    ]
    output = "\n".join([header, "", *lines, "", "Targets:", *verdicts, "", *notes])
    print(output)
    if not args.no_write:
        replace_section(RESULTS, "bench", "## Benchmark (benchmarks/bench.py)\n\n" + output, "Benchmark results")
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    # Counts are not noise: a query, a write or a fetch in the steady state is a failure.
    if steady["queries"] or steady["writes"] or steady["jwks"]:
        print("FAILED: the steady state made queries, writes or JWKS fetches", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
