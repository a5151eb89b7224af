"""The rejection matrix: tokens and headers from RFC 8725, RFC 9068 section 4, RFC 6750 section 3 and public advisories.

Every case is a real DRF request checked by ``hostile.assert_rejected``: the status (never 500),
one well-formed RFC 6750 challenge, the body's code, and no attacker text in the body, the
headers or the logs at any level. test_authentication.py has the first, friendlier cases; these
go further.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.auth import get_user_model

from auth0_drf.models import Auth0Identity
from auth0_drf.signing import LocalKey
from auth0_drf.testing import LocalIssuer, LoopbackServer, json_response

from .helpers import issuer_entry, self_signed_certificate
from .hostile import DROP, Attacker, as_segment, b64, merge, sign_raw, unsigned

pytestmark = pytest.mark.django_db

User = get_user_model()
MARK = "PWN3D-marker-7f3a"  # attacker text that must never come back


class Forge:
    """Build tokens for one issuer: genuine ones, and every kind of forgery."""

    def __init__(self, issuer: LocalIssuer) -> None:
        self.issuer = issuer
        self.key = issuer.signing_key

    def header(self, **overrides: Any) -> dict[str, Any]:
        return merge({"alg": self.key.alg, "typ": "JWT", "kid": self.key.kid}, overrides)

    def payload(self, **overrides: Any) -> dict[str, Any]:
        return merge(self.issuer.claims(), overrides)

    def signed(
        self, header: Any = None, payload: Any = None, *, key: LocalKey | None = None, alg: str | None = None
    ) -> str:
        header = self.header() if header is None else header
        payload = self.payload() if payload is None else payload
        return sign_raw(header, payload, key or self.key, alg)

    def hmac(self, secret: bytes, alg: str = "HS256", **header: Any) -> str:
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        signing_input = f"{as_segment(self.header(alg=alg, **header))}.{as_segment(self.payload())}"
        return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), digest).digest())}"


@pytest.fixture
def attacker(caplog: Any) -> Attacker:
    return Attacker(caplog)


@pytest.fixture
def forge(auth0_issuer: LocalIssuer) -> Forge:
    return Forge(auth0_issuer)


Case = Callable[[Forge], str]


def cases(*items: tuple[str, Any, int, str | None]) -> list[Any]:
    """Turn (id, builder, status, code) rows into pytest params."""
    return [pytest.param(builder, status, code, id=name) for name, builder, status, code in items]


def run(
    attacker: Attacker, forge: Forge, builder: Case, status: int, code: str | None, *, raw: bool = False, **kwargs: Any
) -> Any:
    """Send the builder's token as a bearer token (or, with ``raw``, its whole Authorization value)."""
    value = builder(forge)
    authorization = value if raw else f"Bearer {value}"
    return attacker.expect(authorization, status=status, code=code, secrets=[MARK], **kwargs)


# --- header forms (RFC 6750 section 2.1) ------------------------------------------------------

HEADER_FORMS = cases(
    ("missing", lambda f: None, 401, "not_authenticated"),
    ("basic", lambda f: "Basic YWRtaW46YWRtaW4=", 401, "not_authenticated"),
    ("digest", lambda f: 'Digest username="admin", realm="api"', 401, "not_authenticated"),
    ("token-scheme-with-valid-jwt", lambda f: f"Token {f.issuer.token()}", 401, "not_authenticated"),
    ("jwt-scheme-with-valid-jwt", lambda f: f"JWT {f.issuer.token()}", 401, "not_authenticated"),
    ("bearer-colon-scheme", lambda f: f"Bearer: {f.issuer.token()}", 401, "not_authenticated"),
    ("cyrillic-bearer", lambda f: f"B\u0435arer {f.issuer.token()}", 401, "not_authenticated"),
    ("nul-glued-scheme", lambda f: f"Bearer\x00{f.issuer.token()}", 401, "not_authenticated"),
    ("empty-header", lambda f: "", 401, "not_authenticated"),
    ("only-spaces", lambda f: "   ", 401, "not_authenticated"),
    ("bearer-tab-only", lambda f: "Bearer\t", 400, "invalid_request"),
    ("bearer-many-spaces", lambda f: "Bearer      ", 400, "invalid_request"),
    ("two-tokens", lambda f: f"Bearer {f.issuer.token()} {f.issuer.token()}", 400, "invalid_request"),
    ("token-then-junk", lambda f: f"Bearer {f.issuer.token()} {MARK}", 400, "invalid_request"),
    ("comma-duplicated", lambda f: f"Bearer {f.issuer.token()}, Bearer {f.issuer.token()}", 400, "invalid_request"),
    ("comma-no-space", lambda f: f"Bearer {f.issuer.token()},{f.issuer.token()}", 400, "invalid_request"),
    ("scheme-twice", lambda f: f"Bearer Bearer {f.issuer.token()}", 400, "invalid_request"),
    ("quoted-token", lambda f: f'Bearer "{f.issuer.token()}"', 400, "invalid_request"),
    ("auth-param-form", lambda f: f'Bearer token="{f.issuer.token()}"', 400, "invalid_request"),
    ("non-ascii-in-token", lambda f: f"Bearer {f.issuer.token()}\u00e9", 400, "invalid_request"),
    ("latin1-bytes", lambda f: "Bearer \u00c3\u00a9\u00c3\u00a8", 400, "invalid_request"),
    ("nbsp-separator", lambda f: f"Bearer\u00a0{f.issuer.token()}", 400, "invalid_request"),
    ("nbsp-after-space", lambda f: f"Bearer \u00a0{f.issuer.token()}", 400, "invalid_request"),
    ("newline-in-token", lambda f: f"Bearer {f.issuer.token()}\nX-Injected: 1", 400, "invalid_request"),
    ("crlf-after-token", lambda f: f"Bearer {f.issuer.token()}\r\n", 400, "invalid_request"),
    ("nul-in-token", lambda f: f"Bearer {f.issuer.token()}\x00", 400, "invalid_request"),
    ("semicolon", lambda f: f"Bearer {f.issuer.token()};", 400, "invalid_request"),
    ("equals-inside", lambda f: "Bearer abc=def", 400, "invalid_request"),
    ("html", lambda f: f"Bearer <script>{MARK}</script>", 400, "invalid_request"),
    ("b64token-but-not-jwt", lambda f: f"Bearer {MARK}", 401, "not_a_jwt"),
    ("standard-base64-chars", lambda f: "Bearer ab+/cd==", 401, "not_a_jwt"),
)


@pytest.mark.parametrize(("builder", "status", "code"), HEADER_FORMS)
def test_header_forms(attacker, forge, builder, status, code):
    run(attacker, forge, builder, status, code, raw=True)


def test_token_in_the_query_string_is_never_used(attacker, forge):
    token = forge.issuer.token()
    attacker.expect(
        None, status=401, code="not_authenticated", path=f"/api/private?access_token={token}", secrets=[token]
    )


def test_token_in_the_query_string_beside_a_header_is_invalid_request(attacker, forge):
    # RFC 6750 section 3.1: using more than one method to send the token is invalid_request.
    token = forge.issuer.token()
    attacker.expect(f"Bearer {token}", status=400, code="invalid_request", path=f"/api/private?access_token={token}")


def test_token_in_a_form_body_is_not_accepted(attacker, forge):
    token = forge.issuer.token(scope="write:messages")
    response = attacker.expect(
        None,
        status=401,
        code="not_authenticated",
        path="/api/messages/",
        method="post",
        data={"access_token": token, "text": "x"},
        format="multipart",
    )
    assert response.status_code == 401 and User.objects.count() == 0


def test_token_in_a_json_body_is_not_accepted(attacker, forge):
    token = forge.issuer.token(scope="write:messages")
    attacker.expect(
        None,
        status=401,
        code="not_authenticated",
        path="/api/messages/",
        method="post",
        data={"access_token": token, "text": "x"},
        format="json",
    )


def test_token_in_another_header_is_not_accepted(attacker, forge):
    token = forge.issuer.token()
    for header in ("HTTP_X_ACCESS_TOKEN", "HTTP_X_AUTHORIZATION", "HTTP_PROXY_AUTHORIZATION", "HTTP_COOKIE"):
        attacker.expect(None, status=401, code="not_authenticated", secrets=[token], **{header: f"Bearer {token}"})


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_every_method_rejects_a_bad_token(attacker, forge, method):
    forged = unsigned(forge.header(alg="none"), forge.payload(scope="write:messages read:messages"))
    attacker.expect(f"Bearer {forged}", code="unsupported_algorithm", path="/api/messages/", method=method)


def test_head_rejects_a_bad_token(attacker, forge):
    forged = unsigned(forge.header(alg="none"), forge.payload(scope="read:messages"))
    response = attacker.send(f"Bearer {forged}", path="/api/messages/", method="head")
    assert response.status_code == 401 and 'error="invalid_token"' in response["WWW-Authenticate"]


# --- structure ----------------------------------------------------------------------------

GOOD_SIG = "c2lnbmF0dXJl"

STRUCTURE = cases(
    ("one-segment", lambda f: as_segment(f.header()), 401, "not_a_jwt"),
    ("two-segments", lambda f: f.issuer.token().rsplit(".", 1)[0], 401, "not_a_jwt"),
    ("four-segments", lambda f: f.issuer.token() + ".AAAA", 401, "not_a_jwt"),
    ("six-segments", lambda f: f.issuer.token() + ".A.B.C", 401, "not_a_jwt"),
    ("leading-dot", lambda f: "." + f.issuer.token(), 401, "not_a_jwt"),
    ("only-dots", lambda f: "..", 401, "not_a_jwt"),
    ("empty-header-segment", lambda f: "." + ".".join(f.issuer.token().split(".")[1:]), 401, "not_a_jwt"),
    ("empty-payload-segment", lambda f: f"{as_segment(f.header())}..{GOOD_SIG}", 401, "not_a_jwt"),
    ("header-length-mod-4-is-1", lambda f: "A" + f.issuer.token(), 401, "not_a_jwt"),
    ("standard-alphabet-header", lambda f: "eyJ+/" + f.issuer.token()[5:], 401, "not_a_jwt"),
    ("padded-signature", lambda f: f.issuer.token() + "=", 401, "invalid_signature"),
    ("padded-payload", lambda f: _pad_segment(f.issuer.token(), 1), 400, "invalid_request"),
    ("header-not-json", lambda f: unsigned(f"{{{MARK}", f.payload(), GOOD_SIG), 401, "not_a_jwt"),
    ("header-is-array", lambda f: unsigned([f.header()], f.payload(), GOOD_SIG), 401, "not_a_jwt"),
    ("header-is-string", lambda f: unsigned('"RS256"', f.payload(), GOOD_SIG), 401, "not_a_jwt"),
    ("header-is-number", lambda f: unsigned("1", f.payload(), GOOD_SIG), 401, "not_a_jwt"),
    ("header-is-null", lambda f: unsigned("null", f.payload(), GOOD_SIG), 401, "not_a_jwt"),
    ("header-is-true", lambda f: unsigned("true", f.payload(), GOOD_SIG), 401, "not_a_jwt"),
    ("payload-is-array-signed", lambda f: f.signed(payload=[f.payload()]), 401, "not_a_jwt"),
    ("payload-is-string-signed", lambda f: f.signed(payload=json.dumps(json.dumps(f.payload()))), 401, "not_a_jwt"),
    ("payload-is-number-signed", lambda f: f.signed(payload="4102444800"), 401, "not_a_jwt"),
    ("payload-is-empty-signed", lambda f: f.signed(payload=""), 401, "not_a_jwt"),
    ("payload-trailing-garbage-signed", lambda f: f.signed(payload=json.dumps(f.payload()) + "x"), 401, "not_a_jwt"),
    ("payload-two-objects-signed", lambda f: f.signed(payload=json.dumps(f.payload()) * 2), 401, "not_a_jwt"),
    (
        "header-latin1",
        lambda f: unsigned(
            json.dumps(f.header(kid="k\u00e9"), ensure_ascii=False).encode("latin-1"), f.payload(), GOOD_SIG
        ),
        401,
        "not_a_jwt",
    ),
    (
        "header-invalid-utf8",
        lambda f: unsigned(b'{"alg":"RS256","x":"\xff\xfe"}', f.payload(), GOOD_SIG),
        401,
        "not_a_jwt",
    ),
    (
        "header-utf16-bom",
        lambda f: unsigned(json.dumps(f.header()).encode("utf-16"), f.payload(), GOOD_SIG),
        401,
        "not_a_jwt",
    ),
    (
        "header-utf16le",
        lambda f: unsigned(json.dumps(f.header()).encode("utf-16-le"), f.payload(), GOOD_SIG),
        401,
        "not_a_jwt",
    ),
    (
        "header-utf32",
        lambda f: unsigned(json.dumps(f.header()).encode("utf-32"), f.payload(), GOOD_SIG),
        401,
        "not_a_jwt",
    ),
    (
        "header-utf8-bom",
        lambda f: unsigned(b"\xef\xbb\xbf" + json.dumps(f.header()).encode(), f.payload(), GOOD_SIG),
        401,
        "not_a_jwt",
    ),
    ("payload-utf16-signed", lambda f: f.signed(payload=json.dumps(f.payload()).encode("utf-16")), 401, "not_a_jwt"),
    ("payload-cesu8-surrogates-signed", lambda f: f.signed(payload=b'{"sub":"\xed\xa0\x80"}'), 401, "not_a_jwt"),
    (
        "header-nested-arrays",
        lambda f: unsigned('{"alg":"RS256","x":' + "[" * 2000 + "]" * 2000 + "}", f.payload(), GOOD_SIG),
        401,
        "not_a_jwt",
    ),
    (
        "header-nested-objects",
        lambda f: unsigned('{"alg":"RS256","x":' + '{"a":' * 900 + "1" + "}" * 901, f.payload(), GOOD_SIG),
        401,
        "not_a_jwt",
    ),
    (
        "payload-nested-arrays-signed",
        lambda f: f.signed(payload='{"x":' + "[" * 2000 + "]" * 2000 + "}"),
        401,
        "not_a_jwt",
    ),
    (
        "payload-nested-200-signed",
        lambda f: f.signed(payload=json.dumps({**f.payload(), "x": _nested(200)})),
        401,
        "not_a_jwt",
    ),
    ("header-nan", lambda f: unsigned('{"alg":"RS256","kid":NaN}', f.payload(), GOOD_SIG), 401, "not_a_jwt"),
    ("header-infinity", lambda f: unsigned('{"alg":"RS256","x":Infinity}', f.payload(), GOOD_SIG), 401, "not_a_jwt"),
    (
        "payload-exp-nan-signed",
        lambda f: f.signed(
            payload=json.dumps(f.payload(exp=0)).replace('"exp":0', '"exp":NaN').replace('"exp": 0', '"exp": NaN')
        ),
        401,
        "not_a_jwt",
    ),
    (
        "payload-exp-infinity-signed",
        lambda f: f.signed(payload=json.dumps(f.payload(exp=0)).replace('"exp": 0', '"exp": Infinity')),
        401,
        "not_a_jwt",
    ),
    (
        "payload-exp-minus-infinity-signed",
        lambda f: f.signed(payload=json.dumps(f.payload(exp=0)).replace('"exp": 0', '"exp": -Infinity')),
        401,
        "not_a_jwt",
    ),
    (
        "header-duplicate-alg",
        lambda f: unsigned('{"alg":"none","alg":"RS256"}', f.payload(), GOOD_SIG),
        401,
        "not_a_jwt",
    ),
    (
        "header-duplicate-kid-signed",
        lambda f: f.signed(header=f'{{"alg":"RS256","kid":"{f.key.kid}","kid":"other"}}'),
        401,
        "not_a_jwt",
    ),
    (
        "payload-duplicate-sub-signed",
        lambda f: f.signed(payload=json.dumps(f.payload())[:-1] + ', "sub": "admin"}'),
        401,
        "not_a_jwt",
    ),
    (
        "payload-duplicate-aud-signed",
        lambda f: f.signed(payload=json.dumps(f.payload())[:-1] + ', "aud": "https://other/"}'),
        401,
        "not_a_jwt",
    ),
    (
        "payload-duplicate-escaped-name",
        lambda f: f.signed(payload=json.dumps(f.payload())[:-1] + ', "s\\u0075b": "admin"}'),
        401,
        "not_a_jwt",
    ),
    ("huge-token", lambda f: f.issuer.token(claims={"pad": "x" * 20000}), 401, "token_too_large"),
    ("huge-garbage", lambda f: "A" * 100_000, 401, "token_too_large"),
    (
        "huge-number-in-payload-signed",
        lambda f: f.signed(payload=json.dumps(f.payload())[:-1] + ', "n": ' + "9" * 5000 + "}"),
        401,
        "not_a_jwt",
    ),
)


def _pad_segment(token: str, index: int) -> str:
    parts = token.split(".")
    parts[index] += "=" * (-len(parts[index]) % 4 or 2)
    return ".".join(parts)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(("builder", "status", "code"), STRUCTURE)
def test_structure(attacker, forge, builder, status, code):
    run(attacker, forge, builder, status, code)


def test_number_literals_json_accepts_are_still_checked(attacker, forge, settings):
    settings.AUTH0_DRF = forge.issuer.settings(MAX_TOKEN_LENGTH=100_000)
    for exp in ("9" * 400, "-" + "9" * 400, "1" + "0" * 4000):  # integers too large for a float
        payload = json.dumps(forge.payload(exp=0)).replace('"exp": 0', f'"exp": {exp}')
        attacker.bearer(forge.signed(payload=payload), code="invalid_claim")
    for literal in ("1e400", "-1e400", "1" + "0" * 400 + ".0"):  # floats that overflow to infinity
        for claim in ("exp", "https://app.example/n"):
            payload = json.dumps(forge.payload(**{claim: 0})).replace(f'"{claim}": 0', f'"{claim}": {literal}')
            attacker.bearer(forge.signed(payload=payload), code="not_a_jwt", path="/api/claims")


def test_deep_nesting_beyond_the_default_cap_is_refused(attacker, forge, settings):
    settings.AUTH0_DRF = forge.issuer.settings(MAX_TOKEN_LENGTH=2_000_000)
    deep = '{"alg":"RS256","x":' + "[" * 200_000 + "]" * 200_000 + "}"
    attacker.bearer(unsigned(deep, forge.payload(), GOOD_SIG), code="not_a_jwt")
    attacker.bearer(forge.signed(payload='{"x":' + '{"a":' * 100_000 + "1" + "}" * 100_001), code="not_a_jwt")


def test_moderate_nesting_a_client_might_use_is_accepted(attacker, forge):
    token = forge.signed(payload={**forge.payload(), "https://app.example/state": _nested(20)})
    assert attacker.send(f"Bearer {token}", path="/api/claims").status_code == 200


def test_escaped_surrogate_pairs_are_ordinary_characters(attacker, forge):
    payload = json.dumps(forge.payload(note="X")).replace('"note": "X"', '"note": "\\ud83d\\ude00"')
    response = attacker.send(f"Bearer {forge.signed(payload=payload)}", path="/api/claims")
    assert response.status_code == 200 and response.json()["claims"]["note"] == "\U0001f600"


# --- algorithms (RFC 8725 sections 2.1, 3.1, 3.2) --------------------------------------------

NONE_SPELLINGS = ["none", "None", "NONE", "nOnE", "none ", " none", "none\u0000", "", "null", "nonE"]


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
@pytest.mark.parametrize("signature", ["", "stolen", "AAAA"])
def test_alg_none_in_every_spelling(attacker, forge, alg, signature):
    if signature == "stolen":
        signature = forge.issuer.token().split(".")[2]
    token = unsigned(forge.header(alg=alg), forge.payload(scope="read:messages"), signature)
    attacker.bearer(token, code="unsupported_algorithm", path="/api/private-scoped")


def _public_key_encodings(issuer: LocalIssuer) -> dict[str, bytes]:
    public = issuer.signing_key.public_key
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    jwk = issuer.signing_key.public_jwk()
    return {
        "pem": pem,
        "pem-no-newline": pem.rstrip(b"\n"),
        "pem-crlf": pem.replace(b"\n", b"\r\n"),
        "pkcs1-pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        "der": public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "pkcs1-der": public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1),
        "openssh": public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-compact": json.dumps(jwk, separators=(",", ":")).encode(),
        "jwk-sorted": json.dumps(jwk, sort_keys=True).encode(),
        "jwks-text": json.dumps(issuer.jwks()).encode(),
        "modulus": public.public_numbers().n.to_bytes(256, "big"),
        "modulus-b64": jwk["n"].encode(),
    }


ENCODINGS = [
    "pem",
    "pem-no-newline",
    "pem-crlf",
    "pkcs1-pem",
    "der",
    "pkcs1-der",
    "openssh",
    "jwk-json",
    "jwk-compact",
    "jwk-sorted",
    "jwks-text",
    "modulus",
    "modulus-b64",
]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize(
    "configured", [["RS256"], ["RS256", "HS256", "HS384", "HS512"]], ids=["rs-only", "hs-configured"]
)
def test_rs_hs_confusion_with_the_public_key_in_every_encoding(attacker, forge, settings, encoding, alg, configured):
    # Even when someone lists HS* in ALGORITHMS (system check E006 flags it), the verifier drops it.
    settings.AUTH0_DRF = forge.issuer.settings(ALGORITHMS=configured)
    secret = _public_key_encodings(forge.issuer)[encoding]
    attacker.bearer(forge.hmac(secret, alg), code="unsupported_algorithm")
    attacker.bearer(forge.hmac(secret, alg, kid=DROP), code="unsupported_algorithm")


@pytest.mark.parametrize("secret", [b"", b"secret", b"a", b"\x00" * 32, b"your-256-bit-secret"])
def test_weak_and_empty_hmac_secrets(attacker, forge, secret):
    attacker.bearer(forge.hmac(secret, "HS256"), code="unsupported_algorithm")


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS384", "PS512"])
def test_rsa_algorithms_outside_the_allow_list(attacker, forge, alg):
    attacker.bearer(forge.signed(header=forge.header(alg=alg), alg=alg), code="unsupported_algorithm")


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "EdDSA"])
def test_other_key_types_outside_the_allow_list(attacker, forge, alg):
    key = LocalKey.generate(alg)
    forge.issuer.keys = forge.issuer.keys + [key]
    attacker.bearer(forge.signed(header=forge.header(alg=alg, kid=key.kid), key=key), code="unsupported_algorithm")


def test_jwks_key_whose_alg_differs_from_the_header_is_not_used(attacker, forge, settings):
    settings.AUTH0_DRF = forge.issuer.settings(ALGORITHMS=["RS256", "RS512"])
    # The published key says alg RS256: an RS512 signature by the very same key is refused.
    attacker.bearer(forge.signed(header=forge.header(alg="RS512"), alg="RS512"), code="unknown_key")
    attacker.bearer(forge.signed(header=forge.header(alg="PS256"), alg="PS256"), code="unsupported_algorithm")


@pytest.mark.parametrize(
    "alg",
    [
        256,
        0,
        1.5,
        True,
        False,
        None,
        ["RS256"],
        {"RS256": True},
        "rs256",
        "Rs256",
        "RS256 ",
        " RS256",
        "RS256\u0000",
        "RS 256",
        "RS-256",
        "RSA256",
        "RS2560",
        "R\u0405256",
        "RS\uff12\uff15\uff16",
    ],
)
def test_alg_of_the_wrong_type_or_case(attacker, forge, alg):
    attacker.bearer(forge.signed(header=forge.header(alg=alg)), code="unsupported_algorithm")


def test_missing_alg(attacker, forge):
    attacker.bearer(forge.signed(header=forge.header(alg=DROP)), code="unsupported_algorithm")


SIGNATURES = cases(
    ("stripped", lambda f: f.issuer.token().rsplit(".", 1)[0] + ".", 401, "invalid_signature"),
    ("truncated-one-char", lambda f: f.issuer.token()[:-1], 401, "invalid_signature"),
    ("truncated-two-chars", lambda f: f.issuer.token()[:-2], 401, "invalid_signature"),
    ("truncated-half", lambda f: _cut_signature(f.issuer.token(), 0.5), 401, "invalid_signature"),
    ("one-byte", lambda f: f.issuer.token().rsplit(".", 1)[0] + ".AA", 401, "invalid_signature"),
    ("doubled", lambda f: f.issuer.token() + f.issuer.token().rsplit(".", 1)[1], 401, "invalid_signature"),
    ("zeros", lambda f: f.issuer.token().rsplit(".", 1)[0] + "." + b64(b"\x00" * 256), 401, "invalid_signature"),
    ("ones", lambda f: f.issuer.token().rsplit(".", 1)[0] + "." + b64(b"\xff" * 256), 401, "invalid_signature"),
    (
        "from-another-token",
        lambda f: _swap_signature(f.issuer.token(sub="auth0|admin"), f.issuer.token(sub="auth0|guest")),
        401,
        "invalid_signature",
    ),
    (
        "from-another-key-same-kid",
        lambda f: f.signed(key=LocalKey(_spare_key().private_key, kid=f.key.kid)),
        401,
        "invalid_signature",
    ),
    ("non-canonical-base64", lambda f: _noncanonical_signature(f.issuer.token()), 401, "invalid_signature"),
    (
        "signature-of-header-only",
        lambda f: _swap_signature(f.issuer.token(), f.signed(payload="")),
        401,
        "invalid_signature",
    ),
)


def _cut_signature(token: str, fraction: float) -> str:
    head, signature = token.rsplit(".", 1)
    return head + "." + signature[: int(len(signature) * fraction)]


def _swap_signature(token: str, donor: str) -> str:
    return token.rsplit(".", 1)[0] + "." + donor.rsplit(".", 1)[1]


def _noncanonical_signature(token: str) -> str:
    # 256 signature bytes take 342 characters; the last one carries 4 unused bits. Setting one
    # of them decodes to the same bytes: the token text differs from what the issuer signed.
    head, signature = token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    return head + "." + signature[:-1] + alphabet[last ^ 1]


_SPARE: list[LocalKey] = []


def _spare_key() -> LocalKey:
    if not _SPARE:
        _SPARE.append(LocalKey.generate())
    return _SPARE[0]


@pytest.mark.parametrize(("builder", "status", "code"), SIGNATURES)
def test_signatures(attacker, forge, builder, status, code):
    run(attacker, forge, builder, status, code)


def test_signature_by_another_published_key_under_this_kid(attacker, forge):
    other = LocalKey.generate()
    forge.issuer.keys = forge.issuer.keys + [other]
    attacker.bearer(forge.signed(key=LocalKey(other.private_key, kid=forge.key.kid)), code="invalid_signature")


@pytest.fixture
def es_forge(settings) -> Any:
    with LocalIssuer(alg="ES256") as issuer:
        settings.AUTH0_DRF = issuer.settings()
        yield Forge(issuer)


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.mark.parametrize(
    "signature",
    [
        b"\x00" * 64,
        b"\x00" * 32 + P256_ORDER.to_bytes(32, "big"),
        P256_ORDER.to_bytes(32, "big") * 2,
        P256_ORDER.to_bytes(32, "big") + b"\x00" * 32,
        b"\x00" * 31 + b"\x01" + b"\x00" * 32,
        bytes.fromhex("3006020100020100"),  # a DER-encoded (0, 0)
        b"\x00" * 63,
        b"\x00" * 65,
        b"\x00" * 96,
        b"",
        b"\x00",
    ],
    ids=["zero", "0-n", "n-n", "n-0", "1-0", "der-zero", "63-bytes", "65-bytes", "96-bytes", "empty", "one-byte"],
)
def test_ecdsa_psychic_signatures(attacker, es_forge, signature):
    head = es_forge.issuer.token(scope="read:messages").rsplit(".", 1)[0]
    code = "invalid_signature"
    attacker.bearer(f"{head}.{b64(signature)}", code=code, path="/api/private-scoped")


def test_ecdsa_issuer_accepts_its_genuine_tokens(es_forge, attacker):
    assert attacker.send(f"Bearer {es_forge.issuer.token()}").status_code == 200


def test_ecdsa_signature_in_der_instead_of_raw_is_refused(attacker, es_forge):
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    head, signature = es_forge.issuer.token().rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    attacker.bearer(f"{head}.{b64(der)}", code="invalid_signature")


# --- key selection -------------------------------------------------------------------------


@pytest.mark.parametrize("kid", [1, 0, 1.5, True, False, None, [], ["kid"], {}, {"kid": "x"}, ""])
def test_kid_of_the_wrong_type(attacker, forge, kid):
    attacker.bearer(forge.signed(header=forge.header(kid=kid)), code="invalid_header")


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/dev/null",
        "file:///etc/passwd",
        "http://127.0.0.1:1/",
        "' OR '1'='1",
        "1; DROP TABLE auth0_drf_auth0identity; --",
        "$(touch /tmp/pwned)",
        "`id`",
        "| id",
        "%00",
        "kid\u0000",
        "kid\r\nX-Injected: 1",
        "<script>alert(1)</script>",
        "{{7*7}}",
        "${jndi:ldap://127.0.0.1/a}",
        "\u202ekid",
        "\ud800",
    ],
)
def test_hostile_kid_strings_are_unknown_keys(attacker, forge, kid):
    token = forge.signed(header=forge.header(kid=f"{MARK}{kid}"))
    attacker.bearer(token, code=None, secrets=[MARK] + ([kid] if len(kid) > 6 else []))
    assert forge.issuer.jwks_hits() <= 2  # the first fetch, then at most one refetch per cooldown


@pytest.mark.parametrize("length", [257, 5000])
def test_huge_kid(attacker, forge, settings, length):
    settings.AUTH0_DRF = forge.issuer.settings(MAX_TOKEN_LENGTH=100_000)
    attacker.bearer(forge.signed(header=forge.header(kid=MARK + "k" * length)), code="invalid_header")
    assert forge.issuer.jwks_hits() == 0


def test_no_kid_is_refused_when_required(attacker, forge, settings):
    settings.AUTH0_DRF = forge.issuer.settings(REQUIRE_KID=True)
    attacker.bearer(forge.signed(header=forge.header(kid=DROP)), code="unknown_key")


def test_no_kid_is_refused_when_two_keys_could_fit(attacker, forge):
    forge.issuer.keys = forge.issuer.keys + [LocalKey.generate()]
    attacker.bearer(forge.signed(header=forge.header(kid=DROP)), code="unknown_key")


def _self_signed_certificate(key: LocalKey) -> bytes:
    return self_signed_certificate(key.private_key, "attacker").public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("kid_choice", ["attacker-kid", "issuer-kid", "no-kid"])
@pytest.mark.parametrize("parameter", ["jwk", "jku", "x5u", "x5c", "all"])
def test_embedded_and_remote_keys_are_never_used_or_fetched(attacker, forge, kid_choice, parameter):
    intruder = LocalKey.generate()
    with LoopbackServer() as bait:
        bait.routes["/jwks"] = json_response({"keys": [intruder.public_jwk()]})
        bait.routes["/cert"] = (200, {"Content-Type": "application/pkix-cert"}, _self_signed_certificate(intruder))
        parameters = {
            "jwk": intruder.public_jwk(),
            "jku": bait.url + "/jwks",
            "x5u": bait.url + "/cert",
            "x5c": [base64.b64encode(_self_signed_certificate(intruder)).decode()],
        }
        chosen = parameters if parameter == "all" else {parameter: parameters[parameter]}
        kid = {"attacker-kid": intruder.kid, "issuer-kid": forge.key.kid, "no-kid": DROP}[kid_choice]
        token = forge.signed(header=forge.header(kid=kid, **chosen), key=intruder)
        code = "unknown_key" if kid_choice == "attacker-kid" else "invalid_signature"
        attacker.bearer(token, code=code)
        time.sleep(0.05)  # a fetch started in the background would have arrived by now
        assert bait.hits() == 0


def test_symmetric_oct_key_in_the_jwks_is_never_used(attacker, forge, settings):
    secret = b"published-hmac-secret-32-bytes!!"
    forge.issuer.extra_jwks = [{"kty": "oct", "k": b64(secret), "kid": "hmac", "alg": "HS256", "use": "sig"}]
    for configured in (["RS256"], ["RS256", "HS256"]):
        settings.AUTH0_DRF = forge.issuer.settings(ALGORITHMS=configured)
        attacker.bearer(forge.hmac(secret, "HS256", kid="hmac"), code="unsupported_algorithm")
        attacker.bearer(forge.signed(header=forge.header(kid="hmac")), code="unknown_key")


@pytest.mark.parametrize(
    "jwk_overrides",
    [
        {"use": "enc"},
        {"use": "ENC"},
        {"use": ""},
        {"use": 1},
        {"key_ops": ["encrypt"]},
        {"key_ops": "verify"},
        {"alg": "RSA-OAEP"},
        {"alg": "HS256"},
        {"alg": 256},
        {"kid": 7},
    ],
    ids=[
        "use-enc",
        "use-ENC",
        "use-empty",
        "use-int",
        "key-ops-encrypt",
        "key-ops-string",
        "alg-oaep",
        "alg-hs256",
        "alg-int",
        "kid-int",
    ],
)
def test_keys_not_meant_for_signatures_are_ignored(attacker, forge, jwk_overrides):
    other = LocalKey.generate(kid="other-key")
    forge.issuer.extra_jwks = [other.public_jwk(**jwk_overrides)]
    attacker.bearer(forge.signed(header=forge.header(kid="other-key"), key=other), code="unknown_key")


@pytest.mark.parametrize("bits", [1024, 2047])
def test_short_rsa_keys_in_the_jwks_are_ignored(attacker, forge, bits):
    weak = LocalKey.generate(bits=bits, kid=f"weak-{bits}")
    forge.issuer.extra_jwks = [weak.public_jwk()]
    attacker.bearer(forge.signed(header=forge.header(kid=weak.kid), key=weak), code="unknown_key")


# --- header parameters (RFC 7515 section 4.1, RFC 7797, RFC 8725 section 3.11) ----------------

HEADER_PARAMETERS = cases(
    ("crit-exp", lambda f: f.signed(header=f.header(crit=["exp"], exp=1)), 401, "invalid_header"),
    ("crit-empty-list", lambda f: f.signed(header=f.header(crit=[])), 401, "invalid_header"),
    ("crit-string", lambda f: f.signed(header=f.header(crit="b64")), 401, "invalid_header"),
    ("crit-null", lambda f: f.signed(header=f.header(crit=None)), 401, "invalid_header"),
    ("crit-object", lambda f: f.signed(header=f.header(crit={"b64": False})), 401, "invalid_header"),
    ("crit-non-string", lambda f: f.signed(header=f.header(crit=[1])), 401, "invalid_header"),
    (
        "crit-unknown",
        lambda f: f.signed(header=f.header(crit=["http://example.com/x"], **{"http://example.com/x": 1})),
        401,
        "invalid_header",
    ),
    ("crit-b64", lambda f: f.signed(header=f.header(crit=["b64"], b64=False)), 401, "invalid_header"),
    ("crit-listing-absent-param", lambda f: f.signed(header=f.header(crit=["nope"])), 401, "invalid_header"),
    ("crit-standard-alg", lambda f: f.signed(header=f.header(crit=["alg"])), 401, "invalid_header"),
    ("b64-false", lambda f: f.signed(header=f.header(b64=False)), 401, "invalid_header"),
    ("b64-true", lambda f: f.signed(header=f.header(b64=True)), 401, "invalid_header"),
    ("zip-def", lambda f: f.signed(header=f.header(zip="DEF")), 401, "invalid_header"),
    ("zip-null", lambda f: f.signed(header=f.header(zip=None)), 401, "invalid_header"),
    ("cty-JWT", lambda f: f.signed(header=f.header(cty="JWT")), 401, "invalid_header"),
    ("cty-jwt", lambda f: f.signed(header=f.header(cty="jwt")), 401, "invalid_header"),
    ("cty-application-jwt", lambda f: f.signed(header=f.header(cty="application/JWT")), 401, "invalid_header"),
    ("cty-number", lambda f: f.signed(header=f.header(cty=1)), 401, "invalid_header"),
    ("cty-null", lambda f: f.signed(header=f.header(cty=None)), 401, "invalid_header"),
    (
        "cty-nested-payload",
        lambda f: f.signed(header=f.header(cty="JWT"), payload=f.issuer.token()),
        401,
        "invalid_header",
    ),
    ("enc-on-jws", lambda f: f.signed(header=f.header(enc="A256GCM")), 401, "not_a_jwt"),
    ("enc-null", lambda f: f.signed(header=f.header(enc=None)), 401, "not_a_jwt"),
)


@pytest.mark.parametrize(("builder", "status", "code"), HEADER_PARAMETERS)
def test_header_parameters(attacker, forge, builder, status, code):
    run(attacker, forge, builder, status, code)


# --- claims (RFC 7519 section 4.1, RFC 9068 section 4) ------------------------------------------


def now() -> int:
    return int(time.time())


CLAIMS = cases(
    ("exp-missing", lambda f: f.signed(payload=f.payload(exp=DROP)), 401, "missing_claim"),
    ("exp-null", lambda f: f.signed(payload=f.payload(exp=None)), 401, "invalid_claim"),
    ("exp-past", lambda f: f.signed(payload=f.payload(exp=now() - 3600)), 401, "token_expired"),
    ("exp-zero", lambda f: f.signed(payload=f.payload(exp=0)), 401, "token_expired"),
    ("exp-negative", lambda f: f.signed(payload=f.payload(exp=-1)), 401, "token_expired"),
    ("exp-string", lambda f: f.signed(payload=f.payload(exp=str(now() + 3600))), 401, "invalid_claim"),
    ("exp-iso-date", lambda f: f.signed(payload=f.payload(exp="2100-01-01T00:00:00Z")), 401, "invalid_claim"),
    ("exp-object", lambda f: f.signed(payload=f.payload(exp={"$gt": 0})), 401, "invalid_claim"),
    ("exp-huge-int", lambda f: f.signed(payload=f.payload(exp=10**400)), 401, "invalid_claim"),
    ("exp-huge-negative-int", lambda f: f.signed(payload=f.payload(exp=-(10**400))), 401, "invalid_claim"),
    (
        "exp-milliseconds-past",
        lambda f: f.signed(payload=f.payload(exp=(now() - 3600) * 1000 // 10**6)),
        401,
        "token_expired",
    ),
    ("nbf-future", lambda f: f.signed(payload=f.payload(nbf=now() + 3600)), 401, "token_not_yet_valid"),
    ("nbf-string", lambda f: f.signed(payload=f.payload(nbf="0")), 401, "invalid_claim"),
    ("nbf-bool", lambda f: f.signed(payload=f.payload(nbf=False)), 401, "invalid_claim"),
    ("nbf-list", lambda f: f.signed(payload=f.payload(nbf=[0])), 401, "invalid_claim"),
    ("nbf-huge-int", lambda f: f.signed(payload=f.payload(nbf=10**400)), 401, "invalid_claim"),
    ("nbf-null", lambda f: f.signed(payload=f.payload(nbf=None)), 401, "invalid_claim"),
    ("iat-future", lambda f: f.signed(payload=f.payload(iat=now() + 3600)), 401, "token_not_yet_valid"),
    ("iat-far-future", lambda f: f.signed(payload=f.payload(iat=4102444800)), 401, "token_not_yet_valid"),
    ("iat-string", lambda f: f.signed(payload=f.payload(iat="now")), 401, "invalid_claim"),
    ("iat-huge-int", lambda f: f.signed(payload=f.payload(iat=-(10**400))), 401, "invalid_claim"),
    ("iat-null", lambda f: f.signed(payload=f.payload(iat=None)), 401, "invalid_claim"),
    ("iat-object", lambda f: f.signed(payload=f.payload(iat={"$gt": 0})), 401, "invalid_claim"),
    ("iss-missing", lambda f: f.signed(payload=f.payload(iss=DROP)), 401, "missing_claim"),
    ("iss-null", lambda f: f.signed(payload=f.payload(iss=None)), 401, "missing_claim"),
    (
        "iss-no-trailing-slash",
        lambda f: f.signed(payload=f.payload(iss=f.issuer.issuer.rstrip("/"))),
        401,
        "invalid_issuer",
    ),
    ("iss-double-slash", lambda f: f.signed(payload=f.payload(iss=f.issuer.issuer + "/")), 401, "invalid_issuer"),
    ("iss-upper-case", lambda f: f.signed(payload=f.payload(iss=f.issuer.issuer.upper())), 401, "invalid_issuer"),
    (
        "iss-https",
        lambda f: f.signed(payload=f.payload(iss=f.issuer.issuer.replace("http:", "https:"))),
        401,
        "invalid_issuer",
    ),
    ("iss-suffix", lambda f: f.signed(payload=f.payload(iss=f.issuer.issuer + MARK)), 401, "invalid_issuer"),
    ("iss-prefix", lambda f: f.signed(payload=f.payload(iss=MARK + f.issuer.issuer)), 401, "invalid_issuer"),
    ("iss-space", lambda f: f.signed(payload=f.payload(iss=f.issuer.issuer + " ")), 401, "invalid_issuer"),
    ("iss-nul", lambda f: f.signed(payload=f.payload(iss=f.issuer.issuer + "\u0000")), 401, "invalid_issuer"),
    ("iss-path", lambda f: f.signed(payload=f.payload(iss=f.issuer.issuer + "..")), 401, "invalid_issuer"),
    (
        "iss-userinfo",
        lambda f: f.signed(payload=f.payload(iss=f.issuer.issuer.replace("//", "//user@"))),
        401,
        "invalid_issuer",
    ),
    ("iss-list", lambda f: f.signed(payload=f.payload(iss=[f.issuer.issuer])), 401, "invalid_issuer"),
    ("iss-object", lambda f: f.signed(payload=f.payload(iss={"url": f.issuer.issuer})), 401, "invalid_issuer"),
    ("iss-number", lambda f: f.signed(payload=f.payload(iss=1)), 401, "invalid_issuer"),
    ("iss-empty", lambda f: f.signed(payload=f.payload(iss="")), 401, "invalid_issuer"),
    ("aud-missing", lambda f: f.signed(payload=f.payload(aud=DROP)), 401, "missing_claim"),
    ("aud-null", lambda f: f.signed(payload=f.payload(aud=None)), 401, "missing_claim"),
    ("aud-empty-string", lambda f: f.signed(payload=f.payload(aud="")), 401, "invalid_audience"),
    ("aud-empty-list", lambda f: f.signed(payload=f.payload(aud=[])), 401, "invalid_claim"),
    ("aud-list-of-empty", lambda f: f.signed(payload=f.payload(aud=[""])), 401, "invalid_audience"),
    ("aud-number", lambda f: f.signed(payload=f.payload(aud=1)), 401, "invalid_claim"),
    ("aud-object", lambda f: f.signed(payload=f.payload(aud={"aud": f.issuer.audience})), 401, "invalid_claim"),
    ("aud-bool", lambda f: f.signed(payload=f.payload(aud=True)), 401, "invalid_claim"),
    ("aud-nested-list", lambda f: f.signed(payload=f.payload(aud=[[f.issuer.audience]])), 401, "invalid_claim"),
    ("aud-list-with-number", lambda f: f.signed(payload=f.payload(aud=[f.issuer.audience, 1])), 401, "invalid_claim"),
    (
        "aud-no-trailing-slash",
        lambda f: f.signed(payload=f.payload(aud=f.issuer.audience.rstrip("/"))),
        401,
        "invalid_audience",
    ),
    ("aud-extra-slash", lambda f: f.signed(payload=f.payload(aud=f.issuer.audience + "/")), 401, "invalid_audience"),
    ("aud-upper-case", lambda f: f.signed(payload=f.payload(aud=f.issuer.audience.upper())), 401, "invalid_audience"),
    ("aud-suffix", lambda f: f.signed(payload=f.payload(aud=f.issuer.audience + ".evil")), 401, "invalid_audience"),
    ("aud-prefix", lambda f: f.signed(payload=f.payload(aud="x" + f.issuer.audience)), 401, "invalid_audience"),
    ("aud-substring", lambda f: f.signed(payload=f.payload(aud=f.issuer.audience[:-3])), 401, "invalid_audience"),
    ("aud-whitespace", lambda f: f.signed(payload=f.payload(aud=" " + f.issuer.audience)), 401, "invalid_audience"),
    ("aud-wildcard", lambda f: f.signed(payload=f.payload(aud="*")), 401, "invalid_audience"),
    (
        "aud-space-joined",
        lambda f: f.signed(payload=f.payload(aud=f"{f.issuer.audience} other")),
        401,
        "invalid_audience",
    ),
    (
        "aud-fullwidth",
        lambda f: f.signed(payload=f.payload(aud=f.issuer.audience.replace("api", "\uff41\uff50\uff49"))),
        401,
        "invalid_audience",
    ),
    ("sub-missing", lambda f: f.signed(payload=f.payload(sub=DROP)), 401, "missing_claim"),
    ("sub-null", lambda f: f.signed(payload=f.payload(sub=None)), 401, "missing_claim"),
    ("sub-empty", lambda f: f.signed(payload=f.payload(sub="")), 401, "invalid_claim"),
    ("sub-blank", lambda f: f.signed(payload=f.payload(sub="   ")), 401, "invalid_claim"),
    ("sub-too-long", lambda f: f.signed(payload=f.payload(sub="auth0|" + "a" * 250)), 401, "invalid_claim"),
    ("sub-number", lambda f: f.signed(payload=f.payload(sub=1)), 401, "invalid_claim"),
    ("sub-bool", lambda f: f.signed(payload=f.payload(sub=True)), 401, "invalid_claim"),
    ("sub-list", lambda f: f.signed(payload=f.payload(sub=["auth0|a"])), 401, "invalid_claim"),
    ("sub-object", lambda f: f.signed(payload=f.payload(sub={"id": "auth0|a"})), 401, "invalid_claim"),
    ("sub-nul", lambda f: f.signed(payload=f.payload(sub="auth0|\u0000")), 401, "invalid_claim"),
    ("sub-newline", lambda f: f.signed(payload=f.payload(sub="auth0|a\nINFO forged log line")), 401, "invalid_claim"),
    ("sub-del", lambda f: f.signed(payload=f.payload(sub="auth0|\u007f")), 401, "invalid_claim"),
    (
        "sub-lone-surrogate",
        lambda f: f.signed(payload=json.dumps(f.payload(sub="X")).replace('"sub": "X"', '"sub": "auth0|\\ud800"')),
        401,
        "not_a_jwt",
    ),
    (
        "claim-lone-surrogate",
        lambda f: f.signed(payload=json.dumps(f.payload(note="X")).replace('"note": "X"', '"note": "\\udfff"')),
        401,
        "not_a_jwt",
    ),
    ("max-age-without-iat", lambda f: f.signed(payload=f.payload(iat=DROP)), 401, None),
)


@pytest.mark.parametrize(("builder", "status", "code"), CLAIMS)
def test_claims(attacker, forge, settings, builder, status, code):
    if code is None:  # the MAX_TOKEN_AGE case
        settings.AUTH0_DRF = forge.issuer.settings(MAX_TOKEN_AGE=3600)
        code = "missing_claim"
    run(attacker, forge, builder, status, code, path="/api/claims")
    assert Auth0Identity.objects.count() == 0


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [None, MARK, {"when": MARK}])
def test_a_time_claim_that_is_present_must_be_a_number_and_the_message_names_it(
    attacker, forge, settings, claim, value
):
    # With MAX_TOKEN_AGE too: a null iat must not read as a missing one there either.
    settings.AUTH0_DRF = forge.issuer.settings(MAX_TOKEN_AGE=3600)
    response = attacker.bearer(
        forge.signed(payload=forge.payload(**{claim: value})), code="invalid_claim", secrets=[MARK]
    )
    assert response.json()["detail"] == f"The access token's '{claim}' claim is not a number."


def test_unknown_issuers_cause_no_fetch_at_all(attacker, forge):
    for iss in (forge.issuer.issuer.rstrip("/"), "https://evil.example/", forge.issuer.issuer.upper()):
        attacker.bearer(forge.signed(payload=forge.payload(iss=iss)), code="invalid_issuer")
    assert forge.issuer.jwks_hits() == 0


@pytest.mark.parametrize("offset", [-3, 0, 3])
def test_leeway_boundary_on_exp_nbf_and_iat(attacker, forge, settings, offset):
    # With LEEWAY = 30, a margin of 5 s either side of the boundary keeps the test clock-proof.
    settings.AUTH0_DRF = forge.issuer.settings(LEEWAY=30)
    inside, outside = 30 - 5 + offset, 30 + 5 + offset
    ok = [
        forge.signed(payload=forge.payload(exp=now() - inside)),
        forge.signed(payload=forge.payload(nbf=now() + inside)),
        forge.signed(payload=forge.payload(iat=now() + inside)),
    ]
    for token in ok:
        assert attacker.send(f"Bearer {token}").status_code == 200
    attacker.bearer(forge.signed(payload=forge.payload(exp=now() - outside)), code="token_expired")
    attacker.bearer(forge.signed(payload=forge.payload(nbf=now() + outside)), code="token_not_yet_valid")
    attacker.bearer(forge.signed(payload=forge.payload(iat=now() + outside)), code="token_not_yet_valid")


def test_leeway_zero_rejects_a_token_expiring_now(attacker, forge, settings):
    settings.AUTH0_DRF = forge.issuer.settings(LEEWAY=0)
    attacker.bearer(forge.signed(payload=forge.payload(exp=now())), code="token_expired")


def test_max_token_age(attacker, forge, settings):
    settings.AUTH0_DRF = forge.issuer.settings(MAX_TOKEN_AGE=600)
    attacker.bearer(forge.signed(payload=forge.payload(iat=now() - 700)), code="token_too_old")
    assert attacker.send(f"Bearer {forge.signed(payload=forge.payload(iat=now() - 500))}").status_code == 200


@pytest.mark.parametrize(
    "lookalike",
    [
        "\uff41\uff44\uff4d\uff49\uff4e",
        "Admin",
        "ADMIN",
        "admin\u200b",
        "\u0430dmin",
        "admin ",
        " admin",
        "adm\u0131n",
        "a\u0064min\u0301",
    ],
    ids=[
        "fullwidth",
        "title",
        "upper",
        "zero-width",
        "cyrillic-a",
        "trailing-space",
        "leading-space",
        "dotless-i",
        "combining",
    ],
)
def test_lookalike_subjects_never_become_an_existing_user(attacker, forge, lookalike):
    admin = User.objects.create_superuser("admin", "admin@example.com", "pw")
    token = forge.signed(payload=forge.payload(sub=lookalike))
    response = attacker.send(f"Bearer {token}", path="/api/claims")
    assert response.status_code == 200
    user = response.json()["user"]
    assert user["id"] != admin.pk and user["username"] != "admin"
    assert User.objects.get(pk=user["id"]).is_superuser is False


def test_fullwidth_lookalike_of_an_auth0_subject_is_another_user(attacker, forge):
    first = attacker.send(f"Bearer {forge.issuer.token(sub='auth0|alice')}", path="/api/claims").json()["user"]
    fullwidth = forge.issuer.token(sub="auth0|\uff41\uff4c\uff49\uff43\uff45")
    twin = attacker.send(f"Bearer {fullwidth}", path="/api/claims").json()["user"]
    upper = attacker.send(f"Bearer {forge.issuer.token(sub='AUTH0|alice')}", path="/api/claims").json()["user"]
    assert len({first["id"], twin["id"], upper["id"]}) == 3
    assert twin["username"].startswith("auth0-") and upper["username"].startswith("auth0-")


def test_longest_accepted_subject_is_stored_whole(attacker, forge):
    sub = "auth0|" + "\u00e9" * 249  # 255 characters, 504 UTF-8 bytes
    assert attacker.send(f"Bearer {forge.signed(payload=forge.payload(sub=sub))}").status_code == 200
    assert Auth0Identity.objects.get().subject == sub


# --- token types (RFC 9068 section 4, RFC 8725 section 3.11) --------------------------------

TOKEN_TYPES = cases(
    ("typ-dpop", lambda f: f.signed(header=f.header(typ="dpop+jwt")), 401, "invalid_token_type"),
    ("typ-logout", lambda f: f.signed(header=f.header(typ="logout+jwt")), 401, "invalid_token_type"),
    ("typ-secevent", lambda f: f.signed(header=f.header(typ="secevent+jwt")), 401, "invalid_token_type"),
    (
        "typ-application-dpop",
        lambda f: f.signed(header=f.header(typ="application/dpop+jwt")),
        401,
        "invalid_token_type",
    ),
    ("typ-id-token", lambda f: f.signed(header=f.header(typ="id_token+jwt")), 401, "invalid_token_type"),
    ("typ-jose", lambda f: f.signed(header=f.header(typ="JOSE")), 401, "invalid_token_type"),
    ("typ-jose-json", lambda f: f.signed(header=f.header(typ="JOSE+JSON")), 401, "invalid_token_type"),
    ("typ-empty", lambda f: f.signed(header=f.header(typ="")), 401, "invalid_token_type"),
    ("typ-space", lambda f: f.signed(header=f.header(typ="JWT ")), 401, "invalid_token_type"),
    ("typ-null", lambda f: f.signed(header=f.header(typ=None)), 401, "invalid_token_type"),
    ("typ-number", lambda f: f.signed(header=f.header(typ=1)), 401, "invalid_token_type"),
    ("typ-list", lambda f: f.signed(header=f.header(typ=["at+jwt"])), 401, "invalid_token_type"),
    ("typ-at-jwt-suffix", lambda f: f.signed(header=f.header(typ="at+jwt+dpop")), 401, "invalid_token_type"),
    (
        "id-token-nonce",
        lambda f: f.signed(payload=f.payload(aud="spa-client", nonce="n", azp=DROP)),
        401,
        "id_token_not_accepted",
    ),
    (
        "id-token-at-hash",
        lambda f: f.signed(payload=f.payload(aud="spa-client", at_hash="x")),
        401,
        "id_token_not_accepted",
    ),
    (
        "id-token-profile",
        lambda f: f.signed(payload=f.payload(aud="spa-client", email="a@example.com", name="A")),
        401,
        "id_token_not_accepted",
    ),
    (
        "id-token-for-our-audience-nonce",
        lambda f: f.signed(header=f.header(typ="id_token+jwt")),
        401,
        "invalid_token_type",
    ),
    (
        "jwe-dir",
        lambda f: ".".join(
            [b64('{"alg":"dir","enc":"A256GCM"}'), "", b64("iv-iv-iv-iv"), b64("ciphertext" * 4), b64("tag-tag-tag")]
        ),
        401,
        "not_a_jwt",
    ),
    (
        "jwe-rsa-oaep",
        lambda f: ".".join(
            [b64('{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"x"}'), b64(b"k" * 256), b64("iv"), b64("ct"), b64("tag")]
        ),
        401,
        "not_a_jwt",
    ),
    (
        "jwe-with-valid-jws-inside",
        lambda f: ".".join([b64('{"alg":"dir","enc":"A256GCM"}')] + f.issuer.token().split(".") + ["AA"]),
        401,
        "not_a_jwt",
    ),
    ("opaque-auth0-like", lambda f: "v2.local." + b64(b"x" * 64), 401, "not_a_jwt"),
    ("opaque-random", lambda f: b64(b"\x9f" * 32), 401, "not_a_jwt"),
    (
        "cnf-jkt",
        lambda f: f.signed(payload=f.payload(cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})),
        401,
        "dpop_binding_mismatch",
    ),
    (
        "cnf-x5t",
        lambda f: f.signed(payload=f.payload(cnf={"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})),
        401,
        "unsupported_token_binding",
    ),
    ("cnf-jwk", lambda f: f.signed(payload=f.payload(cnf={"jwk": {"kty": "EC"}})), 401, "unsupported_token_binding"),
    ("cnf-empty", lambda f: f.signed(payload=f.payload(cnf={})), 401, "unsupported_token_binding"),
    ("cnf-string", lambda f: f.signed(payload=f.payload(cnf="bound")), 401, "unsupported_token_binding"),
)


@pytest.mark.parametrize(("builder", "status", "code"), TOKEN_TYPES)
def test_token_types(attacker, forge, builder, status, code):
    run(attacker, forge, builder, status, code)
    assert User.objects.count() == 0


def test_rfc9068_profile_requires_at_jwt(attacker, forge, settings):
    settings.AUTH0_DRF = forge.issuer.settings(TOKEN_PROFILE="rfc9068")
    full = {"client_id": "c", "jti": "j"}
    attacker.bearer(
        forge.signed(header=forge.header(typ="JWT"), payload=forge.payload(**full)), code="invalid_token_type"
    )
    attacker.bearer(
        forge.signed(header=forge.header(typ=DROP), payload=forge.payload(**full)), code="invalid_token_type"
    )
    attacker.bearer(
        forge.signed(header=forge.header(typ="at+jwt"), payload=forge.payload(jti="j")), code="missing_claim"
    )
    ok = forge.signed(header=forge.header(typ="application/at+jwt"), payload=forge.payload(**full))
    assert attacker.send(f"Bearer {ok}").status_code == 200


# --- scopes: only verified claims grant them ----------------------------------------------

SCOPED = "/api/private-scoped"


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "READ:MESSAGES"},
        {"scope": "Read:Messages"},
        {"scope": "read:message"},
        {"scope": "read:messages2"},
        {"scope": "read:messages:all"},
        {"scope": "xread:messages"},
        {"scope": "read_messages"},
        {"scope": "read:*"},
        {"scope": "*"},
        {"scope": "read:messages,admin"},
        {"scope": "read:messages\u00a0admin"},
        {"scope": "read:messages\tadmin"},
        {"scope": "read:messages\nadmin"},
        {"scope": "openid\u3000read:messages"},
        {"scope": "read\uff1amessages"},
        {"scope": ""},
        {"permissions": ["READ:MESSAGES"]},
        {"permissions": ["read:messages "]},
        {"permissions": [" read:messages"]},
        {"permissions": ["read:messages admin"]},
        {"permissions": []},
        {"scp": ["read:messages"]},
        {"scp": "read:messages"},
        {"roles": ["read:messages"]},
        {"https://auth0-drf-demo/scope": "read:messages"},
        {"Scope": "read:messages"},
        {"SCOPE": "read:messages"},
    ],
)
def test_near_miss_scopes_are_403_insufficient_scope(attacker, forge, claims):
    token = forge.signed(payload=forge.payload(**claims))
    response = attacker.bearer(token, status=403, code="insufficient_scope", path=SCOPED)
    params = dict(re.findall(r'([a-z_]+)="([^"]*)"', response["WWW-Authenticate"]))
    assert params["scope"] == "read:messages"


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": ["read:messages"]},
        {"scope": 1},
        {"scope": None},
        {"scope": {"read:messages": True}},
        {"permissions": "read:messages"},
        {"permissions": [["read:messages"]]},
        {"permissions": {"read:messages": 1}},
        {"permissions": [1]},
        {"permissions": None},
    ],
)
def test_scope_claims_of_the_wrong_type_are_invalid(attacker, forge, claims):
    attacker.bearer(forge.signed(payload=forge.payload(**claims)), code="invalid_claim", path=SCOPED)


def test_scopes_in_unverified_places_grant_nothing(attacker, forge):
    token = forge.issuer.token()
    attacker.expect(
        f"Bearer {token}",
        status=403,
        code="insufficient_scope",
        path=SCOPED + "?scope=read:messages",
        HTTP_X_SCOPE="read:messages",
    )
    in_header = forge.signed(header=forge.header(scope="read:messages", permissions=["read:messages"]))
    attacker.bearer(in_header, status=403, code="insufficient_scope", path=SCOPED)
    forged = forge.issuer.token(scope="read:messages").rsplit(".", 1)[0] + "." + token.rsplit(".", 1)[1]
    attacker.bearer(forged, code="invalid_signature", path=SCOPED)
    unsigned_token = unsigned(forge.header(alg="none"), forge.payload(scope="read:messages"))
    attacker.bearer(unsigned_token, code="unsupported_algorithm", path=SCOPED)


def test_genuine_scopes_pass(attacker, forge):
    for claims in (
        {"scope": "openid read:messages"},
        {"scope": "  read:messages  "},
        {"permissions": ["read:messages"]},
    ):
        assert attacker.send(f"Bearer {forge.signed(payload=forge.payload(**claims))}", path=SCOPED).status_code == 200


def test_scp_counts_only_when_configured(attacker, forge, settings):
    settings.AUTH0_DRF = forge.issuer.settings(SCOPE_CLAIMS=["scp"])
    assert (
        attacker.send(f"Bearer {forge.signed(payload=forge.payload(scp=['read:messages']))}", path=SCOPED).status_code
        == 200
    )
    attacker.bearer(
        forge.signed(payload=forge.payload(scope="read:messages")), status=403, code="insufficient_scope", path=SCOPED
    )


def test_viewset_actions_need_their_own_scopes(attacker, forge):
    reader = forge.issuer.token(scope="read:messages")
    attacker.bearer(
        reader,
        status=403,
        code="insufficient_scope",
        path="/api/messages/",
        method="post",
        data={"text": "x"},
        format="json",
    )
    writer = forge.issuer.token(scope="write:messages")
    attacker.bearer(writer, status=403, code="insufficient_scope", path="/api/messages/")


# --- nothing echoed, at any log level --------------------------------------------------------


@pytest.mark.parametrize(
    "builder",
    [
        lambda f: unsigned(f.header(kid=MARK, alg="none"), f.payload(sub=MARK, iss=MARK)),
        lambda f: unsigned(f.header(kid=MARK), f.payload(sub=MARK), GOOD_SIG),
        lambda f: unsigned(f.header(typ=MARK), f.payload(), GOOD_SIG),
        lambda f: unsigned(f.header(alg=MARK), f.payload(), GOOD_SIG),
        lambda f: unsigned(f.header(), f.payload(iss=f.issuer.issuer, aud=MARK, sub=MARK), GOOD_SIG),
        lambda f: unsigned(f.header(), f.payload(**{MARK: MARK, "scope": MARK}), GOOD_SIG),
        lambda f: f.signed(payload=f.payload(aud=MARK)),
        lambda f: f.signed(payload=f.payload(iss=MARK)),
        lambda f: f.signed(payload=f.payload(exp=MARK)),
        lambda f: f.signed(payload=f.payload(scope=[MARK])),
        lambda f: f.signed(header=f.header(typ=MARK)),
        lambda f: f.signed(header=f.header(cty=MARK + "/jwt", crit=[MARK])),
        lambda f: f.signed(header=f.header(kid=MARK * 20)),
        lambda f: f.signed(header=f.header(alg=MARK)),
        lambda f: unsigned(f.header(kid=MARK), f.payload(), MARK),
        lambda f: f"{MARK}.{MARK}.{MARK}",
    ],
)
def test_no_attacker_text_in_body_headers_or_logs(attacker, forge, builder):
    run(attacker, forge, builder, 401, None)


def test_log_injection_through_a_verified_claim_is_neutralised(attacker, forge, caplog):
    sub = 'auth0|x" code=ok sub=admin'
    token = forge.signed(payload=forge.payload(sub=sub, exp=now() - 3600))
    response = attacker.bearer(token, code="token_expired")
    assert response.status_code == 401
    rejected = [r.getMessage() for r in caplog.records if "rejected token" in r.getMessage()]
    assert len(rejected) == 1 and "\n" not in rejected[0] and '"' not in rejected[0]


# --- several issuers -------------------------------------------------------------------------


def test_a_key_of_one_trusted_issuer_never_verifies_another_issuers_tokens(attacker, forge, settings):
    with LocalIssuer(audience=forge.issuer.audience) as other:
        settings.AUTH0_DRF = forge.issuer.settings(ISSUERS=[issuer_entry(other)])
        # iss names one issuer, the signature (and kid) come from the other: each way round.
        cross = sign_raw(forge.header(kid=other.signing_key.kid), forge.payload(), other.signing_key)
        attacker.bearer(cross, code="unknown_key")
        back = sign_raw(forge.header(), other.claims(), forge.key)
        attacker.bearer(back, code="unknown_key")
        without_kid = sign_raw(forge.header(kid=DROP), forge.payload(), other.signing_key)
        attacker.bearer(without_kid, code="invalid_signature")
        assert attacker.send(f"Bearer {other.token()}").status_code == 200


def test_other_schemes_carrying_a_valid_token_are_not_ours(attacker, forge):
    token = forge.issuer.token()
    for scheme in ("MAC", "OAuth", "Bearer-Token", "Negotiate"):  # DPoP: see the DPoP tests
        attacker.expect(f"{scheme} {token}", code="not_authenticated")


@pytest.mark.parametrize("exp", [10**15, 1e300, 253402300800])
def test_exp_beyond_year_9999_is_invalid(attacker, forge, exp):
    attacker.bearer(forge.signed(payload=forge.payload(exp=exp)), code="invalid_claim")


@pytest.mark.parametrize("exp", [4102444800, 253402300799])
def test_far_future_exp_is_accepted_and_expires_at_does_not_crash(forge, exp, rf):
    from rest_framework.request import Request

    from auth0_drf.authentication import Auth0Authentication

    token = forge.signed(payload=forge.payload(exp=exp))
    _, claims = Auth0Authentication().authenticate(Request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {token}")))
    assert claims.expires_at.year >= 2100
