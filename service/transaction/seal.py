"""Seal and open transactions: AES-256-GCM under a keyring key, as a short URL-safe handle.

Handle format: ``<kid>.<base64url(iv || ciphertext || tag)>``; the plaintext is one flag byte (0 raw,
1 zlib) followed by the msgpack of the TransactionState. The kid and a domain label are bound as
associated data, so a handle cannot be re-labelled to another key or reused as another kind of token.
"""

from __future__ import annotations

import secrets
import zlib

import msgspec
from cryptography.exceptions import InvalidTag

from service.errors import MalformedResponse, TransactionError
from service.jose.encoding import b64url_decode, b64url_encode
from service.keys import Keyring
from service.transaction.state import STATE_VERSION, TransactionState

__all__ = ["MAX_HANDLE_LENGTH", "deflate", "seal", "unseal"]

MAX_HANDLE_LENGTH = 8192
_MAX_PLAINTEXT = 64 * 1024
_IV_BYTES = 12
_AAD_LABEL = b"siop-verifier/transaction/v1|"
_RAW, _ZLIB = 0, 1
_MIN_WBITS = 9  # the smallest window zlib's deflate takes
_LOOKAHEAD = 262
# A state naming a shipped definition is random ids, a nonce, a URL or two: 100-250 bytes that deflate makes
# longer. Only inline definitions and queries compress, and they are longer than this.
_INCOMPRESSIBLE_BELOW = 256
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(TransactionState)


def seal(state: TransactionState, keyring: Keyring) -> str:
    """Encrypt ``state`` under the active sealing key."""
    key = keyring.active_sealing
    packed = _encoder.encode(state)
    compressed = deflate(packed) if len(packed) > _INCOMPRESSIBLE_BELOW else packed
    body = bytes([_ZLIB]) + compressed if len(compressed) < len(packed) else bytes([_RAW]) + packed
    iv = secrets.token_bytes(_IV_BYTES)
    sealed = key.aead.encrypt(iv, body, _AAD_LABEL + key.kid.encode())
    return f"{key.kid}.{b64url_encode(iv + sealed)}"


def deflate(data: bytes) -> bytes:
    """``zlib.compress(data, 9)`` with a window and hash table sized to ``data``: the same stream format
    (any inflater opens it) and, for the data sealed here, a stream as short.

    ``zlib.compress`` sets up a 32 KiB window and 128 KiB of hash tables however short the input; that
    took 65 us for a 200-byte state (9 us sized to it) and pushed the rest of the request out of the CPU
    caches. deflate reaches back at most ``2**wbits - 262`` bytes (zlib's MIN_LOOKAHEAD), hence the margin.
    """
    wbits = min(zlib.MAX_WBITS, max(_MIN_WBITS, (len(data) + _LOOKAHEAD).bit_length()))
    deflater = zlib.compressobj(9, zlib.DEFLATED, wbits, max(1, wbits - 7))
    return deflater.compress(data) + deflater.flush()


def _invalid() -> TransactionError:
    return TransactionError("transaction.invalid_handle", "The transaction handle is not valid")


def unseal(handle: str, keyring: Keyring) -> TransactionState:
    """Open a handle sealed by any key still in the keyring; tampering or a retired key fails."""
    if len(handle) > MAX_HANDLE_LENGTH or handle.count(".") != 1:
        raise _invalid()
    kid, payload = handle.split(".")
    key = keyring.sealing_key(kid)
    if key is None:
        raise TransactionError("transaction.unknown_key", "The transaction was sealed with a retired key")
    try:
        data = b64url_decode(payload)
    except MalformedResponse as exc:
        raise _invalid() from exc
    if len(data) <= _IV_BYTES + 16:
        raise _invalid()
    try:
        body = key.aead.decrypt(data[:_IV_BYTES], data[_IV_BYTES:], _AAD_LABEL + kid.encode())
    except InvalidTag as exc:
        raise _invalid() from exc
    return _decode_body(body)


def _decode_body(body: bytes) -> TransactionState:
    flag, content = body[0], body[1:]
    if flag == _ZLIB:
        inflater = zlib.decompressobj()
        content = inflater.decompress(content, _MAX_PLAINTEXT)
        if inflater.unconsumed_tail:
            raise _invalid()
    try:
        state = _decoder.decode(content)
    except msgspec.DecodeError as exc:
        raise _invalid() from exc
    if state.version != STATE_VERSION:
        raise _invalid()
    return state
