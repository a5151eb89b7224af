"""DPoP proofs (RFC 9449) for tests, signed by a local key."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

from auth0_drf.dpop import access_token_hash
from auth0_drf.signing import LocalKey


def dpop_proof(
    key: LocalKey,
    *,
    method: str = "GET",
    url: str = "http://testserver/",
    token: str | None = None,
    jti: str | None = None,
    iat: float | None = None,
    claims: Mapping[str, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
    drop: Iterable[str] = (),
) -> str:
    """Return a DPoP proof (RFC 9449) signed by ``key`` for ``method`` and ``url``.

    ``token`` adds its ``ath``; ``claims`` and ``headers`` add or replace members; ``drop``
    removes claims. Bind a token to the key with ``issuer.token(claims={"cnf": {"jkt": key.thumbprint()}})``.
    """
    payload: dict[str, Any] = {
        "jti": jti or uuid.uuid4().hex,
        "htm": method,
        "htu": url,
        "iat": int(iat if iat is not None else time.time()),
    }
    if token is not None:
        payload["ath"] = access_token_hash(token)
    payload.update(claims or {})
    for name in drop:
        payload.pop(name, None)
    public = {k: v for k, v in key.public_jwk().items() if k not in ("kid", "alg", "use")}
    header: dict[str, Any] = {"typ": "dpop+jwt", "alg": key.alg, "jwk": public}
    header.update(headers or {})
    return jwt.api_jws.encode(json.dumps(payload).encode(), key.private_key, algorithm=header["alg"], headers=header)
