"""The demo under production servers (uvicorn, gunicorn with several workers), Redis, and raw HTTP helpers.

``DemoServer`` (tests/e2e/demo.py) runs ``manage.py runserver``; the subclasses here run the same
demo, configured the same way (its environment only), under the servers docs/workers.md documents.
Every process is started in its own session and stopped by its own process group.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import redis
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers import free_port

from .demo import DemoServer, stop_process_group
from .provider import b64url


class UvicornDemo(DemoServer):
    """The demo's ASGI application (demo_project/asgi.py) under uvicorn, one process."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "demo_project.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            # Django has no lifespan handler; "auto" would log that at every start.
            "--lifespan",
            "off",
            "--no-access-log",
        ]


class GunicornDemo(DemoServer):
    """The demo's WSGI application under gunicorn with ``workers`` sync worker processes.

    The access log names the process that answered each request (``answers()``): that is how the
    tests know that both workers served, without any change to the demo.
    """

    def __init__(self, env: dict[str, str], log_path: Path, database: Path | None = None, workers: int = 2) -> None:
        super().__init__(env, log_path, database)
        self.workers = workers
        self.access_log = log_path.with_name(log_path.name + ".access")

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "demo_project.wsgi:application",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--access-logfile",
            str(self.access_log),
            "--access-logformat",
            "%(p)s|%(U)s|%(q)s|%(s)s",
        ]

    def _serve(self, deadline: float) -> GunicornDemo:
        super()._serve(deadline)  # one worker answered; wait for every worker to have booted
        give_up = time.monotonic() + deadline
        while len(re.findall(r"Booting worker with pid", self.log())) < self.workers:
            if time.monotonic() > give_up:
                self.stop()
                raise RuntimeError(f"gunicorn did not boot {self.workers} workers within {deadline} s:\n{self.log()}")
            time.sleep(0.05)
        return self

    def answers(self) -> list[tuple[int, str, str, int]]:
        """Return (worker pid, path, query string, status) for each request answered so far.

        gunicorn writes a request's line just after sending the answer: poll for the lines you need.
        """
        if not self.access_log.exists():
            return []
        rows = [line.split("|") for line in self.access_log.read_text().splitlines() if line.strip()]
        # gunicorn writes the pid as "<1234>".
        return [(int(pid.strip("<>")), path, query, int(status)) for pid, path, query, status in rows]


class RedisServer:
    """Debian's ``redis-server`` on a free loopback port, nothing saved to disk, stopped by ``stop()``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, attempts: int = 3) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: `bash bin/system-deps` installs Debian's package")
        log_path = self.folder / "redis.log"
        for _ in range(attempts):
            self.port = free_port()
            with open(log_path, "wb") as log:
                self.process = subprocess.Popen(
                    [
                        binary,
                        "--port",
                        str(self.port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(self.folder),
                        "--protected-mode",
                        "yes",
                        "--loglevel",
                        "warning",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            give_up = time.monotonic() + 10
            while self.process.poll() is None and time.monotonic() < give_up:
                try:
                    if redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping():
                        return self
                except redis.ConnectionError:
                    time.sleep(0.05)
            output = log_path.read_text(errors="replace")
            self.stop()
            if "already in use" not in output:  # another cause than a port taken meanwhile: say it
                raise RuntimeError(f"redis-server did not start:\n{output}")
        raise RuntimeError(f"redis-server found no free port in {attempts} attempts")

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)


class HeldRequest:
    """An HTTP request sent but for its final blank line, completed by ``finish()``.

    A gunicorn sync worker that accepted it waits for the rest and serves nobody else meanwhile, so
    the next request necessarily goes to another worker: the tests choose the worker that way.
    """

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n").encode())

    def finish(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Send the blank line ending the headers; return the status, headers and JSON body of the answer."""
        self.sock.sendall(b"\r\n")
        response = http.client.HTTPResponse(self.sock)
        try:
            response.begin()
            body = response.read()
        finally:
            self.sock.close()
        return response.status, dict(response.getheaders()), json.loads(body)


class DPoPClient:
    """A DPoP client written apart from auth0_drf: a P-256 key, its thumbprint (``cnf.jkt``), fresh proofs."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        x, y = (b64url(n.to_bytes(32, "big")) for n in (numbers.x, numbers.y))
        self.jwk = {"crv": "P-256", "kty": "EC", "x": x, "y": y}
        # RFC 7638: the required members, sorted, no whitespace.
        self.jkt = b64url(hashlib.sha256(json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()).digest())

    def proof(self, url: str, token: str, method: str = "GET") -> str:
        payload = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
            "ath": b64url(hashlib.sha256(token.encode()).digest()),
        }
        return jwt.encode(payload, self.key, "ES256", headers={"typ": "dpop+jwt", "jwk": self.jwk})

    def headers(self, token: str, proof: str) -> dict[str, str]:
        return {"Authorization": f"DPoP {token}", "DPoP": proof}
