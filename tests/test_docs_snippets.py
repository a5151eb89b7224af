"""Every Python snippet in the docs and the README runs as pasted.

The pages follow these conventions, and this file holds them to it:

- Every ```` ```python ```` snippet compiles.
- A snippet whose first line is ``# settings.py`` is settings: it is executed (``DEBUG = True`` and
  ``BASE_DIR`` defined beforehand, and ``...`` in a list standing for the list you already have), applied
  with ``override_settings``, and must pass the system checks with no error and no auth0_drf warning.
- A snippet whose first line names another file (``# myapp/views.py``, ``# urls.py``) is a file of the
  page's project: the page's files are written to a temporary directory and imported, with the apps
  that have a ``models.py`` installed and a top-level ``urls.py`` as ``ROOT_URLCONF``. A file shown
  twice on a page grows: each version is imported. Test files are run by pytest instead (see
  ``test_the_testing_page_s_tests_pass``).
- Any other snippet is executed on its own, with the page's project importable.
- ``<!-- not-runnable: why -->`` on the line before a fence exempts an illustrative fragment from being
  run (it still compiles). There are few.

The pages that promise more (the quick start's ``/api/me``, the tutorial, the permissions page's app,
the testing page's tests) have tests of their own below, making real requests.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import connection
from django.test import override_settings
from django.urls import clear_url_caches, resolve

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)``` *$", re.M | re.S)
NOT_RUNNABLE = re.compile(r"<!-- not-runnable: [^>]+ -->\s*\Z")
FILE_HEADER = re.compile(r"\A# ([\w./-]+\.py)\b")
# At most this many snippets may be marked not runnable: the marker is for fragments, not for hard cases.
MAX_NOT_RUNNABLE = 3


@dataclass(frozen=True)
class Snippet:
    """One ```` ```python ```` block of a page."""

    page: Path
    line: int
    code: str
    runnable: bool

    @property
    def file(self) -> str | None:
        """Return the file the snippet says it is (``# myapp/views.py``), if it says so."""
        match = FILE_HEADER.match(self.code)
        return match.group(1) if match else None

    @property
    def is_settings(self) -> bool:
        return self.file == "settings.py"

    @property
    def is_test(self) -> bool:
        name = Path(self.file or "").name
        return name.startswith("test") or name == "conftest.py"

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def snippets(page: Path) -> list[Snippet]:
    """Return the Python snippets of ``page``, in order."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match.group("lang") != "python":
            continue
        indent = len(match.group("indent"))
        code = "".join(line[indent:] for line in match.group("body").splitlines(keepends=True))
        line = text.count("\n", 0, match.start()) + 1
        runnable = not NOT_RUNNABLE.search(text[: match.start()])
        found.append(Snippet(page, line, code, runnable))
    return found


ALL = [snippet for page in PAGES for snippet in snippets(page)]
PAGES_WITH_SNIPPETS = [page for page in PAGES if snippets(page)]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def project_versions(page: Path) -> list[dict[str, str]]:
    """Return the page's project files (path to source), once per version of a file shown again."""
    versions: list[dict[str, str]] = []
    files: dict[str, str] = {}
    for snippet in snippets(page):
        if not snippet.runnable or snippet.file is None or snippet.is_settings or snippet.is_test:
            continue
        if snippet.file in files:
            versions.append(dict(files))
        files[snippet.file] = snippet.code
    return [*versions, files]


def settings_from(snippet: Snippet, base_dir: Path) -> dict[str, Any]:
    """Execute a settings snippet and return the settings it sets, ``...`` in lists filled in."""
    namespace: dict[str, Any] = {"DEBUG": True, "BASE_DIR": base_dir}
    exec(compile(snippet.code, str(snippet), "exec"), namespace)
    values = {name: value for name, value in namespace.items() if name.isupper()}
    for name, value in values.items():
        if isinstance(value, list) and ... in value:
            current = list(getattr(settings, name))
            values[name] = current + [item for item in value if item is not ... and item not in current]
    return values


@contextmanager
def installed(files: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    """Write ``files`` as a project under ``tmp_path`` and make it importable, its apps installed."""
    root = tmp_path / "project"
    for relative, source in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
        for package in target.relative_to(root).parents:
            if package != Path("."):
                (root / package / "__init__.py").touch()
    root.mkdir(parents=True, exist_ok=True)
    model_apps = sorted({relative.split("/")[0] for relative in files if relative.endswith("/models.py")})
    sys.path.insert(0, str(root))
    try:
        with ExitStack() as stack:
            if model_apps:
                stack.enter_context(override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, *model_apps]))
            if "urls.py" in files:
                stack.enter_context(override_settings(ROOT_URLCONF="urls"))
            yield root
    finally:
        sys.path.remove(str(root))
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(root)):
                del sys.modules[name]
        for app in model_apps:
            apps.all_models.pop(app, None)
        clear_url_caches()


def import_all(files: dict[str, str]) -> None:
    """Import every module of the project (its URLconf last, as Django would)."""
    modules = [relative.removesuffix(".py").replace("/", ".") for relative in files]
    for module in sorted(modules, key=lambda name: (name.endswith("urls"), name)):
        importlib.import_module(module)


def serious_problems() -> list[checks.CheckMessage]:
    """Return the system check messages a pasted configuration must not cause."""
    return [
        message
        for message in checks.run_checks(include_deployment_checks=False)
        if message.is_serious() or (message.id or "").startswith("auth0_drf.")
    ]


# --- every snippet ---------------------------------------------------------------------------------


def test_the_docs_have_python_snippets_to_check() -> None:
    assert len(ALL) > 20
    assert any(snippet.is_settings for snippet in ALL)


@pytest.mark.parametrize("snippet", ALL, ids=str)
def test_every_python_snippet_compiles(snippet: Snippet) -> None:
    compile(snippet.code, str(snippet), "exec")


def test_few_snippets_are_marked_not_runnable() -> None:
    marked = [str(snippet) for snippet in ALL if not snippet.runnable]
    assert len(marked) <= MAX_NOT_RUNNABLE, marked


def test_no_settings_snippet_is_the_system_checks_baseline_s_problem() -> None:
    # The test settings themselves pass, so any problem found below comes from the snippet.
    assert serious_problems() == []


@pytest.mark.parametrize("page", PAGES_WITH_SNIPPETS, ids=page_id)
def test_every_file_a_page_shows_imports(page: Path, tmp_path: Path) -> None:
    for number, files in enumerate(project_versions(page)):
        with installed(files, tmp_path / str(number)):
            import_all(files)
            assert serious_problems() == [], page_id(page)


@pytest.mark.parametrize("page", PAGES_WITH_SNIPPETS, ids=page_id)
def test_every_settings_snippet_passes_the_system_checks(page: Path, tmp_path: Path) -> None:
    files = project_versions(page)[-1]
    for snippet in snippets(page):
        if snippet.runnable and snippet.is_settings:
            # The second context is built once the first is entered: the snippet runs with the project importable.
            with (
                installed(files, tmp_path / str(snippet.line)) as root,
                override_settings(**settings_from(snippet, root)),
            ):
                assert serious_problems() == [], str(snippet)


@pytest.mark.parametrize("page", PAGES_WITH_SNIPPETS, ids=page_id)
def test_every_other_snippet_runs(page: Path, tmp_path: Path) -> None:
    files = project_versions(page)[-1]
    with installed(files, tmp_path):
        for snippet in snippets(page):
            if snippet.runnable and snippet.file is None:
                exec(compile(snippet.code, str(snippet), "exec"), {"__name__": f"snippet_{snippet.line}"})


# --- pages that promise more -----------------------------------------------------------------------


def page(name: str) -> Path:
    return ROOT / "docs" / name


@pytest.mark.django_db
def test_the_quick_start_s_me_view_answers_at_api_me(auth0_api_client: Any, tmp_path: Path) -> None:
    for number, files in enumerate(project_versions(page("quickstart.md"))):
        with installed(files, tmp_path / str(number)):
            import_all(files)
            assert resolve("/api/me").func is sys.modules["myapp.views"].me
            auth0_api_client.use_token(sub="auth0|alice", scope="read:messages")
            response = auth0_api_client.get("/api/me")
            assert response.status_code == 200, response.content
            assert response.json()["sub"] == "auth0|alice"
            assert response.json()["scopes"] == ["read:messages"]


@pytest.mark.django_db
def test_the_tutorial_s_api_answers_as_the_tutorial_says(auth0_api_client: Any, tmp_path: Path) -> None:
    (files,) = project_versions(page("tutorial.md"))
    with installed(files, tmp_path):
        import_all(files)
        auth0_api_client.use_token(sub="auth0|alice", claims={"https://myapp.example/email": "alice@example.com"})
        me = auth0_api_client.get("/api/me")
        assert me.status_code == 200
        assert me.json()["email"] == "alice@example.com"
        denied = auth0_api_client.get("/api/messages")
        assert denied.status_code == 403
        assert denied.json()["code"] == "insufficient_scope"
        assert denied.json()["missing_scopes"] == ["read:messages"]
        auth0_api_client.use_token(sub="auth0|alice", permissions=["read:messages"])
        assert auth0_api_client.get("/api/messages").status_code == 200


@contextmanager
def tables_for(app_label: str) -> Iterator[None]:
    """Create the tables of an app the test installed (it has no migrations), and drop them after."""
    models = list(apps.get_app_config(app_label).get_models())
    with connection.schema_editor() as editor:
        for model in models:
            editor.create_model(model)
    try:
        yield
    finally:
        with connection.schema_editor() as editor:
            for model in models:
                editor.delete_model(model)


@pytest.mark.django_db(transaction=True)
def test_the_permissions_page_s_views_grant_what_their_comments_say(auth0_api_client: Any, tmp_path: Path) -> None:
    (files,) = project_versions(page("permissions.md"))
    with installed(files, tmp_path), override_settings(ROOT_URLCONF="myapp.urls"), tables_for("myapp"):
        import_all(files)
        client = auth0_api_client

        def status(method: str, path: str, **token: Any) -> int:
            client.use_token(**token)
            return getattr(client, method)(path, {"text": "hi"} if method != "get" else None, format="json").status_code

        assert status("get", "/api/message-list/") == 403
        assert status("get", "/api/message-list/", scope="read:messages") == 200
        assert status("post", "/api/messages/", scope="read:messages") == 403
        assert status("post", "/api/messages/", scope="write:messages") == 201
        assert status("get", "/api/messages/", permissions=["read:messages"]) == 200
        message = sys.modules["myapp.models"].Message.objects.get()
        assert status("post", f"/api/messages/{message.pk}/archive/", scope="write:messages") == 403
        assert status("post", f"/api/messages/{message.pk}/archive/", scope="archive:messages") == 200
        message.refresh_from_db()
        assert message.archived
        assert status("get", "/api/notes/", scope="read:notes") == 200
        assert status("post", "/api/notes/", scope="read:notes") == 403
        assert status("post", "/api/notes/", scope="write:notes") == 201


def test_the_testing_page_s_tests_pass(tmp_path: Path) -> None:
    # The page's test files, run as a user would: pytest with the plugin auth0_drf registers, against
    # endpoints like the demo's (the test settings' URLconf is the demo's). SQLite, whatever the outer
    # run uses: a second test database on the same server would collide with this run's.
    tests = {s.file: s.code for s in snippets(page("testing.md")) if s.file and s.is_test}
    assert len(tests) == 3, sorted(tests)
    for relative, source in tests.items():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
    (tmp_path / "myapp" / "__init__.py").touch()
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *sorted(tests)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b6 passed\b", result.stdout), result.stdout
