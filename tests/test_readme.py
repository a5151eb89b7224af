"""The README's reference tables name every setting, error code and system check the code has."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from auth0_drf import checks, drf_checks, exceptions
from auth0_drf.conf import DEFAULTS, SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """Return the README text under a ``##``/``###`` heading, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ |\Z)", README, re.M | re.S)
    assert match, f"no README section {title!r}"
    return match.group(1)


def first_column(text: str) -> set[str]:
    """Return every `name` in the first column of the markdown tables in ``text``."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
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


def test_every_setting_is_in_the_settings_table() -> None:
    documented = first_column(section("Settings"))
    assert sorted(set(SETTINGS) - documented) == []
    assert sorted(documented - set(SETTINGS)) == []
    assert list(DEFAULTS) == list(SETTINGS)


def documented_defaults() -> dict[str, str]:
    """Return each setting's default as the settings table writes it (a row may document two)."""
    found: dict[str, str] = {}
    for line in section("Settings").splitlines():
        if line.startswith("| `"):
            cells = line.split("|")
            names = re.findall(r"`([^`]+)`", cells[1])
            written = [text.strip() for text in cells[2].split(" / ")]
            found.update(zip(names, written * len(names) if len(written) == 1 else written, strict=True))
    return found


def test_every_default_in_the_settings_table_is_the_real_default() -> None:
    for name, written in documented_defaults().items():
        default: Any = SETTINGS[name].default
        text = written.strip("`")
        if written == "—" or "{" in text:
            # No default, or one derived from other settings (``https://{DOMAIN}/``).
            assert default is None, name
        elif "…" in text:
            # An abbreviated list: what is shown is how the default begins.
            shown = ast.literal_eval(text.replace(", …]", "]"))
            assert default[: len(shown)] == shown, name
        else:
            assert ast.literal_eval(text) == default, name


def test_every_error_code_is_in_the_errors_table() -> None:
    documented = first_column(section("Errors"))
    assert sorted(error_codes() - documented) == []


def test_every_check_id_is_in_the_checks_table() -> None:
    source = "".join(Path(module.__file__).read_text(encoding="utf-8") for module in (checks, drf_checks))
    used = {f"auth0_drf.{suffix}" for suffix in re.findall(r'id="auth0_drf\.([EW]\d{3})"', source)}
    documented = first_column(section("Checking your configuration"))
    assert used, "no check ids found in checks.py and drf_checks.py"
    assert sorted(used - documented) == []
    assert sorted(documented - used) == []
