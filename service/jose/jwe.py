"""Encrypted authorization responses: compact JWE with ``ECDH-ES`` direct key agreement (OpenID4VP 1.0 §8.3).

With ``response_mode=direct_post.jwt`` the wallet posts ``response=<JWE>`` encrypted to a P-256 key we
published in the request object's ``client_metadata.jwks``. The service keeps no per-transaction state,
so that key is derived from a server secret and the transaction id (:func:`derive_response_key`) and can
be derived again when the response arrives.

Decryption is hand-rolled on ``cryptography`` rather than taken from joserfc: the one algorithm we
accept (RFC 7518 §4.6 ECDH-ES + Concat KDF, then AES-GCM, §5.3) is small, and owning the steps lets us
refuse oversized input before decoding anything, bound the ``zip`` inflation, and report every failure
with a stable reason code.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.errors import ConfigurationError, LimitExceeded, MalformedKey, MalformedResponse
from service.jose.encoding import b64url_decode
from service.jose.jwk import jwk_thumbprint, parse_public_jwk, public_jwk_from_key
from service.strict_json import StrictJsonError, loads_strict

__all__ = [
    "DEFAULT_ALLOWED_ENC",
    "ResponseKey",
    "decrypt_response",
    "derive_response_key",
]

DEFAULT_ALLOWED_ENC: Final = frozenset({"A128GCM", "A256GCM"})

# enc -> CEK length in bytes (RFC 7518 §5.3); the only content encryptions we implement.
_CEK_BYTES: Final[Mapping[str, int]] = {"A128GCM": 16, "A256GCM": 32}
_ALG: Final = "ECDH-ES"
_IV_BYTES: Final = 12  # RFC 7518 §5.3: a 96-bit IV
_TAG_BYTES: Final = 16  # RFC 7518 §5.3: a 128-bit authentication tag
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HKDF_INFO: Final = b"openid4vp response encryption key v1"
# 16 bytes over the 32-byte order keeps the bias of the modular reduction below 2**-128 (FIPS 186-5 A.2.1).
_HKDF_BYTES: Final = 48
_MIN_SECRET_BYTES: Final = 16
_KID_CHARS: Final = 16

_MALFORMED: Final = "response.jwe_malformed"


@dataclass(frozen=True, slots=True)
class ResponseKey:
    """The private P-256 key one transaction's encrypted response is addressed to, and its ``kid``."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey

    def __post_init__(self) -> None:
        # The JWK we publish and the epk we accept are P-256 only; another curve could never agree.
        if not isinstance(self.private_key.curve, ec.SECP256R1):
            raise ConfigurationError("config.response_key_curve", "The response encryption key is not P-256")

    def public_jwk(self) -> dict[str, str]:
        """The public JWK to publish in ``client_metadata.jwks`` (OpenID4VP 1.0 §5.1, §8.3)."""
        members = public_jwk_from_key(self.private_key.public_key()).members
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": members["x"],
            "y": members["y"],
            "kid": self.kid,
            "use": "enc",
            "alg": _ALG,
        }


# The request object (its public half) and the response (its private half) derive the same key; when one
# replica serves both, the second derivation (a P-256 scalar multiplication and a thumbprint) is skipped.
@lru_cache(maxsize=1024)
def derive_response_key(secret: bytes, transaction_id: bytes) -> ResponseKey:
    """Derive the transaction's response-encryption key from the server secret (HKDF, RFC 5869)."""
    if len(secret) < _MIN_SECRET_BYTES:
        # Anyone who guesses the secret can read every response, so an empty or toy one must fail the boot.
        raise ConfigurationError("config.response_key_secret", "The response encryption secret is too short")
    okm = HKDF(hashes.SHA256(), _HKDF_BYTES, salt=transaction_id, info=_HKDF_INFO).derive(secret)
    # Maps onto [1, n-1]: never zero, which is not a private key.
    scalar = int.from_bytes(okm, "big") % (_P256_ORDER - 1) + 1
    private_key = ec.derive_private_key(scalar, ec.SECP256R1())
    # The kid comes from the public key, not the transaction id, so it reveals nothing about the transaction.
    kid = jwk_thumbprint(public_jwk_from_key(private_key.public_key()))[:_KID_CHARS]
    return ResponseKey(kid=kid, private_key=private_key)


def decrypt_response(
    compact: str,
    key: ResponseKey,
    *,
    allowed_enc: frozenset[str] = DEFAULT_ALLOWED_ENC,
    max_length: int,
    max_plaintext: int,
) -> bytes:
    """Decrypt a compact ECDH-ES JWE addressed to ``key`` and return its plaintext (RFC 7516 §5.2)."""
    # The cap comes first: nothing below (splitting, decoding, an EC multiplication) runs on oversized input.
    if len(compact) > max_length:
        raise LimitExceeded("limits.jwe_size", "The encrypted response exceeds the size limit")
    parts = compact.split(".")
    if len(parts) != 5:
        raise MalformedResponse(_MALFORMED, "The encrypted response is not a compact JWE")
    protected, encrypted_key, iv_part, ciphertext_part, tag_part = parts
    header = _decode_header(protected)
    enc = _check_header(header, key, allowed_enc)
    if encrypted_key:
        # RFC 7518 §4.6: with direct key agreement the JWE Encrypted Key is the empty octet sequence.
        raise MalformedResponse(_MALFORMED, "The encrypted key must be empty for ECDH-ES")
    iv = _decode_part(iv_part)
    ciphertext = _decode_part(ciphertext_part)
    tag = _decode_part(tag_part)
    if len(iv) != _IV_BYTES or len(tag) != _TAG_BYTES:
        raise MalformedResponse(_MALFORMED, "The IV or authentication tag has the wrong length")
    compressed = "zip" in header
    # AES-GCM plaintext is as long as its ciphertext: an uncompressed one is capped before any work.
    if not compressed and len(ciphertext) > max_plaintext:
        raise LimitExceeded("limits.jwe_plaintext", "The decrypted response exceeds the size limit")
    cek = _derive_cek(header, key, enc)
    # Every part has passed the base64url decoder by now, so the AAD below is ASCII.
    try:
        plaintext = AESGCM(cek).decrypt(iv, ciphertext + tag, protected.encode("ascii"))
    except InvalidTag as exc:
        # Which input was wrong (key, header, IV, tag) stays unsaid: that is an oracle's whole output.
        raise MalformedResponse("response.jwe_decrypt_failed", "The response could not be decrypted") from exc
    return _inflate(plaintext, max_plaintext) if compressed else plaintext


# --- Header --- #


def _decode_part(part: str) -> bytes:
    return b64url_decode(part, reason=_MALFORMED)


def _decode_header(protected: str) -> dict[str, Any]:
    try:
        header = loads_strict(_decode_part(protected))
    except StrictJsonError as exc:
        raise MalformedResponse(_MALFORMED, "The JWE header is not a JSON object") from exc
    if not isinstance(header, dict):
        raise MalformedResponse(_MALFORMED, "The JWE header is not a JSON object")
    return header


def _check_header(header: Mapping[str, Any], key: ResponseKey, allowed_enc: frozenset[str]) -> str:
    """Check the protected header against what we accept (RFC 7516 §4.1, RFC 8725 §3.1) and return ``enc``."""
    if header.get("alg") != _ALG:
        raise MalformedResponse("response.jwe_unsupported_alg", "The JWE algorithm is not accepted")
    enc = header.get("enc")
    if not isinstance(enc, str) or enc not in allowed_enc or enc not in _CEK_BYTES:
        raise MalformedResponse("response.jwe_unsupported_enc", "The JWE content encryption is not accepted")
    if "kid" in header and header["kid"] != key.kid:
        # A kid we did not publish (e.g. an older transaction's key) would only fail at the tag, later.
        raise MalformedResponse("response.jwe_unknown_key", "The JWE is not addressed to this transaction")
    if "crit" in header:
        # We implement no extension parameters, so any critical one is not understood (RFC 7516 §4.1.13).
        raise MalformedResponse("response.jwe_unsupported_crit", "The JWE has critical header parameters")
    if "zip" in header and header["zip"] != "DEF":
        raise MalformedResponse("response.jwe_unsupported_zip", "The JWE compression is not supported")
    return enc


def _ephemeral_key(header: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    epk = header.get("epk")
    # Only P-256 matches our key; checking kty and crv first keeps other key types from being parsed at all.
    if not isinstance(epk, dict) or epk.get("kty") != "EC" or epk.get("crv") != "P-256":
        raise MalformedResponse(_MALFORMED, "The JWE ephemeral key is not a P-256 key")
    try:
        # Refuses points off the curve: agreeing on one would leak bits of our private key (invalid curve).
        public = parse_public_jwk(epk).key
    except MalformedKey as exc:
        raise MalformedResponse(_MALFORMED, "The JWE ephemeral key is not valid") from exc
    if not isinstance(public, ec.EllipticCurvePublicKey):  # parse_public_jwk keeps kty; narrows the type
        raise MalformedResponse(_MALFORMED, "The JWE ephemeral key is not a P-256 key")
    return public


def _party_info(header: Mapping[str, Any], name: str) -> bytes:
    value = header.get(name)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise MalformedResponse(_MALFORMED, f"The JWE {name} is not a string")
    return _decode_part(value)


# --- Key agreement and content --- #


def _derive_cek(header: Mapping[str, Any], key: ResponseKey, enc: str) -> bytes:
    """ECDH then the Concat KDF of RFC 7518 §4.6.2 with the ``enc`` value as AlgorithmID (direct mode)."""
    epk = _ephemeral_key(header)
    apu = _party_info(header, "apu")
    apv = _party_info(header, "apv")
    shared = key.private_key.exchange(ec.ECDH(), epk)
    length = _CEK_BYTES[enc]
    other_info = (
        _length_prefixed(enc.encode("ascii"))
        + _length_prefixed(apu)
        + _length_prefixed(apv)
        + (length * 8).to_bytes(4, "big")  # SuppPubInfo: keydatalen in bits
    )
    return ConcatKDFHash(hashes.SHA256(), length, other_info).derive(shared)


def _length_prefixed(data: bytes) -> bytes:
    # RFC 7518 §4.6.2: each Datalen || Data field carries a 32-bit big-endian length.
    return len(data).to_bytes(4, "big") + data


def _inflate(data: bytes, max_plaintext: int) -> bytes:
    """Raw DEFLATE (RFC 1951, ``zip: DEF``, RFC 7516 §4.1.3), stopped one byte past the cap."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        # Asking for one byte more than allowed tells "exactly at the cap" from "over it" without
        # ever holding more than that in memory, however far the stream would inflate.
        output = inflater.decompress(data, max_plaintext + 1)
    except zlib.error as exc:
        raise MalformedResponse(_MALFORMED, "The compressed response is not valid DEFLATE") from exc
    if len(output) > max_plaintext:
        raise LimitExceeded("limits.jwe_plaintext", "The decrypted response exceeds the size limit")
    if not inflater.eof or inflater.unused_data:
        raise MalformedResponse(_MALFORMED, "The compressed response is truncated or has trailing data")
    return output
