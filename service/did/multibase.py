"""base58btc (multibase prefix ``z``) and unsigned varints (multicodec prefixes), as did:key needs them.

base58btc is the Bitcoin alphabet (draft-msporny-base58 §2); leading zero bytes are written as leading
``1`` characters, so every byte string has exactly one encoding. Varints are unsigned LEB128 with the
multiformats rules: minimal encoding, at most 9 bytes.
"""

from __future__ import annotations

from typing import Final

from service.errors import DidResolutionFailed

__all__ = ["base58btc_decode", "base58btc_encode", "varint_decode", "varint_encode"]

_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# Each alphabet character to its digit value in one C pass (str.translate); every other ASCII character to
# 58, which no digit has, and anything beyond ASCII is left as it is: two C tests refuse them all.
_INVALID: Final = chr(58)
_DIGITS: Final = dict.fromkeys(range(128), 58) | {ord(char): index for index, char in enumerate(_ALPHABET)}
_MAX_VARINT_BYTES: Final = 9  # multiformats unsigned-varint: values below 2**63


def base58btc_encode(data: bytes) -> str:
    """Encode bytes in the Bitcoin base58 alphabet."""
    zeros = len(data) - len(data.lstrip(b"\x00"))
    value = int.from_bytes(data, "big")
    digits: list[str] = []
    while value:
        value, remainder = divmod(value, 58)
        digits.append(_ALPHABET[remainder])
    return "1" * zeros + "".join(reversed(digits))


def base58btc_decode(text: str) -> bytes:
    """Decode Bitcoin base58; any character outside the alphabet is refused (did.invalid)."""
    digits = text.translate(_DIGITS)
    if not digits.isascii() or _INVALID in digits:
        raise DidResolutionFailed("did.invalid", "Value is not base58btc")
    value = 0
    for digit in digits.encode("ascii"):
        value = value * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + value.to_bytes((value.bit_length() + 7) // 8, "big")


def varint_encode(value: int) -> bytes:
    """Encode a non-negative integer as an unsigned LEB128 varint."""
    if value < 0:
        raise ValueError("varint values are unsigned")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint_decode(data: bytes) -> tuple[int, int]:
    """Decode the varint that starts ``data``: (value, bytes used); truncated or padded ones fail."""
    value = 0
    for index, byte in enumerate(data[:_MAX_VARINT_BYTES]):
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            # A final zero byte after a continuation adds nothing: a second spelling of a shorter varint.
            if byte == 0 and index > 0:
                raise DidResolutionFailed("did.invalid", "Varint is not minimally encoded")
            return value, index + 1
    raise DidResolutionFailed("did.invalid", "Varint is truncated or too long")
