"""Test helpers for status lists, written from the specs with zlib/gzip/base64 only (no service.status).

- Token Status List (TSL §4.1): entry i takes ``bits`` bits starting at the least significant bit of
  byte ``i*bits // 8``; the bytes are ZLIB-compressed and base64url-encoded.
- Bitstring Status List (BSL §3.1): entry i takes ``size`` bits starting at bit ``i*size`` counted from
  the most significant bit of byte 0; the bytes are GZIP-compressed, base64url-encoded and (BSL only)
  prefixed with multibase ``u``.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import zlib
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.errors import DependencyUnavailable, Forbidden
from service.jose.jwk import PublicJwk, public_jwk_from_key
from service.jose.jws import sign_jws

T = TypeVar("T")
BSL_MIN_BITS = 131_072


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pack_lsb_first(values: Sequence[int], bits: int) -> bytes:
    """TSL §4.1 packing."""
    raw = bytearray(-(-len(values) * bits // 8))
    for index, value in enumerate(values):
        position = index * bits
        raw[position // 8] |= value << (position % 8)
    return bytes(raw)


def pack_msb_first(values: Sequence[int], size: int = 1, *, total_bits: int | None = None) -> bytes:
    """BSL §3.1 packing: each value written big-endian, bit 0 the left-most bit of byte 0."""
    total = max(total_bits or 0, len(values) * size)
    raw = bytearray(-(-total // 8))
    for index, value in enumerate(values):
        for offset in range(size):
            if value >> (size - 1 - offset) & 1:
                position = index * size + offset
                raw[position // 8] |= 0x80 >> (position % 8)
    return bytes(raw)


def tsl_list(values: Sequence[int], bits: int) -> dict[str, Any]:
    """A ``status_list`` object (TSL §4.2)."""
    return {"bits": bits, "lst": b64(zlib.compress(pack_lsb_first(values, bits)))}


def encoded_list(raw: bytes, *, multibase: bool = True) -> str:
    """An ``encodedList`` (BSL §2.2 / StatusList2021)."""
    text = b64(gzip.compress(raw))
    return "u" + text if multibase else text


def bsl_bits(revoked: Sequence[int], *, total_bits: int = BSL_MIN_BITS) -> bytes:
    """A 1-bit bitstring of ``total_bits`` entries with the given indices set."""
    raw = bytearray(total_bits // 8)
    for index in revoked:
        raw[index // 8] |= 0x80 >> (index % 8)
    return bytes(raw)


def signer() -> tuple[Ed25519PrivateKey, PublicJwk]:
    """A fresh Ed25519 key and its public JWK."""
    key = Ed25519PrivateKey.generate()
    return key, public_jwk_from_key(key.public_key())


def sign(header: Mapping[str, Any], payload: Mapping[str, Any], key: Ed25519PrivateKey) -> str:
    """A compact JWS over ``payload``; ``alg`` comes from the key."""
    return sign_jws(header, payload, key)


def tamper(token: str) -> str:
    """The same token with one signature byte changed."""
    head, payload, signature = token.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    return f"{head}.{payload}.{flipped}{signature[1:]}"


class FakeSource:
    """A StatusListSource over a dict; missing URLs are outages, ``refused`` URLs are refused."""

    def __init__(self, bodies: Mapping[str, bytes], *, refused: Sequence[str] = ()) -> None:
        self.bodies = dict(bodies)
        self.refused = set(refused)
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    async def fetch(self, uri: str, *, accept: Sequence[str]) -> bytes:
        self.calls.append((uri, tuple(accept)))
        if uri in self.refused:
            raise Forbidden("outbound.scheme", "refused")
        if uri not in self.bodies:
            raise DependencyUnavailable("outbound.unreachable", "unreachable")
        return self.bodies[uri]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion."""
    return asyncio.run(coro)
