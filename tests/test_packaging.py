"""What the package metadata says is what the version matrix tests, and the README works on PyPI."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import auth0_drf

try:
    import tomllib
except ImportError:  # Python 3.10: pip vendors the same parser (tomllib is tomli, adopted)
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def matrix() -> list[tuple[str, str, list[str]]]:
    """Return noxfile.py's sessions as (Python, Django, pins), read without importing nox."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    names: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = node.value
    floors = ast.literal_eval(names["FLOORS"])
    sessions = []
    for call in names["MATRIX"].elts:
        python, django = (ast.literal_eval(arg) for arg in call.args[:2])
        pins = [
            floor
            for element in call.args[2].elts
            for floor in (floors if isinstance(element, ast.Starred) else [ast.literal_eval(element)])
        ]
        sessions.append((python, django, pins))
    return sessions


def classifier_versions(prefix: str) -> set[str]:
    pattern = re.escape(prefix) + r"\d+\.\d+"
    return {c.removeprefix(prefix) for c in PROJECT["classifiers"] if re.fullmatch(pattern, c)}


def declared_floor(name: str) -> str:
    (requirement,) = [r for r in PROJECT["dependencies"] if re.match(rf"{re.escape(name)}(\[|>)", r, re.I)]
    return requirement.split(">=")[1]


def test_the_classifiers_name_exactly_the_python_and_django_versions_the_matrix_tests():
    sessions = matrix()
    assert classifier_versions("Programming Language :: Python :: ") == {python for python, _, _ in sessions}
    assert classifier_versions("Framework :: Django :: ") == {django for _, django, _ in sessions}


def test_the_oldest_session_tests_every_declared_floor():
    python, django, pins = min(matrix(), key=lambda session: tuple(map(int, session[1].split("."))))
    assert PROJECT["requires-python"] == f">={python}"
    assert declared_floor("Django") == django
    assert f"djangorestframework~={declared_floor('djangorestframework')}.0" in pins
    for name in ("PyJWT", "cryptography", "requests"):
        floor = re.escape(declared_floor(name))
        assert any(re.fullmatch(rf"{name}(\[crypto\])?=={floor}", pin) for pin in pins), name


def test_cryptography_is_declared_because_auth0_drf_imports_it():
    sources = (ROOT / "auth0_drf").rglob("*.py")
    imports_it = [path for path in sources if re.search(r"^from cryptography\b", path.read_text(), re.M)]
    assert imports_it
    assert declared_floor("cryptography")


def test_the_version_is_written_once_in_the_package():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "auth0_drf.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", auth0_drf.__version__)


def test_the_pytest_plugin_has_an_extra_with_what_it_needs():
    assert {re.split(r"[<>=]", r)[0] for r in PROJECT["optional-dependencies"]["test"]} == {"pytest", "pytest-django"}


def test_the_catalogues_of_every_shipped_language_are_package_data():
    # bin/release-check builds the sdist and the wheel and looks for them there; this is the quick check.
    script = (ROOT / "bin" / "translations").read_text(encoding="utf-8")
    languages = re.search(r"^LANGUAGES=\(([^)]*)\)", script, re.M).group(1).split()
    assert languages == ["de", "fr", "es", "pt_BR", "ja"]
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["auth0_drf"]
    for language in languages:
        for name in ("django.po", "django.mo"):
            path = f"locale/{language}/LC_MESSAGES/{name}"
            assert (ROOT / "auth0_drf" / path).is_file(), path
            assert any(fnmatch(path, pattern) for pattern in patterns), path
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    assert not re.search(r"^(prune|exclude|recursive-exclude|global-exclude)\b.*(locale|\.mo\b)", manifest, re.M)


def in_order(versions: set[str]) -> str:
    return ", ".join(sorted(versions, key=lambda version: tuple(map(int, version.split(".")))))


def test_the_supported_versions_page_says_what_the_matrix_tests():
    page = (ROOT / "docs" / "versions.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (Python|Django) \| ([^|]+) \|$", page, re.M))
    sessions = matrix()
    assert rows["Python"].strip() == in_order({python for python, _, _ in sessions})
    assert rows["Django"].strip() == in_order({django for _, django, _ in sessions})


def github_anchor(heading: str) -> str:
    """Return the anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_readme_link_works_on_pypi_too():
    # PyPI renders the README away from the repository: a relative link would point nowhere.
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", README, re.M)}
    targets = re.findall(r"\]\(([^)\s]+)\)", README)
    assert targets
    for target in targets:
        if target.startswith("#"):
            assert target[1:] in anchors, target
        else:
            assert target.startswith("https://"), target
    repository = PROJECT["urls"]["Source"]
    assert all(url.startswith(repository) for url in PROJECT["urls"].values())
    assert all(t.startswith(repository) for t in targets if t.startswith("https://github.com/"))


def test_the_quick_loop_leaves_out_exactly_the_end_to_end_and_browser_tests():
    def collect(*args: str) -> set[str]:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *args],
            cwd=ROOT,
            env={**os.environ},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}

    marked = collect("-m", "e2e or browser")
    e2e = {str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "e2e").glob("test_*.py")}
    assert e2e <= marked
    drives_chromium = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if re.search(r"^\s+with headless_chromium\(", path.read_text(encoding="utf-8"), re.M)
    }
    assert drives_chromium and drives_chromium <= marked
    assert marked == e2e | drives_chromium
    assert not marked & collect("-m", "not e2e and not browser")
