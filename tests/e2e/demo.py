"""Run the real demo project as a subprocess server, configured only through its environment."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
#: Variables that could configure the demo behind the test's back: they are never inherited.
_CONTROLLED_PREFIXES = ("AUTH0_", "DJANGO_", "DATABASE_URL")


_template: Path | None = None


def migrated_database(path: Path) -> None:
    """Create a migrated SQLite database at ``path`` (migrations run once per test session)."""
    global _template
    if _template is None:
        folder = tempfile.mkdtemp(prefix="auth0_drf_e2e_")
        atexit.register(shutil.rmtree, folder, True)
        template = Path(folder) / "template.sqlite3"
        # DEBUG on, nothing configured: the development issuer keeps the system checks quiet.
        migrated = manage(
            demo_env(DJANGO_DEBUG="true", DATABASE_URL=f"sqlite:///{template}"),
            "migrate",
            "--noinput",
            "--verbosity",
            "0",
        )
        assert migrated.returncode == 0, migrated.stderr
        _template = template
    shutil.copyfile(_template, path)


def demo_env(**variables: str) -> dict[str, str]:
    """Return a clean environment for the demo with only ``variables`` as its configuration."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(_CONTROLLED_PREFIXES)}
    env.pop("PYTEST_CURRENT_TEST", None)
    env["DJANGO_SETTINGS_MODULE"] = "demo_project.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(variables)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` with ``args`` and return the finished process (never raises on failure)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stop_process_group(process: subprocess.Popen[Any]) -> None:
    """Stop a server started in its own process group: SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


class PortTaken(RuntimeError):
    """The chosen port was taken before the demo could bind it."""


class DemoServer:
    """``manage.py runserver --noreload`` on a free loopback port, killed on ``stop()``."""

    def __init__(self, env: dict[str, str], log_path: Path, database: Path | None = None) -> None:
        self.env = env
        self.port = 0
        self.url = ""
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.database = database

    def start(self, deadline: float = 30, attempts: int = 3) -> DemoServer:
        if self.database is not None:
            migrated_database(self.database)
        else:
            migrated = manage(self.env, "migrate", "--noinput", "--verbosity", "0")
            assert migrated.returncode == 0, migrated.stderr
        for attempt in range(attempts):
            try:
                return self._serve(deadline)
            except PortTaken:
                # Someone took the free port between our check and the server's bind: retry.
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _serve(self, deadline: float) -> DemoServer:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (the server's log, open until stop())
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown kills any children too
        )
        give_up = time.monotonic() + deadline
        while True:
            if self.process.poll() is not None:
                self._log.close()
                if "already in use" in self.log():
                    raise PortTaken(self.port)
                raise RuntimeError(f"the demo exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/api/public", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > give_up:
                self.stop()
                raise RuntimeError(f"the demo did not answer within {deadline} s:\n{self.log()}")
            time.sleep(0.05)

    def command(self) -> list[str]:
        """Return the server's command line, serving on ``self.port`` (subclasses run other servers)."""
        return [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{self.port}"]

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
        if self.process is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(self.url + path, headers=headers, timeout=10, allow_redirects=False, **kwargs)

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=10, allow_redirects=False, **kwargs)
