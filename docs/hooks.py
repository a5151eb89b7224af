"""MkDocs hook: write the settings page's table from ``auth0_drf.conf.SETTINGS`` at build time.

``docs/settings.md`` holds the prose and a ``<!-- settings-table -->`` line; this hook replaces that
line with one row per setting (name, default, description and the values it accepts), so the page lists
exactly the settings the code declares and cannot drift from it. ``tests/test_docs.py`` renders the
page the same way and checks it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- settings-table -->"
SETTINGS_PAGE = "settings.md"
# Longer list defaults are shown abbreviated in the default column.
SHORT_LIST = 3

# The repository's own auth0_drf, not whichever copy the environment has installed (a worktree
# shares one virtualenv with its main checkout).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from auth0_drf.conf import SETTINGS  # noqa: E402  (after the path line above, on purpose)


def markdown_text(text: str) -> str:
    """Return a docstring-style description as Markdown: reST's ``code`` becomes `code`, pipes are escaped."""
    return re.sub(r"``(.+?)``", r"`\1`", text).replace("|", "\\|")


def code(value: Any) -> str:
    """Return ``value``'s Python literal as a Markdown code span (its ``repr``, pipes escaped)."""
    return "`" + repr(value).replace("|", "\\|") + "`"


def settings_table() -> str:
    """Return the Markdown table of every ``AUTH0_DRF`` setting, in the order ``auth0_drf.conf`` declares them."""
    rows = [
        "| setting | default | meaning |",
        "|---|---|---|",
    ]
    for name, setting in SETTINGS.items():
        accepts = setting.kind.problem.removeprefix("must be ")
        anchor = f'<span id="{name.lower()}"></span>'
        default = code(setting.default)
        meaning = f"{markdown_text(setting.description)} Accepts {markdown_text(accepts)}."
        if isinstance(setting.default, list) and len(setting.default) > SHORT_LIST:
            # A long default would widen its column for every row: show how it begins, and all of it below.
            default = code(setting.default[:SHORT_LIST]).replace("]`", ", …]`")
            meaning += f" The default: {code(setting.default)}."
        rows.append(f"| {anchor}`{name}` | {default} | {meaning} |")
    return "\n".join(rows)


def render_settings_page(markdown: str) -> str:
    """Return the settings page's Markdown with its table filled in."""
    if MARKER not in markdown:
        raise ValueError(f"docs/{SETTINGS_PAGE} lost its {MARKER} line: the settings table has nowhere to go")
    return markdown.replace(MARKER, settings_table())


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill in the settings table (MkDocs calls this for every page's Markdown)."""
    if page.file.src_uri == SETTINGS_PAGE:
        return render_settings_page(markdown)
    return markdown
