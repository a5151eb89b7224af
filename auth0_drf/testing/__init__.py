"""Test your API without Auth0: a local issuer (JWKS over loopback HTTP, or installed in-process) and tokens.

With pytest, the fixtures ``auth0_issuer``, ``auth0_token`` and ``auth0_api_client`` come from
the plugin ``auth0_drf.pytest_plugin`` (registered automatically when auth0_drf is installed).
With unittest, mix ``Auth0TestMixin`` into your ``TestCase``. See README, "Testing your API".

Import everything from here; the modules of this package each hold one part: ``loopback`` (the
HTTP server), ``issuers`` (the test issuers and their token factory), ``cases`` (the unittest
mixin), ``proofs`` (DPoP proofs).
"""

from __future__ import annotations

from auth0_drf.signing import LocalKey

from .cases import Auth0TestMixin, reset_caches
from .issuers import InProcessIssuer, LocalIssuer, TestIssuer, make_issuer
from .loopback import Answer, HandWrittenResponse, LoopbackServer, Response, json_response
from .proofs import dpop_proof

__all__ = [
    "Answer",
    "Auth0TestMixin",
    "HandWrittenResponse",
    "InProcessIssuer",
    "LocalIssuer",
    "LocalKey",
    "LoopbackServer",
    "Response",
    "TestIssuer",
    "dpop_proof",
    "json_response",
    "make_issuer",
    "reset_caches",
]
