"""Decoding JWS segments strictly (``jose.py``): base64url, one JSON object, numbers that can be dates.

The fast paths agree with plain, obviously correct ones on any input; tokens signed by the trusted
issuer with extreme values are a 401 or a 200, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auth0_drf.errors import NotAJWT
from auth0_drf.jose import MAX_NUMERIC_DATE, b64url_decode, b64url_encode, decode_segment, is_number

from .helpers import get_as
from .hostile import b64

B64URL = re.compile(r"[A-Za-z0-9_-]+")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .\n\t\x00é!"


# --- the fast paths agree with the plain, obviously correct ones --------------------------------


def reference_b64url(segment: str) -> bytes | None:
    """A regex for the alphabet, then the standard library's decoder."""
    if not B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        return None


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(alphabet=ALPHABET, max_size=40), st.text(max_size=20)))
def test_b64url_decode_agrees_with_the_reference(segment):
    assert b64url_decode(segment) == reference_b64url(segment)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_b64url_decode_round_trips(data):
    segment = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    assert b64url_decode(segment) == (data if segment else None)
    assert b64url_encode(data) == segment.encode()  # the fast encoder agrees with the standard library


@pytest.mark.parametrize(
    "text",
    ['{"a": 1}', ' {"a": 1} ', '{"a": 1}\n', '{"a": {"b": [1, 2.5, "x", null, true]}}'],
)
def test_json_with_or_without_whitespace_decodes_like_json_loads(text):
    assert decode_segment(b64(text), "payload") == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1} x',
        '{"a": 1}{"b": 2}',
        '{"a": 1, "a": 2}',
        '{"a": NaN}',
        '{"a": Infinity}',
        "[1]",
        '"s"',
        "",
        " ",
        "{" * 100000,
    ],
)
def test_json_that_is_not_one_strict_object_is_rejected(text):
    with pytest.raises(NotAJWT):
        decode_segment(b64(text), "payload")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, True),
        (-1.5, True),
        (MAX_NUMERIC_DATE, True),
        (-MAX_NUMERIC_DATE, True),
        (MAX_NUMERIC_DATE + 1, False),
        (10**400, False),
        (float("nan"), False),
        (float("inf"), False),
        (True, False),
        ("1", False),
        (None, False),
    ],
)
def test_is_number_accepts_the_json_numbers_a_numeric_date_can_be(value, expected):
    assert is_number(value) is expected


# --- signed tokens with extreme values: a 401 or a 200, never a 500 -------------------------------

# Found by the end-to-end suite: a token from the trusted issuer with exp = 10**400, or a custom
# claim holding a lone surrogate ("\ud800"), made the demo answer 500.


@pytest.mark.django_db
@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 10**400},
        {"exp": 10**15},  # year 31690: beyond what a datetime (Claims.expires_at) can hold
        {"exp": 1e300},
        {"nbf": -(10**400)},
        {"iat": 10**400},
    ],
)
def test_numeric_dates_out_of_range_are_invalid_claims(auth0_issuer, claims):
    response = get_as(auth0_issuer, "/api/claims", claims=claims)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_claim"


@pytest.mark.django_db
def test_the_latest_numeric_date_is_accepted_and_readable(auth0_issuer):
    response = get_as(auth0_issuer, "/api/claims", claims={"exp": 253402300799})
    assert response.status_code == 200
    assert response.json()["claims"]["exp"] == 253402300799


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "\ude00\ud83d"])
def test_lone_surrogates_in_any_claim_are_refused(auth0_issuer, bad):
    for claims in ({"https://example.test/note": bad}, {"https://example.test/list": ["ok", {"x": bad}]}, {"sub": bad}):
        response = get_as(auth0_issuer, "/api/claims", claims=claims)
        assert response.status_code == 401
        assert response.json()["code"] == "not_a_jwt"


@pytest.mark.django_db
def test_escaped_surrogate_pairs_are_ordinary_text(auth0_issuer):
    # LocalKey signs with json.dumps' ASCII escapes, so the emoji travels as \ud83d\ude00.
    response = get_as(
        auth0_issuer, "/api/claims", claims={"https://example.test/mood": "\U0001f600", "sub": "auth0|\U0001f600"}
    )
    assert response.status_code == 200
    assert response.json()["claims"]["https://example.test/mood"] == "\U0001f600"
