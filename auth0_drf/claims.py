"""The verified claims of an access token, as ``request.auth`` presents them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from .conf import auth0_settings

#: Where each kind of scope claim lives and how it is shaped.
SCOPE_SOURCES = ("scope", "permissions", "scp")
#: How Auth0 ends the ``sub`` of a client credentials token: ``<client id>@clients``.
_CLIENT_SUFFIX = "@clients"


def _as_set(value: Any) -> frozenset[str]:
    # Types were checked when the token was verified; stay defensive for hand-built Claims.
    if isinstance(value, str):
        # RFC 6749 section 3.3: scopes are separated by spaces (SP) only. str.split() would also
        # split on tabs, newlines, NBSP and U+3000, turning "read:x\u00a0y" into a grant of read:x.
        return frozenset(scope for scope in value.split(" ") if scope)
    if isinstance(value, (list, tuple)):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


class Claims(Mapping[str, Any]):
    """A read-only mapping of every verified claim, with helpers for the common ones.

    ``request.auth`` is one of these: ``request.auth["https://myapp.example/state"]``,
    ``request.auth.sub``, ``request.auth.scopes``, ``request.auth.has_scope("read:messages")``.
    """

    def __init__(self, claims: dict[str, Any], *, header: Mapping[str, Any] | None = None, token: str = "") -> None:
        self._claims = claims
        self.header: Mapping[str, Any] = header or {}
        #: The raw access token, for forwarding to another API. Never logged or stored.
        self.token = token

    # Mapping protocol
    def __getitem__(self, name: str) -> Any:
        return self._claims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    # Mapping's generic get() and __contains__ go through __getitem__ and KeyError; these run
    # on every request.
    def get(self, name: str, default: Any = None) -> Any:
        return self._claims.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._claims

    def __repr__(self) -> str:
        # The token is deliberately left out, so that a logged request.auth leaks nothing.
        return f"<Claims sub={self._claims.get('sub')!r} iss={self._claims.get('iss')!r}>"

    def as_dict(self) -> dict[str, Any]:
        """Return a plain copy of the claims (for JSON responses)."""
        return dict(self._claims)

    # Standard claims
    @property
    def sub(self) -> str:
        """The subject: ``auth0|...`` for a user, ``<client id>@clients`` for a machine."""
        # The verifier has checked that it is a string; the annotation says so for free (cast() is a call).
        sub: str = self._claims["sub"]
        return sub

    @property
    def iss(self) -> str:
        iss: str = self._claims["iss"]  # a string: the verifier matched it against a trusted issuer
        return iss

    @property
    def audiences(self) -> tuple[str, ...]:
        aud = self._claims.get("aud")
        return (aud,) if isinstance(aud, str) else tuple(aud or ())

    @property
    def client_id(self) -> str | None:
        """The client (application) the token was issued to: ``azp``, or RFC 9068's ``client_id``."""
        return self._claims.get("azp") or self._claims.get("client_id")

    @property
    def expires_at(self) -> datetime:
        try:
            return datetime.fromtimestamp(self._claims["exp"], tz=timezone.utc)
        except (OverflowError, OSError, ValueError):  # a valid but absurd exp, beyond year 9999
            return datetime.max.replace(tzinfo=timezone.utc)

    @cached_property
    def is_machine(self) -> bool:
        """Whether this is a machine-to-machine (client credentials) token.

        It is when ``gty`` is ``"client-credentials"``, or, for a token without ``gty``, when
        ``sub`` is exactly ``<client id>@clients``. A person's ``sub`` always carries its
        connection before a ``|`` (``auth0|...``, ``samlp|acme|bob@clients``), so such a
        subject is never a machine, whatever it ends with: it gets a database user, which
        ``is_active=False`` can block.
        """
        gty: object = self._claims.get("gty")
        if gty is not None:
            return gty == "client-credentials"
        sub = self._claims.get("sub")
        if not isinstance(sub, str) or not sub.endswith(_CLIENT_SUFFIX):
            return False
        client_id = sub[: -len(_CLIENT_SUFFIX)]
        return bool(client_id) and "|" not in client_id and "@" not in client_id

    # Scopes
    @cached_property
    def scopes(self) -> frozenset[str]:
        """The scopes of the space-delimited ``scope`` claim."""
        return _as_set(self._claims.get("scope"))

    @cached_property
    def permissions(self) -> frozenset[str]:
        """Auth0's RBAC ``permissions`` array."""
        return _as_set(self._claims.get("permissions"))

    @cached_property
    def granted(self) -> frozenset[str]:
        """Every scope granted through the claims named in ``SCOPE_CLAIMS``."""
        granted: frozenset[str] = frozenset()
        for source in auth0_settings.SCOPE_CLAIMS:
            granted |= _as_set(self._claims.get(source))
        return granted

    def has_scope(self, *scopes: str, any_of: bool = False) -> bool:
        """Return whether all (or, with ``any_of``, any) of ``scopes`` are granted."""
        granted = self.granted
        if any_of:
            return any(scope in granted for scope in scopes)
        return all(scope in granted for scope in scopes)

    # Custom claims
    def custom(self, name: str, default: Any = None, *, namespace: str | None = None) -> Any:
        """Return a namespaced custom claim without repeating the namespace.

        ``claims.custom("state")`` reads ``"https://myapp.example/state"`` when
        ``CLAIMS_NAMESPACE`` is ``"https://myapp.example/"``.
        """
        prefix = auth0_settings.CLAIMS_NAMESPACE if namespace is None else namespace
        return self._claims.get(prefix + name, default)

    @property
    def custom_claims(self) -> dict[str, Any]:
        """Return the claims that are not standard ones (those set by Auth0 Actions)."""
        standard = set(auth0_settings.STANDARD_CLAIMS)
        return {name: value for name, value in self._claims.items() if name not in standard}
