"""What a sealed transaction carries. There is no server-side session: this *is* the session."""

from __future__ import annotations

import msgspec

__all__ = ["STATE_VERSION", "TransactionState"]

STATE_VERSION = 1


class TransactionState(msgspec.Struct, frozen=True, array_like=True, kw_only=True):
    """One presentation request, as sealed into the request/response URI handle.

    ``array_like`` keeps the encoding short: the handle ends up in a QR code.
    """

    version: int = STATE_VERSION
    id: str
    """Transaction id shown to the backend (random, 128 bits)."""
    nonce: str
    """Request nonce every token must echo (random, 128 bits)."""
    state: str
    """OAuth `state` the wallet must return (random, 128 bits)."""
    created_at: int
    expires_at: int
    client_id: str
    client_id_scheme: str
    definition_id: str
    definition_digest: str | None = None
    """Digest of a named definition; a changed definition file fails the transaction."""
    inline_definition: bytes | None = None
    """JSON of an inline presentation definition (validated when the transaction was created)."""
    webhook_url: str | None = None
    """Per-request webhook target (already checked against the allow-list); None means the default."""
    correlation_id: str | None = None
