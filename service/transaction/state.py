"""What a sealed transaction carries. There is no server-side session: this *is* the session.

Random values are kept as raw bytes and ``array_like`` drops field names: the handle ends up in a QR
code, so every byte counts. The string forms the protocol uses are derived properties.
"""

from __future__ import annotations

from functools import cached_property

import msgspec

from service.jose.encoding import b64url_encode

__all__ = ["PROFILES", "PROFILE_DRAFT20", "PROFILE_V1", "STATE_VERSION", "TransactionState"]

STATE_VERSION = 1
PROFILE_DRAFT20 = "d20"
"""OpenID4VP draft 20 + SIOPv2 draft 13 + Presentation Exchange v2 (the backend's ``protocol: draft``)."""
PROFILE_V1 = "v1"
"""OpenID4VP 1.0: DCQL, client identifier prefixes, ``vp_token`` keyed by query id (``protocol: 1.0``)."""
PROFILES = frozenset({PROFILE_DRAFT20, PROFILE_V1})


class TransactionState(msgspec.Struct, frozen=True, array_like=True, kw_only=True, dict=True):
    """One presentation request, as sealed into the request/response URI handle.

    ``dict=True`` only gives the instance a ``__dict__`` for the cached string forms below (a response reads
    ``id`` about ten times); it is not encoded, compared or hashed.
    """

    version: int = STATE_VERSION
    id_bytes: bytes
    """Transaction id (random, 128 bits)."""
    nonce_bytes: bytes
    """Request nonce every token must echo (random, 128 bits)."""
    state_bytes: bytes
    """OAuth `state` the wallet must return (random, 128 bits)."""
    created_at: int
    expires_at: int
    client_id_scheme: str
    profile: str
    """Protocol profile this transaction speaks: request object shape and response parsing follow it."""
    definition_id: str
    definition_digest: bytes | None = None
    """Digest prefix of a named definition; a changed definition file fails the transaction."""
    inline_definition: bytes | None = None
    """JSON of an inline presentation definition (validated when the transaction was created)."""
    inline_sign_in: bytes | None = None
    """JSON of an inline sign-in policy."""
    id_token_hint: str | None = None
    """An earlier ID Token naming the subject to re-authenticate (sign-in)."""
    webhook_url: str | None = None
    """Per-request webhook target (checked against the allow-list); None means the configured default."""
    correlation_id: str | None = None
    # Fields added with OpenID4VP 1.0 come last, with defaults: handles sealed before them still open.
    inline_dcql: bytes | None = None
    """JSON of an inline DCQL query (1.0; validated when the transaction was created)."""
    encrypted_response: bool = False
    """1.0 ``direct_post.jwt``: the response must be a JWE to this transaction's derived key."""
    redirect_uri: str | None = None
    """Same-device flow: where the wallet sends the user after posting; a ``response_code`` is added."""

    @cached_property
    def id(self) -> str:
        """Transaction id as shown to the backend and in verdicts."""
        return b64url_encode(self.id_bytes)

    @cached_property
    def nonce(self) -> str:
        """The request ``nonce`` (base64url: only the characters OpenID4VP 1.0 §5.2 allows)."""
        return b64url_encode(self.nonce_bytes)

    @cached_property
    def state(self) -> str:
        """The request ``state``."""
        return b64url_encode(self.state_bytes)
