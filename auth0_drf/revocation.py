"""Refuse tokens issued before their identity's tokens were revoked, checked from the cached identity with no query.

Auth0 cannot revoke an access token it has issued: it stays valid until ``exp``. An operator
cuts a stolen session or a departed user off here instead, with
``Auth0Identity.revoke_tokens()`` (or the admin action), which records the moment; every request
of that identity is then checked against it by ``check_not_revoked``, called by the user backend
on the identity it already holds (from the user cache in the steady state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import TokenRevoked
from .jose import is_number

if TYPE_CHECKING:
    from .claims import Claims
    from .models import Auth0Identity


def check_not_revoked(identity: Auth0Identity, claims: Claims) -> None:
    """Raise ``TokenRevoked`` when the token was issued before the identity's ``tokens_revoked_at``.

    The comparison is strict and without ``LEEWAY``: ``iat`` counts whole seconds and is rounded
    down by the issuer, so every token issued before the revocation has an ``iat`` before it and
    is refused, while one issued in the same second after it is refused too (unless the
    revocation fell on a whole second), and later ones are accepted. A token without ``iat`` of a
    revoked identity is refused: when it was issued cannot be told.
    """
    revoked_at = identity.tokens_revoked_at
    if revoked_at is None:
        return
    iat = claims.get("iat")
    if not is_number(iat) or iat < revoked_at.timestamp():
        raise TokenRevoked()
