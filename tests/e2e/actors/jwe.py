"""Wallet-side response encryption for ``direct_post.jwt`` (OpenID4VP 1.0 §8.3), independent of service/.

ECDH-ES direct key agreement (RFC 7518 §4.6) with a fresh P-256 ephemeral key, the Concat KDF written
out with hashlib (not cryptography's ConcatKDFHash the service uses, so a shared mistake is less
likely), then AES-GCM (RFC 7518 §5.3). ``header_overrides`` lets tests send what a broken or hostile
wallet would: its ``apu``/``apv`` strings also feed the KDF, and ``DELETE`` removes a member.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.e2e.actors.keys import b64url, b64url_decode, merge

KEY_BYTES = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}


def encrypt_response(
    payload: Mapping[str, Any],
    jwk: Mapping[str, Any],
    *,
    enc: str = "A128GCM",
    compress: bool = False,
    header_overrides: Mapping[str, Any] | None = None,
) -> str:
    """Encrypt the response parameters as a compact JWE to the verifier's published ``jwk``."""
    plaintext = json.dumps(payload, separators=(",", ":")).encode()
    return encrypt_bytes(plaintext, jwk, enc=enc, compress=compress, header_overrides=header_overrides)


def encrypt_bytes(
    plaintext: bytes,
    jwk: Mapping[str, Any],
    *,
    enc: str = "A128GCM",
    compress: bool = False,
    header_overrides: Mapping[str, Any] | None = None,
) -> str:
    """Encrypt raw bytes (tests use this for plaintexts that are not JSON, e.g. a DEFLATE bomb)."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("the wallet only encrypts to P-256 keys")
    recipient = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"),
        int.from_bytes(b64url_decode(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    numbers = ephemeral.public_key().public_numbers()
    header: dict[str, Any] = {
        "alg": "ECDH-ES",
        "enc": enc,
        "epk": {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        },
    }
    if "kid" in jwk:
        header["kid"] = jwk["kid"]
    if compress:
        header["zip"] = "DEF"
        plaintext = deflate_raw(plaintext)
    header = merge(header, header_overrides)
    cek = concat_kdf(
        ephemeral.exchange(ec.ECDH(), recipient),
        enc,
        _party(header.get("apu")),
        _party(header.get("apv")),
        KEY_BYTES[enc],
    )
    protected = b64url(json.dumps(header, separators=(",", ":")).encode())
    iv = os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, plaintext, protected.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return ".".join([protected, "", b64url(iv), b64url(ciphertext), b64url(tag)])


def deflate_raw(data: bytes) -> bytes:
    """Raw DEFLATE (no zlib header), as ``zip: DEF`` expects (RFC 7516 §4.1.3)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def concat_kdf(z: bytes, algorithm_id: str, apu: bytes, apv: bytes, key_bytes: int) -> bytes:
    """NIST SP 800-56A Concat KDF over SHA-256 with the JOSE OtherInfo layout (RFC 7518 §4.6.2)."""

    def field(value: bytes) -> bytes:
        return len(value).to_bytes(4, "big") + value

    other_info = field(algorithm_id.encode()) + field(apu) + field(apv) + (key_bytes * 8).to_bytes(4, "big")
    output = b""
    counter = 1
    while len(output) < key_bytes:
        output += hashlib.sha256(counter.to_bytes(4, "big") + z + other_info).digest()
        counter += 1
    return output[:key_bytes]


def _party(value: object) -> bytes:
    # A non-string apu/apv is a test of the verifier's parsing; the wallet just leaves it out of the KDF.
    return b64url_decode(value) if isinstance(value, str) else b""
