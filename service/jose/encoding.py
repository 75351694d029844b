"""Strict base64url (RFC 4648 §5, no padding) as JOSE uses it (RFC 7515 §2)."""

from __future__ import annotations

import base64
import binascii
import re

from service.errors import MalformedResponse

__all__ = ["b64url_decode", "b64url_encode"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# A final character carrying 4 (length % 4 == 2) or 2 (== 3) unused bits must leave them zero.
_UNUSED_BITS = {2: 0x0F, 3: 0x03}


def b64url_encode(data: bytes) -> str:
    """Encode without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, reason: str = "response.bad_base64url") -> bytes:
    """Decode unpadded base64url; padding, other alphabets and non-canonical tails are refused."""
    if len(text) % 4 == 1 or _B64URL.fullmatch(text) is None:
        raise MalformedResponse(reason, "Value is not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedResponse(reason, "Value is not unpadded base64url") from exc
    # A string whose unused tail bits are set decodes, but is a second spelling of the same bytes.
    mask = _UNUSED_BITS.get(len(text) % 4, 0)
    if mask and _ALPHABET.index(text[-1]) & mask:
        raise MalformedResponse(reason, "Value is not canonical base64url")
    return data
