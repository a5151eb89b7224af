"""Decode compact JWS segments strictly: unpadded base64url, then one JSON object with nothing doubtful in it.

Access tokens and DPoP proofs are read through here, so both refuse the same things: another
alphabet or padding, bytes that are not UTF-8, duplicate member names, ``NaN`` and numbers that
overflow to infinity, deep nesting and lone surrogates (RFC 7515, RFC 7493). ``is_number`` says
which JSON numbers can be NumericDates (RFC 7519 section 2).
"""

from __future__ import annotations

import binascii
import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any, TypeGuard

from .errors import NO_AUDIENCE_HINT, NotAJWT
from .i18n import gettext_lazy as _
from .i18n import interpolate

#: The latest NumericDate accepted (9999-12-31T23:59:59Z): a later one is never meant seriously,
#: and could not be a datetime (``Claims.expires_at``) or even a float (``10**400``).
MAX_NUMERIC_DATE = 253402300799
#: Deeper JSON is refused: claims nest a few levels, while hundreds of levels can exhaust the
#: stack later, when an application renders or stores the claims.
MAX_JSON_DEPTH = 64

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
# base64url to the standard alphabet for binascii. "+", "/" and "=" become "!", which no
# base64 decoder accepts, so a segment must be unpadded base64url and nothing else.
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_+/=", b"+/!!!")
_TO_URLSAFE_ALPHABET = bytes.maketrans(b"+/", b"-_")


def is_number(value: Any) -> TypeGuard[int | float]:
    """Return whether ``value`` is a JSON number that can be a NumericDate (at most ``MAX_NUMERIC_DATE`` either way).

    ``true`` is not a number, nor are ``NaN``, the infinities or ``10**400``.
    """
    # Exact types (JSON gives only int and float): this excludes bool without a second check.
    # A comparison, not math.isfinite (which overflows on 10**400); NaN and infinities fail it.
    kind = type(value)
    return (kind is int or kind is float) and -MAX_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE


if sys.version_info >= (3, 11):

    def b64url_decode(segment: str) -> bytes | None:
        """Return the bytes of an unpadded base64url segment, or None when it is not one."""
        # One C call checks the alphabet, the length and decodes (strict mode rejects any
        # character outside the alphabet, where a regex plus base64.urlsafe_b64decode took two).
        if not segment:
            return None
        try:
            data = segment.encode("ascii").translate(_TO_STANDARD_ALPHABET)
            return binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)
        except (UnicodeEncodeError, binascii.Error):
            return None

else:  # pragma: no cover (Python 3.10 has no strict mode)

    def b64url_decode(segment: str) -> bytes | None:
        """Return the bytes of an unpadded base64url segment, or None when it is not one."""
        if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
            return None
        data = segment.encode("ascii").translate(_TO_STANDARD_ALPHABET)
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def b64url_encode(data: bytes) -> bytes:
    """Return ``data`` as unpadded base64url: the one text ``b64url_decode`` accepts for it, unused bits zero."""
    # binascii directly: base64.urlsafe_b64encode is two Python calls around the same C one.
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE_ALPHABET).rstrip(b"=")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON number {name}")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _finite_float(text: str) -> float:
    # "1e400" is valid JSON that Python reads as inf; strict JSON renderers then fail on it.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


_decoder = json.JSONDecoder(
    object_pairs_hook=_unique_members, parse_constant=_reject_constant, parse_float=_finite_float
)


def _scanner(decoder: json.JSONDecoder) -> Callable[[str, int], tuple[Any, int]]:
    # JSONDecoder.__init__ keeps its scanner (C, json.scanner.c_make_scanner, in CPython) as
    # scan_once, which raw_decode() calls; the attribute is not documented, but every json since
    # Python 2.6 has it. Calling it directly saves decode()'s two Python calls on each first sight.
    # It returns (value, end) and raises StopIteration where decode() raises JSONDecodeError.
    scan_once: Callable[[str, int], tuple[Any, int]] = decoder.scan_once  # type: ignore[attr-defined]
    return scan_once


_scan_once = _scanner(_decoder)


def _json_object(text: str) -> Any:
    # Anything the scanner does not consume whole (surrounding whitespace, trailing data) takes
    # the full, equally strict path.
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        return _decoder.decode(text)
    if end != len(text):
        return _decoder.decode(text)
    return value


def too_deep(value: object, limit: int) -> bool:
    """Return whether decoded JSON ``value`` nests deeper than ``limit`` (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _check_json(text: str, value: Any) -> None:
    # Cheap counts first: ordinary tokens never reach the full walks below.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and too_deep(value, MAX_JSON_DEPTH):
        raise ValueError("JSON nested too deeply")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        # A lone surrogate escape decodes to a str that cannot be encoded again (RFC 7493 2.1):
        # databases, loggers and JSON renderers would all fail on it later.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("lone surrogate in a JSON string") from None


def decode_segment(segment: str, what: str) -> dict[str, Any]:
    """Decode one base64url JSON segment into a dict, strictly, or raise ``NotAJWT``.

    Rejected: characters outside base64url, impossible lengths, bytes that are not UTF-8,
    duplicate member names, ``NaN``/``Infinity`` (and numbers that overflow to them, ``1e400``),
    nesting deeper than ``MAX_JSON_DEPTH``, lone surrogate escapes (``"\\ud800"``), and anything
    but a JSON object. ``what`` (``"header"``, ``"payload"``) names the segment in the message.
    """
    raw = b64url_decode(segment)
    if raw is None:
        raise NotAJWT(
            interpolate(
                _("The access token is not a signed JWT (its %(segment)s is not base64url). %(hint)s"),
                segment=what,
                hint=NO_AUDIENCE_HINT,
            )
        )
    try:
        text = raw.decode("utf-8")
        value = _json_object(text)
        _check_json(text, value)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotAJWT(f"The access token's {what} is not valid JSON; it is not a JWT.") from None
    if not isinstance(value, dict):
        raise NotAJWT(f"The access token's {what} is not a JSON object; it is not a JWT.")
    return value
