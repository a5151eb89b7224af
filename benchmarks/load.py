#!/usr/bin/env python
"""Load-test the demo under gunicorn on loopback: /api/private (a token) against /api/public.

Run from the repository root (needs gunicorn from benchmarks/requirements.txt, and ``wrk``
from Debian's package of that name; without wrk a bounded Python client is used)::

    .venv/bin/python benchmarks/load.py                 # ~2 minutes; updates benchmarks/RESULTS.md
    .venv/bin/python benchmarks/load.py --duration 3 --rounds 1 --no-write

The script starts a LocalIssuer (JWKS over loopback HTTP) and gunicorn with sync workers
running demo_project with DEBUG off, pointed at that issuer through the demo's public
environment variables (AUTH0_ISSUER, AUTH0_AUDIENCE, AUTH0_JWKS_URI). Every process it starts
is stopped by its own id at the end. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import RESULTS, machine, replace_section  # noqa: E402  (sets up Django for the issuer)

from auth0_drf.testing import LocalIssuer  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url_host: str, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(url_host, port, timeout=1)
            conn.request("GET", "/api/public")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer in time")


def workers_cpu_seconds(master_pid: int) -> float:
    """Return the CPU time (user + system) used so far by the children of ``master_pid`` (Linux)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:  # fields[1] is the parent pid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def run_wrk(url: str, token: str | None, duration: int, connections: int) -> dict[str, float]:
    """Run wrk once and return requests/s, p99 (ms) and errors."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(command + [url], capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    # gunicorn's sync workers close every connection, so wrk counts harmless "read" errors
    # on reconnect; connect/write errors and timeouts are real failures.
    if socket_errors:
        errors += int(socket_errors.group(1)) + int(socket_errors.group(3)) + int(socket_errors.group(4))
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale, "errors": errors, "requests": requests}


def run_python_client(url: str, token: str | None, duration: int, connections: int) -> dict[str, float]:
    """A bounded fallback for machines without wrk: ``connections`` threads, ``duration`` seconds."""
    match = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker() -> None:
        mine: list[float] = []
        failed = 0
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, port, timeout=5)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status != 200:
                    failed += 1
            except OSError:
                failed += 1
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 10)
    latencies.sort()
    return {
        "rps": len(latencies) / duration,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else 0.0,
        "errors": errors[0],
        "requests": len(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=4, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of the three runs, in shuffled order")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--python-client", action="store_true", help="use the Python client even if wrk exists")
    args = parser.parse_args(argv)

    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        print("gunicorn is missing: pip install -r benchmarks/requirements.txt", file=sys.stderr)
        return 2
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    client = run_wrk if use_wrk else run_python_client

    issuer = LocalIssuer().start()
    workdir = tempfile.mkdtemp(prefix="auth0_drf_load_")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "DJANGO_DEBUG": "false",
        "AUTH0_ISSUER": issuer.issuer,
        "AUTH0_AUDIENCE": issuer.audience,
        "AUTH0_JWKS_URI": issuer.jwks_uri,
        "DATABASE_URL": f"sqlite:///{workdir}/load.sqlite3",
        "AUTH0_DRF_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    server = subprocess.Popen(
        [
            str(gunicorn),
            "demo_project.wsgi:application",
            "--workers",
            str(args.workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    results: dict[str, list[dict[str, float]]] = {"public": [], "public_header": [], "private": []}
    try:
        wait_for("127.0.0.1", port)
        token = issuer.token(sub="auth0|load-user", scope="read:messages", lifetime=3600)
        base = f"http://127.0.0.1:{port}"
        # Warm every worker: user created, keys fetched, token verified once per process.
        client(f"{base}/api/private", token, 2, args.connections)
        client(f"{base}/api/public", None, 1, args.connections)
        jwks_warm = issuer.jwks_hits()
        jwks_before = jwks_warm
        load_before = os.getloadavg()[0]
        rng = random.Random(7)
        for _ in range(args.rounds):
            # /api/public is also loaded with the token in its header (ignored there): the cost of
            # carrying a ~900-byte header through gunicorn and Django, apart from checking it.
            cases = [
                ("public", "/api/public", None),
                ("public_header", "/api/public", token),
                ("private", "/api/private", token),
            ]
            rng.shuffle(cases)  # no endpoint always runs first or last in a round
            for name, path, credentials in cases:
                cpu_before = workers_cpu_seconds(server.pid)
                run = client(f"{base}{path}", credentials, args.duration, args.connections)
                # Server CPU per request is robust to other load on a shared machine, unlike requests/s.
                run["cpu_us"] = (workers_cpu_seconds(server.pid) - cpu_before) / max(run["requests"], 1) * 1e6
                results[name].append(run)
        jwks_during = issuer.jwks_hits() - jwks_before
        load_after = os.getloadavg()[0]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        issuer.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def summary(runs: list[dict[str, float]]) -> dict[str, float]:
        return {
            "rps": statistics.median(r["rps"] for r in runs),
            "p99_ms": max(r["p99_ms"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
            "cpu_us": statistics.median(r["cpu_us"] for r in runs),
        }

    def row(endpoint: str, s: dict[str, float]) -> str:
        return (
            f"| {endpoint} | {s['rps']:.0f} | {s['p99_ms']:.1f} ms | {s['errors']:.0f} | {s['requests']:.0f} "
            f"| {s['cpu_us']:.0f} µs |"
        )

    public, private = summary(results["public"]), summary(results["private"])
    carried = summary(results["public_header"])
    # Each round measures both endpoints back to back: the median of the per-round ratios is
    # robust to the machine's load drifting between rounds (it is shared).
    ratios = [b["rps"] / a["rps"] for a, b in zip(results["public"], results["private"], strict=True)]
    ratio = statistics.median(ratios)
    info = machine()
    tool = f"wrk -t1 -c{args.connections}" if use_wrk else f"a Python client with {args.connections} threads"
    lines = [
        "## Load test (benchmarks/load.py)",
        "",
        f"Measured {info['date']} on {info['cpu']} (nproc {info['nproc']}), {info['python']}. "
        f"gunicorn {metadata_version('gunicorn')} with {args.workers} sync workers on 127.0.0.1, demo_project "
        f"(DEBUG off, SQLite), load from {tool} on the same machine; {args.rounds} rounds of "
        f"{args.duration} s per endpoint, in a shuffled order each round. "
        "Command: `.venv/bin/python benchmarks/load.py`",
        "",
        "| endpoint | requests/s (median of rounds) | p99 latency (worst round) | errors | requests "
        "| worker CPU per request (median) |",
        "|---|---:|---:|---:|---:|---:|",
        row("/api/public (AllowAny)", public),
        row("/api/public, same Authorization header (ignored)", carried),
        row("/api/private (auth0_drf)", private),
        "",
        f"- /api/private reaches **{ratio:.2f}×** the requests/s of /api/public, median of the per-round "
        f"ratios (target ≥ 0.9×: {'met' if ratio >= 0.9 else 'NOT met'}); per round: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f"; all requests: {private['requests'] / public['requests']:.2f}×. "
        f"Errors: {public['errors'] + private['errors']:.0f}.",
        f"- gunicorn workers' CPU per request: /api/private {private['cpu_us'] - public['cpu_us']:+.0f} µs "
        f"({private['cpu_us'] / public['cpu_us']:.2f}×) over /api/public "
        "(from /proc, 10 ms ticks over thousands of requests); "
        f"of that, carrying the header costs {carried['cpu_us'] - public['cpu_us']:+.0f} µs and checking it "
        f"{private['cpu_us'] - carried['cpu_us']:+.0f} µs.",
        f"- JWKS fetches: {jwks_warm} while warming up ({args.workers} workers, each with its own key cache), "
        f"{jwks_during} during the measured rounds.",
        f"- Load average (1 min) before/after the rounds: {load_before:.1f}/{load_after:.1f} on {info['nproc']} CPUs "
        "(the machine is shared; p99 is sensitive to other work on it).",
    ]
    output = "\n".join(lines)
    print(output)
    if not args.no_write:
        replace_section(RESULTS, "load", output, "Benchmark results")
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0 if public["errors"] + private["errors"] + carried["errors"] == 0 else 1


def metadata_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
