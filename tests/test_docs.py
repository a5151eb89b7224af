"""The docs' reference tables name every setting, error code and system check the code has; the README
points to them.

The settings page is rendered here exactly as the site's build renders it (``docs/hooks.py``); the
build itself (``bash bin/docs``, ``mkdocs build --strict``) runs in CI, where a broken link, a missing
anchor or a page left out of the nav fails it. The snippets are run by ``tests/test_docs_snippets.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from auth0_drf import checks, exceptions
from auth0_drf.conf import DEFAULTS, SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Where the README's links point (pyproject.toml's project URLs name the same repository).
REPOSITORY = "https://github.com/auth0-drf/auth0-drf"


def read(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def load_hooks() -> ModuleType:
    """Import ``docs/hooks.py``, the MkDocs hook that writes the settings table, as the build does."""
    spec = importlib.util.spec_from_file_location("auth0_drf_docs_hooks", DOCS / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings_page() -> str:
    """Return the settings page's Markdown as the site shows it: with its generated table."""
    return load_hooks().render_settings_page(read("docs/settings.md"))


def section(text: str, title: str) -> str:
    """Return the text under a heading of ``text`` (any level), up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ |\Z)", text, re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def first_column(text: str) -> set[str]:
    """Return every `name` in the first column of the markdown tables in ``text``."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `") or line.startswith("| <span"):
            names.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def error_codes() -> set[str]:
    """Return the codes of every library error that can reach a response."""
    found: set[str] = set()
    pending = [exceptions.Auth0Error]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        # The two base classes are never raised themselves; their codes are only defaults.
        if cls not in (exceptions.Auth0Error, exceptions.TokenError):
            found.add(cls.code)
    return found


# --- settings --------------------------------------------------------------------------------------


def test_the_generated_settings_page_lists_every_setting() -> None:
    documented = first_column(section(settings_page(), "Every setting"))
    assert sorted(set(SETTINGS) - documented) == []
    assert sorted(documented - set(SETTINGS)) == []
    assert list(DEFAULTS) == list(SETTINGS)


def test_the_settings_page_keeps_the_line_its_table_replaces() -> None:
    hooks = load_hooks()
    assert read("docs/settings.md").count(hooks.MARKER) == 1
    assert hooks.MARKER not in settings_page()


def documented_defaults() -> dict[str, str]:
    """Return each setting's default as the generated settings table writes it."""
    found: dict[str, str] = {}
    for line in section(settings_page(), "Every setting").splitlines():
        if line.startswith("| <span"):
            cells = line.split("|")
            (name,) = re.findall(r"`([^`]+)`", cells[1])
            found[name] = cells[2].strip()
    return found


def test_every_default_in_the_settings_table_is_the_real_default() -> None:
    written = documented_defaults()
    assert sorted(written) == sorted(SETTINGS)
    for name, text in written.items():
        default: Any = SETTINGS[name].default
        literal = text.strip("`").replace("\\|", "|")
        if "…" in literal:
            # An abbreviated list: what is shown is how the default begins.
            shown = ast.literal_eval(literal.replace(", …]", "]"))
            assert default[: len(shown)] == shown, name
            assert f"The default: `{default!r}`" in settings_page(), name
        else:
            assert ast.literal_eval(literal) == default, name


def test_the_settings_table_says_what_each_setting_accepts() -> None:
    table = section(settings_page(), "Every setting")
    for name, setting in SETTINGS.items():
        row = next(
            line for line in table.splitlines() if line.startswith("| <span") and f"`{name}`" in line.split("|")[1]
        )
        assert "Accepts " + setting.kind.problem.removeprefix("must be ").replace("|", "\\|") in row, name


def test_the_settings_table_turns_docstring_code_into_markdown_code() -> None:
    table = section(settings_page(), "Every setting")
    assert "``" not in table
    assert "`https://{DOMAIN}/`" in table


# --- errors and checks -----------------------------------------------------------------------------


def test_every_error_code_is_in_the_errors_table() -> None:
    documented = first_column(section(read("docs/errors.md"), "Errors"))
    assert sorted(error_codes() - documented) == []


def test_every_check_id_is_in_the_checks_table() -> None:
    # Every module of the package: checks may live in more than one (checks.py, and those it imports).
    package = Path(checks.__file__).parent
    source = "".join(path.read_text(encoding="utf-8") for path in sorted(package.rglob("*.py")))
    used = {f"auth0_drf.{suffix}" for suffix in re.findall(r'id="auth0_drf\.([EW]\d{3})"', source)}
    documented = first_column(section(read("docs/errors.md"), "Checking your configuration"))
    assert used, "no check ids found in auth0_drf"
    assert sorted(used - documented) == []
    assert sorted(documented - used) == []


# --- the site and the README -------------------------------------------------------------------------


def nav_pages() -> list[str]:
    """Return the pages named in mkdocs.yml's nav, without a YAML parser (tests do not install MkDocs)."""
    nav = read("mkdocs.yml").split("\nnav:\n", 1)[1]
    return re.findall(r"^\s+- (?:[^:\n]+: )?([\w/.-]+\.md)$", nav, re.M)


def test_every_page_in_docs_is_in_the_nav_once() -> None:
    pages = nav_pages()
    on_disk = sorted(str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk
    assert len(pages) == len(set(pages))


def test_the_api_reference_has_a_page_for_every_public_module_it_lists() -> None:
    for page in (DOCS / "reference").glob("*.md"):
        if page.name != "index.md":
            module = f"auth0_drf.{page.stem}"
            assert f"::: {module}" in page.read_text(encoding="utf-8"), page
            assert importlib.util.find_spec(module), module


def heading_anchors(text: str) -> set[str]:
    """Return the anchors MkDocs gives the headings of a page (Python-Markdown's toc slugs)."""
    anchors = set()
    for title in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\s-]", "", title.replace("`", "")).strip().lower()
        anchors.add(re.sub(r"[-\s]+", "-", slug))
    return anchors


def test_the_readme_gives_the_two_quick_start_commands_and_points_to_the_docs() -> None:
    readme = read("README.md")
    quick_start = section(readme, "Quick start")
    assert "bash bin/demo" in quick_start
    assert "bash bin/test" in quick_start
    assert "bash bin/docs" in section(readme, "Documentation")
    assert f"({REPOSITORY}/blob/main/docs/index.md)" in readme


def test_the_readme_s_links_into_the_docs_name_pages_and_headings_that_exist() -> None:
    # Absolute, into the repository, so that they work on PyPI too (tests/test_packaging.py).
    links = re.findall(rf"\]\({re.escape(REPOSITORY)}/blob/main/(docs/[^)#]+)(?:#([^)]+))?\)", read("README.md"))
    assert len(links) > 10
    for target, anchor in links:
        assert (ROOT / target).is_file(), target
        if anchor:
            assert anchor in heading_anchors(read(target)), f"{target}#{anchor}"


def test_the_readme_s_own_links_name_its_headings() -> None:
    readme = read("README.md")
    for anchor in re.findall(r"\]\(#([^)]+)\)", readme):
        assert anchor in heading_anchors(readme), anchor
