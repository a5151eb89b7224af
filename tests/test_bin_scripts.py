"""bin/setup installs once and again only when the requirements change; bin/demo starts warm without installing.

Each test works on a copy of the repository in a temporary folder. bin/setup's decisions are checked
with a stand-in interpreter that records how it is called (a real install needs the network and a
minute); bin/demo runs for real, with a ``.venv/bin/python`` that is this test run's interpreter.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent

#: An interpreter that records its arguments; as ``python -m venv DIR`` it makes DIR/bin/python a copy of itself.
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$0 $* PYTHONWARNINGS=${PYTHONWARNINGS:-}" >> "$CALLS"
if [ "${1:-}" = "-m" ] && [ "${2:-}" = "venv" ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && chmod +x "$3/bin/python"
fi
"""


def copy_repository(destination: Path) -> Path:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "screenshots", "__pycache__", "*.sqlite3", ".auth0_drf_dev_key.pem"
    )
    shutil.copytree(ROOT, destination, ignore=ignore)
    return destination


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repository(tmp_path / "repo")


def run_setup(repo: Path, calls: Path, **env: str) -> list[str]:
    """Run bin/setup; return the interpreter calls it made."""
    calls.write_text("")
    variables = {"PATH": os.environ["PATH"], "HOME": str(repo), "CALLS": str(calls), **env}
    result = subprocess.run(["bash", "bin/setup"], cwd=repo, env=variables, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return calls.read_text().splitlines()


def test_setup_creates_the_venv_with_the_python_given_and_installs_once(repo, tmp_path):
    python = tmp_path / "python3.12"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    calls = tmp_path / "calls"
    first = run_setup(repo, calls, PYTHON=str(python))
    assert first[0].startswith(f"{python} -m venv .venv")
    installs = [call for call in first if " -m pip install" in call]
    assert [call.split(" -m pip install --quiet ")[1].split(" PYTHONWARNINGS")[0] for call in installs] == [
        "--upgrade pip",
        "-r requirements.txt",
        "--no-deps -e .",
    ]
    # setuptools' boxed warning about editable installs is silenced for that install only.
    assert installs[2].endswith("PYTHONWARNINGS=ignore:Editable installation")
    assert installs[1].endswith("PYTHONWARNINGS=")
    assert run_setup(repo, calls) == []  # warm: nothing installed, nothing run


@pytest.mark.parametrize("changed", ["requirements.txt", "pyproject.toml", "requirements-docs.txt"])
def test_setup_installs_again_when_a_requirements_file_changes_or_appears(repo, tmp_path, changed):
    python = tmp_path / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    calls = tmp_path / "calls"
    run_setup(repo, calls, PYTHON=str(python))
    with open(repo / changed, "a") as handle:
        handle.write("\n# changed\n")
    again = run_setup(repo, calls)
    assert len([call for call in again if " -m pip install" in call]) == 3
    assert not any(" -m venv " in call for call in again)  # the venv is kept
    assert run_setup(repo, calls) == []


def test_demo_starts_warm_without_installing_and_prints_the_spa_origins(repo, tmp_path):
    # A ready .venv, as bin/setup leaves it: its stamp (written by a run with the stand-in interpreter),
    # then this test run's interpreter, which has the requirements, as .venv/bin/python.
    venv_python = repo / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(FAKE_PYTHON)
    venv_python.chmod(0o755)
    run_setup(repo, tmp_path / "calls")
    venv_python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo),
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
    }
    started = time.monotonic()
    process = subprocess.Popen(
        ["bash", "bin/demo"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("See the custom claims"):
                break
            assert time.monotonic() - started < 60, lines
        elapsed = time.monotonic() - started
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    output = "\n".join(lines)
    assert "curl -H 'Authorization: Bearer ey" in output and f"http://127.0.0.1:{port}/api/private" in output
    assert (
        "Single-page apps may call it from: http://localhost:3000 http://127.0.0.1:3000 http://localhost:5173 "
        "http://127.0.0.1:5173 (CORS_ALLOWED_ORIGINS; see docs/spa.md)" in output
    )
    assert f"curl -d scope=read:messages http://127.0.0.1:{port}/dev-issuer/token" in output
    assert "pip" not in output and "Editable installation" not in output
    assert elapsed < 30, (elapsed, output)
