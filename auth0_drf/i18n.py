"""Translatable texts: lazy messages that render in the active language, and their English form.

Messages are kept lazy so that one error raised (or one message defined at import time)
renders in the language of each request that shows it: the JSON body in the active
language, the ``WWW-Authenticate`` header and the log lines always in English (RFC 6750
section 3 allows only ASCII in ``error_description``). The message ids are the English texts.
"""

from __future__ import annotations

from typing import Any, cast

from django.utils import translation
from django.utils.functional import lazy

__all__ = ["english", "gettext_lazy", "gettext_noop", "interpolate"]


def gettext_lazy(message: str) -> str:
    """Return ``message`` translated lazily, typed as ``str`` so messages keep their ``str`` annotations.

    ``makemessages`` extracts the calls by name: import it as ``_`` or call it ``gettext_lazy``.
    """
    return cast("str", translation.gettext_lazy(message))


def gettext_noop(message: str) -> str:
    """Return ``message`` unchanged, marked for ``makemessages``: it is translated later, where it is shown.

    Django's own ``gettext_noop`` reads the settings, so a module using it at import time could
    not be imported before they are configured (the docs build imports ``auth0_drf.conf``).
    """
    return message


def _interpolated(template: str, values: dict[str, Any]) -> str:
    return str(template) % values


_lazy_interpolated = lazy(_interpolated, str)


def interpolate(template: str, **values: Any) -> str:
    """Return ``template % values``, evaluated each time it is shown (in the language active then).

    ``template`` is a lazy message with named placeholders (``%(claim)s``), so translators may
    reorder them; ``values`` may be lazy messages too. Django's own ``lazy % values`` would
    translate at once, in the language active when the error is raised.
    """
    return _lazy_interpolated(template, values)


def english(text: str) -> str:
    """Return ``text`` rendered in English, the language of headers and log lines, whatever is active."""
    with translation.override("en"):
        return str(text)
