"""DPoP (RFC 9449) end to end: the demo with AUTH0_DPOP=allowed, proofs made by an outside client."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import AUDIENCE, serve_demo
from .demo import DemoServer
from .provider import b64url


@pytest.fixture(scope="module")
def demo(provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    yield from serve_demo(
        tmp_path_factory,
        "dpop",
        AUTH0_ISSUER=provider.issuer,
        AUTH0_AUDIENCE=AUDIENCE,
        AUTH0_JWKS_URI=provider.jwks_uri,
        AUTH0_DPOP="allowed",
    )


class Client:
    """A DPoP client: its own P-256 key, a thumbprint for cnf.jkt, and proofs per request."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.jwk = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        # RFC 7638 thumbprint: the required members, sorted, no whitespace.
        self.jkt = b64url(hashlib.sha256(json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()).digest())

    def proof(self, method: str, url: str, token: str, **overrides) -> str:
        payload = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
            "ath": b64url(hashlib.sha256(token.encode()).digest()),
            **overrides,
        }
        return jwt.encode(payload, self.key, "ES256", headers={"typ": "dpop+jwt", "jwk": self.jwk})


def call(demo, token: str, proof: str | None, path: str = "/api/private", scheme: str = "DPoP"):
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return demo.get(path, headers=headers)


def test_a_bound_token_with_a_fresh_proof_is_accepted_once(demo, provider):
    client = Client()
    token = provider.access_token(style="at+jwt", cnf={"jkt": client.jkt})
    proof = client.proof("GET", demo.url + "/api/private", token)
    assert call(demo, token, proof).status_code == 200
    replayed = call(demo, token, proof)
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "invalid_dpop_proof"
    assert 'DPoP realm="api"' in replayed.headers["WWW-Authenticate"]
    assert 'error="invalid_dpop_proof"' in replayed.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("bearer scheme", 401, "dpop_binding_mismatch"),
        ("no proof", 401, "invalid_dpop_proof"),
        ("other method", 401, "invalid_dpop_proof"),
        ("other url", 401, "invalid_dpop_proof"),
        ("stale", 401, "invalid_dpop_proof"),
        ("other key", 401, "invalid_dpop_proof"),
        ("wrong ath", 401, "invalid_dpop_proof"),
    ],
)
def test_dpop_misuse_is_refused(demo, provider, case, status, code):
    client = Client()
    token = provider.access_token(cnf={"jkt": client.jkt})
    url = demo.url + "/api/private"
    proof = {
        "bearer scheme": client.proof("GET", url, token),
        "no proof": None,
        "other method": client.proof("POST", url, token),
        "other url": client.proof("GET", demo.url + "/api/claims", token),
        "stale": client.proof("GET", url, token, iat=int(time.time()) - 3600),
        "other key": Client().proof("GET", url, token),
        "wrong ath": client.proof("GET", url, token, ath=b64url(b"\0" * 32)),
    }[case]
    response = call(demo, token, proof, scheme="Bearer" if case == "bearer scheme" else "DPoP")
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    challenges = response.raw.headers.getlist("WWW-Authenticate")
    assert len(challenges) == 1 and 'error="' in challenges[0]
    assert token not in response.text


def test_htu_leaves_out_the_query_string(demo, provider):
    client = Client()
    token = provider.access_token(cnf={"jkt": client.jkt})
    proof = client.proof("GET", demo.url + "/api/private", token)
    assert call(demo, token, proof, path="/api/private?page=2").status_code == 200


def test_plain_bearer_tokens_still_work_when_dpop_is_allowed(demo, provider):
    response = demo.get("/api/private", provider.access_token())
    assert response.status_code == 200
    challenge = demo.get("/api/private").headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", DPoP realm="api", algs="')
