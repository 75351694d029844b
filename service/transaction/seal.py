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
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.errors import MalformedResponse, TransactionError
from service.jose.encoding import b64url_decode, b64url_encode
from service.keys import Keyring
from service.transaction.state import STATE_VERSION, TransactionState

__all__ = ["MAX_HANDLE_LENGTH", "seal", "unseal"]

MAX_HANDLE_LENGTH = 8192
_MAX_PLAINTEXT = 64 * 1024
_IV_BYTES = 12
_AAD_LABEL = b"siop-verifier/transaction/v1|"
_RAW, _ZLIB = 0, 1
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(TransactionState)


def seal(state: TransactionState, keyring: Keyring) -> str:
    """Encrypt ``state`` under the active sealing key."""
    key = keyring.active_sealing
    packed = _encoder.encode(state)
    compressed = zlib.compress(packed, 9)
    body = bytes([_ZLIB]) + compressed if len(compressed) < len(packed) else bytes([_RAW]) + packed
    iv = secrets.token_bytes(_IV_BYTES)
    sealed = AESGCM(key.key).encrypt(iv, body, _AAD_LABEL + key.kid.encode())
    return f"{key.kid}.{b64url_encode(iv + sealed)}"


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
        body = AESGCM(key.key).decrypt(data[:_IV_BYTES], data[_IV_BYTES:], _AAD_LABEL + kid.encode())
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
