"""The README's reference tables name every setting, error code and system check the code has."""

from __future__ import annotations

import re
from pathlib import Path

from auth0_drf import checks, exceptions
from auth0_drf.conf import DEFAULTS

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
    assert sorted(set(DEFAULTS) - documented) == []
    assert sorted(documented - set(DEFAULTS)) == []


def test_every_error_code_is_in_the_errors_table() -> None:
    documented = first_column(section("Errors"))
    assert sorted(error_codes() - documented) == []


def test_every_check_id_is_in_the_checks_table() -> None:
    source = Path(checks.__file__).read_text(encoding="utf-8")
    used = {f"auth0_drf.{suffix}" for suffix in re.findall(r'id="auth0_drf\.([EW]\d{3})"', source)}
    documented = first_column(section("Checking your configuration"))
    assert used, "no check ids found in checks.py"
    assert sorted(used - documented) == []
    assert sorted(documented - used) == []
