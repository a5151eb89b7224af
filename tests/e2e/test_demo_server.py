"""The real demo server against an independent OpenID provider, over real HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.hostile import assert_challenge, assert_rejected

from .conftest import AUDIENCE, SECOND_AUDIENCE
from .provider import ProviderKey, b64url, sign_raw

# --- accepted tokens ---------------------------------------------------------------------


def test_public_needs_no_token(demo):
    assert demo.get("/api/public").status_code == 200


def test_no_token_is_401_with_a_bare_challenge(demo):
    response = demo.get("/api/private")
    assert_rejected(response, status=401, code="not_authenticated", error=None)


@pytest.mark.parametrize("style", ["JWT", "at+jwt", "application/at+jwt"])
def test_access_token_profiles_are_accepted(demo, provider, style):
    sub = f"e2e|profile-{style.replace('/', '-')}"
    response = demo.get("/api/private", provider.access_token(style=style, sub=sub))
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == sub


def test_claims_endpoint_shows_the_verified_claims_and_the_user(demo, provider):
    token = provider.access_token(
        style="at+jwt",
        sub="e2e|claims",
        aud=[AUDIENCE, provider.url + "/userinfo"],
        scope="openid read:messages",
        **{"https://auth0-drf-demo/plan": "pro"},
    )
    response = demo.get("/api/claims", token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["claims"]["sub"] == "e2e|claims"
    assert body["claims"]["iss"] == provider.issuer
    assert body["claims"]["client_id"] == provider.client_id
    assert body["custom_claims"] == {"https://auth0-drf-demo/plan": "pro"}
    assert "read:messages" in body["scopes"]
    assert body["user"]["username"] == "e2e|claims"
    assert body["user"]["stored_in_database"] is True
    # The same user on the next request.
    assert demo.get("/api/claims", token).json()["user"]["id"] == body["user"]["id"]


def test_second_configured_audience_and_audience_lists(demo, provider):
    assert demo.get("/api/private", provider.access_token(aud=SECOND_AUDIENCE)).status_code == 200
    assert demo.get("/api/private", provider.access_token(aud=["urn:other", AUDIENCE])).status_code == 200


def test_es256_tokens_with_and_without_kid(demo, provider):
    assert demo.get("/api/private", provider.access_token(key=provider.ec)).status_code == 200
    # Only one published key can verify ES256, so a kid-less token is unambiguous.
    assert demo.get("/api/private", provider.access_token(key=provider.ec, kid=False)).status_code == 200


def test_the_next_key_published_in_advance_is_accepted(demo, provider):
    assert demo.get("/api/private", provider.access_token(key=provider.next)).status_code == 200


def test_lowercase_scheme_is_accepted(demo, provider):
    token = provider.access_token()
    assert demo.get("/api/private", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_machine_to_machine_token(demo, provider):
    token = provider.access_token(sub=f"{provider.client_id}@clients", gty="client-credentials", scope="read:messages")
    response = demo.get("/api/claims", token)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["is_machine"] is True


# --- rejected tokens ---------------------------------------------------------------------


def _unsigned(header: dict, payload: dict, signature: str = "") -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}.{signature}"


def hs256(secret: bytes, header: dict, payload: dict) -> str:
    """An HS256 token made by hand (PyJWT refuses PEM keys as HMAC secrets, rightly)."""
    import hashlib
    import hmac

    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def rejection_cases(provider):
    """Yield (name, token, status, code) for every kind of bad token."""
    now = int(time.time())
    current = provider.current
    stranger = ProviderKey("RSA", current.kid)  # same kid, other key material
    pem = current.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    good = provider.access_token()
    header, payload, signature = good.split(".")
    yield "wrong signature", stranger.sign(provider.claims(azp="x"), {"typ": "JWT"}), 401, "invalid_signature"
    yield (
        "signature of another token",
        f"{header}.{payload}.{provider.access_token(sub='e2e|other').split('.')[2]}",
        401,
        "invalid_signature",
    )
    yield "stripped signature", f"{header}.{payload}.", 401, "invalid_signature"
    yield "truncated signature", f"{header}.{payload}.{signature[:-10]}", 401, "invalid_signature"
    yield "alg none", _unsigned({"alg": "none", "typ": "JWT"}, provider.claims()), 401, "unsupported_algorithm"
    yield (
        "alg None with signature",
        _unsigned({"alg": "None", "kid": current.kid}, provider.claims(), signature),
        401,
        "unsupported_algorithm",
    )
    yield (
        "HS256 with the public key",
        hs256(pem, {"alg": "HS256", "typ": "JWT", "kid": current.kid}, provider.claims()),
        401,
        "unsupported_algorithm",
    )
    yield "HS256 with the oct key", provider.oct.sign(provider.claims()), 401, "unsupported_algorithm"
    yield (
        "RS384 not configured",
        jwt.encode(provider.claims(), current.private, "RS384", headers={"kid": current.kid}),
        401,
        "unsupported_algorithm",
    )
    yield (
        "signed with the enc key",
        jwt.encode(provider.claims(), provider.enc.private, "RS256", headers={"kid": provider.enc.kid}),
        401,
        "unknown_key",
    )
    yield (
        "EC key for RS256 kid",
        jwt.encode(provider.claims(), provider.ec.private, "ES256", headers={"kid": current.kid}),
        401,
        "unknown_key",
    )
    yield "wrong iss", provider.access_token(iss="https://evil.example/"), 401, "invalid_issuer"
    yield "iss with a trailing slash", provider.access_token(iss=provider.url + "/"), 401, "invalid_issuer"
    yield "iss in upper case", provider.access_token(iss=provider.issuer.upper()), 401, "invalid_issuer"
    yield "iss as a list", provider.access_token(iss=[provider.issuer]), 401, "invalid_issuer"
    yield "wrong aud", provider.access_token(aud="https://api.e2e.example/v2"), 401, "invalid_audience"
    yield "aud as a number", provider.access_token(aud=42), 401, "invalid_claim"
    yield "empty aud list", provider.access_token(aud=[]), 401, "invalid_claim"
    yield "expired", provider.access_token(iat=now - 7200, exp=now - 3600), 401, "token_expired"
    yield "exp as a string", provider.access_token(exp=str(now + 600)), 401, "invalid_claim"
    yield "no exp", provider.access_token(exp=None), 401, "missing_claim"
    yield "not yet valid", provider.access_token(nbf=now + 3600), 401, "token_not_yet_valid"
    yield "no sub", provider.access_token(sub=None), 401, "missing_claim"
    yield "empty sub", provider.access_token(sub=""), 401, "invalid_claim"
    yield "ID token", provider.id_token(good), 401, "id_token_not_accepted"
    yield "logout token typ", provider.access_token(headers={"typ": "logout+jwt"}), 401, "invalid_token_type"
    yield (
        "DPoP-bound token as bearer",
        provider.access_token(cnf={"jkt": b64url(b"x" * 32)}),
        401,
        "dpop_binding_mismatch",
    )
    yield "crit header", provider.access_token(headers={"crit": ["exp"], "exp": 1}), 401, "invalid_header"
    yield (
        "JWE (5 parts)",
        "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aGVsbG8td29ybGQtMTI.Y2lwaGVydGV4dA.dGFnLXRhZy10YWctdGFn",
        401,
        "not_a_jwt",
    )
    yield "garbage", "not-a-token", 401, "not_a_jwt"
    yield "two segments", f"{header}.{payload}", 401, "not_a_jwt"
    yield "header not JSON", f"{b64url(b'{oops')}.{payload}.{signature}", 401, "not_a_jwt"
    yield "payload a JSON list", f"{header}.{b64url(b'[1,2]')}.{signature}", 401, "not_a_jwt"
    nested = b'{"a":' + b"[" * 2400 + b"]" * 2400 + b"}"  # under the size cap, deeper than the stack allows
    yield "deeply nested payload", f"{header}.{b64url(nested)}.{signature}", 401, "not_a_jwt"
    yield "deeply nested header", f"{b64url(b'[' * 2500 + b']' * 2500)}.{payload}.{signature}", 401, "not_a_jwt"
    yield "oversize", good + "A" * 9000, 401, "token_too_large"
    yield (
        "unknown kid",
        jwt.encode(provider.claims(), ProviderKey("RSA", "nobody").private, "RS256", headers={"kid": "nobody"}),
        401,
        "unknown_key",
    )
    yield "kid-less RS256 with two RSA keys", provider.access_token(kid=False), 401, "unknown_key"


def test_every_bad_token_is_rejected_deliberately(demo, provider):
    failures = []
    for name, token, status, code in rejection_cases(provider):
        response = demo.get("/api/private", token)
        try:
            body = assert_rejected(response, status=status, code=code, secrets=(token, token.split(".")[0][:40]))
            assert body["detail"]
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


HOSTILE_VALUES = [
    None,
    True,
    0,
    -1,
    1.5,
    10**400,
    1e308,
    "",
    "x",
    "\ud800",
    "a\u0000b",
    [],
    [1],
    ["\ud800"],
    {},
    {"a": 1},
    "a" * 300,
]
CLAIMS = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "scope",
    "permissions",
    "azp",
    "client_id",
    "gty",
    "jti",
    "cnf",
    "https://auth0-drf-demo/x",
]
HEADERS = ["typ", "kid", "cty", "crit", "jku", "x5c"]


def test_signed_tokens_with_hostile_values_never_get_a_500(demo, provider):
    """Every standard claim and header member, set to each JSON type and edge value, by the real issuer."""
    from concurrent.futures import ThreadPoolExecutor

    cases = []
    for name in CLAIMS + HEADERS:
        for value in HOSTILE_VALUES:
            payload = provider.claims(scope="read:messages")
            header = {"alg": "RS256", "typ": "JWT", "kid": provider.current.kid}
            (header if name in HEADERS else payload)[name] = value
            token = sign_raw(provider.current, header, payload)
            for path in ("/api/claims", "/api/messages/") if name in ("scope", "permissions") else ("/api/claims",):
                cases.append((name, value, path, token))
    with ThreadPoolExecutor(4) as pool:  # the demo's server is threaded
        responses = list(pool.map(lambda case: demo.get(case[2], case[3]), cases))
    for (name, value, path, _), response in zip(cases, responses, strict=True):
        assert response.status_code in (200, 401, 403), (name, repr(value)[:40], path, response.status_code)
        if response.status_code != 200:
            assert response.json()["code"]
            assert len(response.raw.headers.getlist("WWW-Authenticate")) == 1
    assert {response.status_code for response in responses} == {200, 401, 403}


def test_mutated_tokens_are_never_accepted_and_never_a_500(demo, provider):
    """Byte flips, segment swaps and truncations of a valid token, with a fixed seed."""
    import random

    rng = random.Random(6750)
    token = provider.access_token(scope="read:messages")
    assert demo.get("/api/private", token).status_code == 200
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
    mutants = set()
    while len(mutants) < 120:
        chars = list(token)
        kind = rng.randrange(4)
        if kind == 0:
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        elif kind == 1:
            del chars[rng.randrange(len(chars))]
        elif kind == 2:
            chars.insert(rng.randrange(len(chars)), rng.choice(alphabet))
        else:
            parts = token.split(".")
            rng.shuffle(parts)
            chars = list(".".join(parts))
        mutant = "".join(chars)
        if mutant != token:
            mutants.add(mutant)
    accepted = []
    for mutant in mutants:
        response = demo.get("/api/private", mutant)
        assert response.status_code in (200, 400, 401), (mutant, response.status_code)
        if response.status_code == 200:
            accepted.append(mutant)
    # base64url has slack in its last character: a flip there can decode to the same bytes.
    for mutant in accepted:
        assert base64.urlsafe_b64decode(mutant.split(".")[2] + "==") == base64.urlsafe_b64decode(
            token.split(".")[2] + "=="
        )
        assert mutant.split(".")[:2] == token.split(".")[:2]


def test_unverified_claim_text_is_never_echoed(demo, provider):
    bait = 'evil"\r\nX-Injected: 1 <script>'
    for token in (
        provider.access_token(iss="https://evil.example/" + bait),
        provider.access_token(aud="urn:" + bait),
        ProviderKey("RSA", "k").sign(provider.claims(sub=bait)),
    ):
        response = demo.get("/api/private", token)
        assert response.status_code == 401
        assert_challenge(response, "invalid_token")
        assert "evil" not in response.text and "X-Injected" not in response.headers
        assert "script" not in response.text


@pytest.mark.parametrize(
    ("authorization", "status", "code", "error"),
    [
        ("Bearer", 400, "invalid_request", "invalid_request"),
        ("Bearer ", 400, "invalid_request", "invalid_request"),
        ("Bearer a b", 400, "invalid_request", "invalid_request"),
        ("Bearer a,b", 400, "invalid_request", "invalid_request"),
        ("Basic dXNlcjpwYXNz", 401, "not_authenticated", None),
        ("Token abc", 401, "not_authenticated", None),
        ("Bearertoken", 401, "not_authenticated", None),
    ],
)
def test_malformed_authorization_headers(demo, authorization, status, code, error):
    assert_rejected(
        demo.get("/api/private", headers={"Authorization": authorization}), status=status, code=code, error=error
    )


def _raw_get(demo, path: str, headers: list[tuple[str, bytes]]) -> tuple[int, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=10)
    connection.putrequest("GET", path)
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    result = response.status, response.getheaders(), response.read()
    connection.close()
    return result


def test_non_ascii_and_duplicated_authorization_headers(demo, provider):
    token = provider.access_token()
    for headers in (
        [("Authorization", b"Bearer " + "tökén".encode())],
        [("Authorization", b"Bearer \xff\xfe")],
        [("Authorization", f"Bearer {token}".encode()), ("Authorization", b"Bearer other")],
    ):
        status, response_headers, body = _raw_get(demo, "/api/private", headers)
        assert status in (400, 401), (status, body)
        challenges = [value for name, value in response_headers if name.lower() == "www-authenticate"]
        assert len(challenges) == 1
        assert json.loads(body)["code"]
        assert token.encode() not in body


@pytest.mark.parametrize("separator", [b"  ", b"\t", b" \t "])
def test_lenient_whitespace_after_the_scheme_is_accepted(demo, provider, separator):
    status, _, body = _raw_get(
        demo, "/api/private", [("Authorization", b"Bearer" + separator + provider.access_token().encode())]
    )
    assert status == 200, body


@pytest.mark.parametrize("bad", [b"\x00", b"\x0b", b"\xa0", b"\xc2\xa0", b"%2E"])
def test_odd_characters_in_the_token_are_a_400(demo, provider, bad):
    token = provider.access_token().encode()
    # (Trailing bytes are left out: the server's HTTP parser trims trailing whitespace, \x0b and
    # \xa0 included, before Django sees the header, so the token that arrives is exact.)
    for value in (b"Bearer " + bad + token, b"Bearer " + token.replace(b".", bad, 1), b"Bearer " + token + bad + b"x"):
        status, headers, body = _raw_get(demo, "/api/private", [("Authorization", value)])
        assert status in (400, 401), (value, status, body)
        assert len([v for n, v in headers if n.lower() == "www-authenticate"]) == 1
        assert json.loads(body)["code"] in ("invalid_request", "not_a_jwt", "invalid_signature")
        assert token not in body


def test_concurrent_first_requests_for_a_new_subject_make_one_user(demo, provider):
    from concurrent.futures import ThreadPoolExecutor

    token = provider.access_token(sub="e2e|racer")
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: demo.get("/api/claims", token), range(24)))
    assert {response.status_code for response in responses} == {200}
    assert len({response.json()["user"]["id"] for response in responses}) == 1


def test_token_in_the_query_string_is_not_accepted(demo, provider):
    token = provider.access_token()
    response = demo.get("/api/private", params={"access_token": token})
    assert_rejected(response, status=401, code="not_authenticated", error=None, secrets=(token,))


def test_token_in_a_form_body_is_not_accepted(demo, provider):
    token = provider.access_token(scope="write:messages")
    response = demo.request("POST", "/api/messages/", data={"access_token": token, "text": "hi"})
    assert response.status_code == 401
    assert_challenge(response, None)


# --- scopes --------------------------------------------------------------------------------


def test_private_scoped_needs_read_messages(demo, provider):
    response = demo.get("/api/private-scoped", provider.access_token(scope="openid read:message READ:MESSAGES"))
    body = assert_rejected(response, status=403, code="insufficient_scope", error="insufficient_scope")
    assert body["missing_scopes"] == ["read:messages"]
    assert 'scope="read:messages"' in response.headers["WWW-Authenticate"]
    assert demo.get("/api/private-scoped", provider.access_token(scope="openid read:messages")).status_code == 200
    assert (
        demo.get("/api/private-scoped", provider.access_token(scope="", permissions=["read:messages"])).status_code
        == 200
    )


def test_scope_in_an_unverified_token_grants_nothing(demo, provider):
    token = _unsigned({"alg": "RS256", "kid": provider.current.kid}, provider.claims(scope="read:messages"), "AAAA")
    assert demo.get("/api/private-scoped", token).status_code == 401


def test_messages_read_write_archive(demo, provider):
    reader = provider.access_token(scope="read:messages")
    writer = provider.access_token(scope="write:messages")
    archiver = provider.access_token(scope="read:messages archive:messages")
    assert demo.get("/api/messages/", reader).status_code == 200
    assert_rejected(
        demo.get("/api/messages/", writer), status=403, code="insufficient_scope", error="insufficient_scope"
    )
    assert_rejected(
        demo.request("POST", "/api/messages/", reader, json={"text": "no"}),
        status=403,
        code="insufficient_scope",
        error="insufficient_scope",
    )
    created = demo.request("POST", "/api/messages/", writer, json={"text": "hello"})
    assert created.status_code == 201, created.text
    pk = created.json()["id"]
    assert demo.get(f"/api/messages/{pk}/", reader).json()["text"] == "hello"
    assert_rejected(
        demo.request("POST", f"/api/messages/{pk}/archive/", writer),
        status=403,
        code="insufficient_scope",
        error="insufficient_scope",
    )
    archived = demo.request("POST", f"/api/messages/{pk}/archive/", archiver)
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert demo.request("DELETE", f"/api/messages/{pk}/", writer).status_code == 204


def test_a_german_client_reads_german_errors_with_the_english_challenge(demo, provider):
    # The demo has LocaleMiddleware: the body follows Accept-Language, the header stays ASCII English.
    token = provider.access_token(sub="e2e|german", exp=int(time.time()) - 3600)
    english = demo.get("/api/private", token, headers={"Accept-Language": "en"})
    german = demo.get("/api/private", token, headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert english.status_code == german.status_code == 401
    assert english.json()["detail"] == "The access token has expired: get a new one from Auth0."
    assert german.json() == {
        "detail": "Das Zugriffstoken ist abgelaufen: Holen Sie sich ein neues von Auth0.",
        "code": "token_expired",
    }
    assert german.headers["Content-Language"] == "de"
    assert german.headers["WWW-Authenticate"] == english.headers["WWW-Authenticate"]
    assert german.headers["WWW-Authenticate"].isascii()


def test_no_request_ever_got_a_500_and_no_token_text_was_logged(demo):
    log = demo.log()
    assert "Internal Server Error" not in log and "Traceback" not in log
    assert '" 500 ' not in log
    assert "evil" not in log and "X-Injected" not in log and "script" not in log
    # Only the development server's own access log shows a token, the one sent in the URL
    # (which is why tokens in URLs are refused): auth0_drf's lines never do.
    for line in log.splitlines():
        if "eyJ" in line:
            assert '"GET /api/private?access_token=eyJ' in line
