"""The fast paths of parsing agree with the plain, obviously correct ones on any input."""

from __future__ import annotations

import base64
import binascii
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from auth0_drf.authentication import Auth0Authentication
from auth0_drf.errors import InvalidAuthorizationHeader, NotAJWT
from auth0_drf.jose import b64url_decode, b64url_encode, decode_segment

from .hostile import b64

B64URL = re.compile(r"[A-Za-z0-9_-]+")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .\n\t\x00é!"


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
    ['{"a": 1} x', '{"a": 1}{"b": 2}', '{"a": 1, "a": 2}', '{"a": NaN}', '{"a": Infinity}', "[1]", '"s"', "", " ", "{" * 100000],
)
def test_json_that_is_not_one_strict_object_is_rejected(text):
    with pytest.raises(NotAJWT):
        decode_segment(b64(text), "payload")


class GeneralPathOnly(Auth0Authentication):
    keyword = "bearer"  # compares equal case-insensitively, but skips the one-regex fast path


def raw_token(auth: Auth0Authentication, header: str):
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=header))
    try:
        return ("token", auth.get_raw_token(request))
    except InvalidAuthorizationHeader as exc:
        return ("error", exc.code)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Bearerx", " Bearer", "DPoP"]),
    st.sampled_from([" ", "  ", "\t", "", " \t "]),
    st.text(alphabet="Aa0-._~+/=é ,\"", max_size=12),
)
def test_bearer_fast_path_agrees_with_the_general_path(scheme, gap, token):
    header = scheme + gap + token
    assert raw_token(Auth0Authentication(), header) == raw_token(GeneralPathOnly(), header)


@pytest.mark.django_db
def test_checked_headers_are_kept_read_only_bounded_and_never_when_rejected(auth0_issuer):
    from auth0_drf.errors import UnsupportedAlgorithm
    from auth0_drf.tokens import get_verifier

    verifier = get_verifier()
    first, second = auth0_issuer.token(claims={"jti": "1"}), auth0_issuer.token(claims={"jti": "2"})
    assert verifier.verify(first).header is verifier.verify(second).header  # one header, checked once
    with pytest.raises(TypeError):
        verifier.verify(first).header["alg"] = "none"  # shared, so read-only
    bad = b64('{"alg": "HS256", "typ": "JWT"}')
    for _ in range(2):
        with pytest.raises(UnsupportedAlgorithm):
            verifier.checked_header(bad)
    assert verifier.cache_info().headers == 1  # the good tokens' header only
    for i in range(5):  # checked but not yet backed by a valid signature: not kept
        verifier.checked_header(b64(json.dumps({"alg": "RS256", "kid": f"k{i}"})))
    assert verifier.cache_info().headers == 1
    for i in range(verifier.max_headers + 10):
        verifier.verify(auth0_issuer.token(headers={"n": i}))
    assert verifier.cache_info().headers == verifier.max_headers
