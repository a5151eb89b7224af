"""Property-based fuzzing: mutated tokens never cause a 500, and never a 200 unless genuinely valid.

The default run is short. For a long one: ``AUTH0_DRF_FUZZ_EXAMPLES=5000 .venv/bin/python -m
pytest tests/test_fuzz.py``. Re-signed mutations are judged by ``is_valid`` below, an independent
statement of what the verifier must accept, written from RFC 7519/8725 and the README.
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from auth0_drf.testing import LocalIssuer

from .helpers import get
from .hostile import as_segment, assert_rejected, b64, sign_raw

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("AUTH0_DRF_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # keep no example files in the worktree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
LEEWAY = 5
MAX_LENGTH = 8192

HEADER_NAMES = ["alg", "kid", "typ", "cty", "crit", "b64", "zip", "enc", "jku", "jwk", "x5u", "x5c", "x5t", "nonce"]
CLAIM_NAMES = [
    "iss",
    "aud",
    "sub",
    "exp",
    "nbf",
    "iat",
    "scope",
    "permissions",
    "scp",
    "azp",
    "client_id",
    "gty",
    "jti",
    "cnf",
    "nonce",
    "https://auth0-drf-demo/state",
]


def json_values(issuer: LocalIssuer) -> st.SearchStrategy[Any]:
    now = int(time.time())
    interesting = st.sampled_from(
        [
            issuer.issuer,
            issuer.issuer.rstrip("/"),
            issuer.audience,
            [issuer.audience],
            [issuer.audience, "x"],
            "RS256",
            "none",
            "HS256",
            "ES256",
            issuer.signing_key.kid,
            "JWT",
            "at+jwt",
            "application/at+jwt",
            "dpop+jwt",
            "read:messages",
            "auth0|fuzz",
            "x@clients",
            "client-credentials",
            0,
            -1,
            now,
            now + 3600,
            now - 3600,
            10**20,
            10**400,
            1e308,
            -0.0,
            "",
            " ",
            "\u0000",
            "\uff41",
            [],
            {},
        ]
    )
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=24)
    )
    values = st.recursive(
        scalars | interesting,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
    return values


def operations(names: list[str], issuer: LocalIssuer) -> st.SearchStrategy[list[tuple[str, str, Any]]]:
    name = st.sampled_from(names) | st.text(min_size=1, max_size=10)
    op = st.tuples(st.just("set"), name, json_values(issuer)) | st.tuples(st.just("drop"), name, st.none())
    return st.lists(op, min_size=1, max_size=3)


def apply(document: dict[str, Any], ops: list[tuple[str, str, Any]]) -> dict[str, Any]:
    result = dict(document)
    for action, name, value in ops:
        if action == "set":
            result[name] = value
        else:
            result.pop(name, None)
    return result


# --- the oracle --------------------------------------------------------------------------------


def _number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # NumericDates beyond year 9999 either way are refused (they cannot be datetimes).
    try:
        return math.isfinite(value) and abs(value) <= 253402300799
    except OverflowError:
        return False


def _near(value: Any, point: float) -> bool:
    return _number(value) and abs(value - point) < 10


def is_valid(header: dict[str, Any], payload: dict[str, Any], issuer: LocalIssuer, now: float) -> bool:
    """Return whether a token with this header and payload, signed by the issuer's key, must be accepted."""
    if header.get("alg") != "RS256":
        return False
    if any(name in header for name in ("crit", "b64", "zip", "enc")):
        return False
    if "kid" in header and header["kid"] != issuer.signing_key.kid:
        return False
    if "typ" in header:
        typ = header["typ"]
        if not isinstance(typ, str) or typ.lower().removeprefix("application/") not in ("jwt", "at+jwt"):
            return False
    if "cty" in header:
        cty = header["cty"]
        if not isinstance(cty, str) or cty.lower() in ("jwt", "application/jwt"):
            return False
    if payload.get("iss") != issuer.issuer:
        return False
    exp = payload.get("exp")
    if not _number(exp) or now >= exp + LEEWAY:
        return False
    for name in ("nbf", "iat"):
        # A registered time claim that is present must be a number: null is not "absent".
        if name in payload and (not _number(payload[name]) or payload[name] > now + LEEWAY):
            return False
    aud = payload.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not audiences or not all(isinstance(a, str) for a in audiences):
        return False
    if issuer.audience not in audiences:
        return False
    sub = payload.get("sub")
    if (
        not isinstance(sub, str)
        or not sub.strip()
        or len(sub) > 255
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in sub)
    ):
        return False
    if "scope" in payload and not isinstance(payload["scope"], str):
        return False
    if "permissions" in payload and not (
        isinstance(payload["permissions"], list) and all(isinstance(p, str) for p in payload["permissions"])
    ):
        return False
    if "scp" in payload and not (
        isinstance(payload["scp"], str)
        or (isinstance(payload["scp"], list) and all(isinstance(p, str) for p in payload["scp"]))
    ):
        return False
    if any(name in payload and not isinstance(payload[name], str) for name in ("azp", "client_id", "gty", "jti")):
        return False
    return "cnf" not in payload


def clock_sensitive(payload: dict[str, Any], now: float) -> bool:
    """Whether a time claim sits so close to a boundary that the clock could decide the outcome."""
    return _near(payload.get("exp"), now - LEEWAY) or any(_near(payload.get(n), now + LEEWAY) for n in ("nbf", "iat"))


# --- helpers -----------------------------------------------------------------------------------


def check_rejected_or_ok(response: Any, may_pass: bool) -> None:
    if response.status_code == 200:
        assert may_pass, "a token that is not genuinely valid was accepted"
        return
    assert response.status_code in (400, 401), response.content[:300]
    assert_rejected(
        response,
        status=response.status_code,
        code=None,
        error="invalid_request" if response.status_code == 400 else "invalid_token",
    )


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header_segment, payload_segment, signature = token.split(".")
    return _decode(header_segment), _decode(payload_segment), signature


def _decode(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


@pytest.fixture
def base(auth0_issuer: LocalIssuer) -> tuple[LocalIssuer, str]:
    return auth0_issuer, auth0_issuer.token(sub="auth0|fuzz", scope="read:messages")


# --- properties ------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_bit_flips_never_pass(base, data):
    issuer, token = base
    raw = bytearray(token.encode())
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 7)), min_size=1, max_size=4))
    for index, bit in flips:
        raw[index] ^= 1 << bit
    mutated = raw.decode("latin-1")
    check_rejected_or_ok(get(mutated, "/api/claims"), may_pass=mutated == token)


@FUZZ
@given(data=st.data())
def test_segment_swaps_and_splices_never_pass(base, data):
    issuer, token = base
    other = issuer.token(sub="auth0|other", scope="admin")
    pool = token.split(".") + other.split(".") + ["", "e30", "bnVsbA", b64(b"\x00" * 256)]
    parts = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6))
    mutated = ".".join(parts)
    check_rejected_or_ok(get(mutated, "/api/claims"), may_pass=mutated in (token, other))


@FUZZ
@given(data=st.data())
def test_edits_and_truncations_never_pass(base, data):
    issuer, token = base
    start = data.draw(st.integers(0, len(token)))
    end = data.draw(st.integers(start, min(len(token), start + 8)))
    insert = data.draw(st.text(alphabet="ABCxyz019-_.=+/ ~", max_size=6))
    mutated = token[:start] + insert + token[end:]
    assume(mutated.strip())
    check_rejected_or_ok(get(mutated, "/api/claims"), may_pass=mutated == token)


@FUZZ
@given(data=st.data())
def test_resigned_claim_and_header_replacements_match_the_oracle(base, data):
    issuer, token = base
    header, payload, _ = segments(token)
    header = (
        apply(header, data.draw(operations(HEADER_NAMES, issuer), label="header ops"))
        if data.draw(st.booleans())
        else header
    )
    payload = apply(payload, data.draw(operations(CLAIM_NAMES, issuer), label="payload ops"))
    now = time.time()
    assume(not clock_sensitive(payload, now))
    mutated = sign_raw(header, payload, issuer.signing_key)
    valid = len(mutated) <= MAX_LENGTH and is_valid(header, payload, issuer, now)
    response = get(mutated, "/api/claims")
    check_rejected_or_ok(response, may_pass=valid)
    assert (response.status_code == 200) == valid, (header, payload, response.content[:300])


@FUZZ
@given(data=st.data())
def test_replacements_without_re_signing_never_pass(base, data):
    issuer, token = base
    header, payload, signature = segments(token)
    header = apply(header, data.draw(operations(HEADER_NAMES, issuer))) if data.draw(st.booleans()) else header
    payload = apply(payload, data.draw(operations(CLAIM_NAMES, issuer)))
    mutated = f"{as_segment(header)}.{as_segment(payload)}.{signature}"
    check_rejected_or_ok(get(mutated, "/api/claims"), may_pass=mutated == token)


@FUZZ
@given(value=st.text(max_size=200) | st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")))
def test_arbitrary_authorization_values_never_pass(base, value):
    client = APIClient()
    response = client.get("/api/claims", HTTP_AUTHORIZATION=value)
    assert response.status_code in (400, 401), response.content[:300]
    response = client.get("/api/claims", HTTP_AUTHORIZATION=f"Bearer {value}")
    assert response.status_code in (400, 401), response.content[:300]


def raw_literals() -> st.SearchStrategy[str]:
    """JSON text for one value, including what json.dumps never writes: 1e400, lone surrogates, deep nests."""
    numbers = st.from_regex(r"-?(0|[1-9][0-9]{0,400})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?", fullmatch=True)
    pieces = st.sampled_from(
        ["a", "\\ud800", "\\udfff", "\\ud83d\\ude00", "\\u0000", '\\"', "\\\\", "\\n", "\u00e9", "\\u00e9"]
    )
    strings = st.lists(pieces, max_size=6).map(lambda parts: '"' + "".join(parts) + '"')
    nests = st.integers(0, 100).map(lambda depth: "[" * depth + "]" * depth)
    return numbers | strings | nests


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


def literal_is_acceptable(literal: str) -> bool:
    """Whether a custom claim with this JSON text must be accepted (the oracle for raw literals)."""
    try:
        value = json.loads(literal)
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return 1 + _depth(value) <= 64


@FUZZ
@given(literal=raw_literals())
def test_raw_json_literals_in_a_signed_custom_claim(base, literal):
    issuer, _ = base
    payload = json.dumps(issuer.claims(sub="auth0|fuzz", claims={"https://app.example/x": 0}))
    payload = payload.replace('"https://app.example/x": 0', f'"https://app.example/x": {literal}')
    token = sign_raw({"alg": "RS256", "typ": "JWT", "kid": issuer.signing_key.kid}, payload, issuer.signing_key)
    valid = len(token) <= MAX_LENGTH and literal_is_acceptable(literal)
    response = get(token, "/api/claims")
    check_rejected_or_ok(response, may_pass=valid)
    assert (response.status_code == 200) == valid, (literal[:80], response.content[:200])
