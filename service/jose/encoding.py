"""Strict base64url (RFC 4648 §5, no padding) as JOSE uses it (RFC 7515 §2)."""

from __future__ import annotations

import binascii
from typing import Final

from service.errors import MalformedResponse

__all__ = ["b64url_decode", "b64url_encode"]

_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_STANDARD: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# base64url -> standard base64 in one C pass. Every other byte (the standard "+" and "/", "=", whitespace)
# becomes "!", which a2b_base64's strict mode refuses: padding and foreign alphabets stay errors.
_TO_STANDARD: Final = bytes(
    _STANDARD[_ALPHABET.index(byte)] if byte in _ALPHABET else ord("!") for byte in range(256)
)
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_PADDING: Final = {0: b"", 2: b"==", 3: b"="}
# A final character carrying 4 (length % 4 == 2) or 2 (== 3) unused bits must leave them zero.
_UNUSED_BITS: Final = {2: 0x0F, 3: 0x03}


def b64url_encode(data: bytes) -> str:
    """Encode without padding."""
    # base64.urlsafe_b64encode is this, behind two Python calls; it runs a dozen times per verification.
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode("ascii")


def b64url_decode(text: str, *, reason: str = "response.bad_base64url") -> bytes:
    """Decode unpadded base64url; padding, other alphabets and non-canonical tails are refused."""
    padding = _PADDING.get(len(text) % 4)
    if padding is None or not text.isascii():
        raise MalformedResponse(reason, "Value is not unpadded base64url")
    encoded = text.encode("ascii")
    try:
        data = binascii.a2b_base64(encoded.translate(_TO_STANDARD) + padding, strict_mode=True)
    except binascii.Error as exc:
        raise MalformedResponse(reason, "Value is not unpadded base64url") from exc
    # A string whose unused tail bits are set decodes, but is a second spelling of the same bytes.
    mask = _UNUSED_BITS.get(len(text) % 4, 0)
    if mask and _ALPHABET.index(encoded[-1]) & mask:
        raise MalformedResponse(reason, "Value is not canonical base64url")
    return data
