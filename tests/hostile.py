"""Shared tools for hostile tests: craft tokens byte by byte, send them, and check every rejection the same way.

``assert_rejected`` is the one definition of a correct rejection, through DRF's test client or, end
to end, over real HTTP: the expected status (never a 500), a JSON body with its ``code``, exactly
one RFC 6750 challenge with ``realm`` first, ``error`` at most once and only the characters RFC
6750 allows, and none of the attacker's text echoed in the body, the headers or the logs.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from jwt.algorithms import get_default_algorithms

from auth0_drf.signing import LocalKey

from .helpers import send

ALGORITHMS = get_default_algorithms()
DROP = object()  # a header or claim value meaning "leave this member out"

# RFC 6750 section 3: auth-param values are quoted strings of %x20-21 / %x23-5B / %x5D-7E.
_PARAM_VALUE = r"[\x20\x21\x23-\x5b\x5d-\x7e]*"
_CHALLENGE = re.compile(rf'Bearer(?: [a-z_]+="{_PARAM_VALUE}"(?:, [a-z_]+="{_PARAM_VALUE}")*)?')
_PARAM = re.compile(r'([a-z_]+)="([^"]*)"')
_LOGGERS = ("", "auth0_drf", "django", "django.request", "django.server", "rest_framework", "urllib3")


def b64(data: bytes | str) -> str:
    """Return unpadded base64url of ``data`` (str is UTF-8 encoded)."""
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def as_segment(value: Any) -> str:
    """Return the base64url segment of a JSON value, or of raw text/bytes given as such."""
    if isinstance(value, (bytes, str)):
        return b64(value)
    return b64(json.dumps(value, separators=(",", ":")))


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated with ``overrides``; a value of ``DROP`` removes the member."""
    result = dict(base)
    for name, value in overrides.items():
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def sign_raw(header: Any, payload: Any, key: LocalKey, alg: str | None = None) -> str:
    """Return a compact JWS over exactly these header and payload values (dicts, text or bytes).

    Unlike ``jwt.encode`` nothing is validated or added, so tokens with odd headers still carry
    a genuine signature: the verifier must reject them for what they are, not for a bad signature.
    """
    signing_input = f"{as_segment(header)}.{as_segment(payload)}"
    signature = ALGORITHMS[alg or key.alg].sign(signing_input.encode(), key.private_key)
    return f"{signing_input}.{b64(signature)}"


def signed_token(key: LocalKey, payload: Any, header: Mapping[str, Any] | None = None) -> str:
    """Return a token genuinely signed by ``key`` over ``payload``, whatever PyJWT's encoder would refuse.

    The header is ``alg``, ``kid`` and ``typ: JWT``, with ``header``'s members over them.
    """
    return sign_raw({"alg": key.alg, "kid": key.kid, "typ": "JWT", **(header or {})}, payload, key)


def unsigned(header: Any, payload: Any, signature: str = "") -> str:
    """Return a token with the given segments and a signature segment chosen by the caller."""
    return f"{as_segment(header)}.{as_segment(payload)}.{signature}"


def echo_candidates(authorization: str | None) -> list[str]:
    """Return the parts of an Authorization value that must never come back: token and segments."""
    if not authorization:
        return []
    token = authorization.split(" ", 1)[-1].strip()
    parts = [token] + token.split(".")
    return [part for part in parts if len(part) >= 16]


def parse_challenge(value: str) -> dict[str, str]:
    """Check one ``WWW-Authenticate`` value against RFC 6750 and return its parameters (realm first)."""
    assert _CHALLENGE.fullmatch(value), f"malformed challenge: {value!r}"
    names = [name for name, _ in _PARAM.findall(value)]
    for name in ("realm", "error", "error_description", "scope"):
        assert names.count(name) <= 1, f"{name} appears more than once: {value!r}"
    assert names[:1] == ["realm"], f"realm is not first: {value!r}"
    return dict(_PARAM.findall(value))


def header_lines(response: Any) -> list[tuple[str, str]]:
    """Return every header of a DRF test response or a ``requests`` response, repeats included."""
    raw = getattr(response, "raw", None)
    if raw is not None and hasattr(raw, "headers"):  # requests: urllib3 keeps each header line
        return list(raw.headers.items())
    return list(response.items())


def header_values(response: Any, name: str) -> list[str]:
    """Return every value of the header ``name`` (case-insensitive) in ``response``."""
    return [value for key, value in header_lines(response) if key.lower() == name.lower()]


def assert_challenge(response: Any, error: str | None) -> dict[str, str]:
    """Assert exactly one well-formed RFC 6750 challenge with ``error`` (or none); return its parameters.

    ``realm`` is ``api`` and comes first; an ``error`` always has an ``error_description``.
    """
    challenges = header_values(response, "WWW-Authenticate")
    assert len(challenges) == 1, challenges
    params = parse_challenge(challenges[0])
    assert params.get("realm") == "api"
    assert params.get("error") == error, (params, error)
    if error is not None:
        assert params.get("error_description"), params
    return params


def assert_rejected(
    response: Any,
    *,
    status: int = 401,
    code: str | None,
    error: str | None = "default",
    secrets: Iterable[str] = (),
    logs: str = "",
) -> dict[str, Any]:
    """Assert that ``response`` is a deliberate rejection and return its JSON body.

    ``response`` is a DRF test response or, over real HTTP, a ``requests`` one. ``error`` defaults
    by status: 400 -> invalid_request, 401 -> invalid_token (or no error for ``not_authenticated``),
    403 -> insufficient_scope; 503 carries no challenge but a ``Retry-After``. ``code=None``
    accepts any code (the body must still have one). ``secrets`` must appear nowhere.
    """
    assert response.status_code != 500
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert header_values(response, "Content-Type")[0].startswith("application/json")
    body = response.content.decode("utf-8")
    data = json.loads(body)
    assert isinstance(data, dict) and isinstance(data.get("code"), str), body
    if code is not None:
        assert data["code"] == code, data
    if error == "default":
        error = {400: "invalid_request", 403: "insufficient_scope"}.get(status, "invalid_token")
        if code == "not_authenticated":
            error = None
    if status == 503:
        (retry_after,) = header_values(response, "Retry-After")
        assert retry_after.isdigit()
    else:
        assert_challenge(response, error)
    headers = "\n".join(f"{name}: {value}" for name, value in header_lines(response))
    for secret in secrets:
        if not secret:
            continue
        assert secret not in body, f"echoed in body: {secret[:60]!r}"
        assert secret not in headers, f"echoed in headers: {secret[:60]!r}"
        assert secret not in logs, f"echoed in logs: {secret[:60]!r}"
    return data


def assert_keys_unavailable(response: Any) -> None:
    """Assert the answer to a request whose issuer's keys cannot be had: 503 ``jwks_unavailable``."""
    assert_rejected(response, status=503, code="jwks_unavailable", error=None)


@contextmanager
def all_logs(caplog: Any) -> Iterator[None]:
    """Capture every logger that could see a request at DEBUG level."""
    previous = {name: logging.getLogger(name).level for name in _LOGGERS}
    caplog.clear()
    handler_level = caplog.handler.level
    caplog.handler.setLevel(logging.DEBUG)
    try:
        for name in _LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
        yield
    finally:
        caplog.handler.setLevel(handler_level)
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


class Attacker:
    """Send hostile requests through DRF and check each rejection with ``assert_rejected``."""

    def __init__(self, caplog: Any) -> None:
        self.caplog = caplog

    def send(
        self, authorization: str | None = None, *, path: str = "/api/private", method: str = "get", **extra: Any
    ) -> Any:
        """Send one request with this raw ``Authorization`` value (none for None)."""
        return send(authorization, path, method=method, **extra)

    def expect(
        self,
        authorization: str | None,
        *,
        status: int = 401,
        code: str | None,
        error: str | None = "default",
        secrets: Iterable[str] = (),
        path: str = "/api/private",
        method: str = "get",
        **extra: Any,
    ) -> Any:
        """Send one request and assert it is rejected as described; return the response."""
        with all_logs(self.caplog):
            response = self.send(authorization, path=path, method=method, **extra)
        assert_rejected(
            response,
            status=status,
            code=code,
            error=error,
            secrets=[*echo_candidates(authorization), *secrets],
            logs=self.caplog.text,
        )
        return response

    def bearer(self, token: str, **kwargs: Any) -> Any:
        """``expect`` with ``Authorization: Bearer <token>``."""
        return self.expect(f"Bearer {token}", **kwargs)
