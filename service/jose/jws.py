"""Compact JWS (RFC 7515 §7.1): strict decoding, allow-listed verification, and signing.

Verification runs on the hot path, so it talks to the crypto libraries directly; the checks RFC 8725 asks
for (no ``none``, no HMAC on third-party tokens, ``alg`` matching the key, no unknown ``crit``) live here
once, and every token kind (ID Token, VP, VC, ...) names the error class and reason prefix it reports with.

Ed25519 signatures are checked with libsodium (PyNaCl), ECDSA and RSA with OpenSSL (``cryptography``).
libsodium takes half the time and is the stricter of the two: besides the ``S < L`` check both make
(RFC 8032 §5.1.7, so ``S + L`` malleability is refused), it refuses an ``R`` or a key of small order and
non-canonical encodings. What it accepts, OpenSSL accepts too, so no honest signer is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from service.errors import InvalidRequest, MalformedResponse
from service.jose.encoding import b64url_decode, b64url_encode
from service.jose.jwk import PublicJwk
from service.strict_json import StrictJsonError, loads_strict

__all__ = [
    "ALG_KEY_TYPES",
    "Jws",
    "PrivateKey",
    "TokenKind",
    "algorithm_for",
    "decode_jws",
    "sign_jws",
    "unsigned_jwt",
    "verify_jws",
]

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey

# alg -> (kty, crv) it may be used with (RFC 7518 §3.4, RFC 8037 §3.1, RFC 8812 §3.2).
ALG_KEY_TYPES: Mapping[str, tuple[str, str | None]] = {
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "ES256K": ("EC", "secp256k1"),
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
}
_EC_HASHES: Mapping[str, hashes.HashAlgorithm] = {
    "ES256": hashes.SHA256(),
    "ES384": hashes.SHA384(),
    "ES512": hashes.SHA512(),
    "ES256K": hashes.SHA256(),
}
_CURVE_BYTES: Mapping[str, int] = {"P-256": 32, "P-384": 48, "P-521": 66, "secp256k1": 32}
_CURVE_ALGS: Mapping[str, str] = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
_MAX_TOKEN_LENGTH = 256 * 1024
_ED25519_SIGNATURE_BYTES = 64
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class TokenKind:
    """Which token is being handled: the reason prefix and error class its failures report with."""

    prefix: str
    error: type[InvalidRequest]

    def fail(self, check: str, description: str) -> InvalidRequest:
        """Build the error for a failed ``check`` (e.g. ``bad_signature``)."""
        return self.error(f"{self.prefix}.{check}", description)


@dataclass(frozen=True, slots=True)
class Jws:
    """A decoded, not yet verified, compact JWS."""

    header: Mapping[str, Any]
    payload: Mapping[str, Any]
    signing_input: bytes
    signature: bytes
    raw: str

    @property
    def alg(self) -> str:
        """The ``alg`` header (always a string once decoded)."""
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        """The ``kid`` header, if it is a string."""
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None

    def digest(self) -> str:
        """A short fingerprint of the token for logs (never log the token itself)."""
        return hashlib.sha256(self.raw.encode("ascii")).hexdigest()[:16]


def _decode_json_object(segment: str, kind: TokenKind, part: str) -> dict[str, Any]:
    try:
        raw = b64url_decode(segment)
    except MalformedResponse as exc:
        raise kind.fail("malformed", f"Token {part} is not base64url") from exc
    try:
        value = loads_strict(raw)
    except StrictJsonError as exc:
        raise kind.fail("malformed", f"Token {part} is not a JSON object") from exc
    if not isinstance(value, dict):
        raise kind.fail("malformed", f"Token {part} is not a JSON object")
    return value


def decode_jws(token: object, *, kind: TokenKind, max_length: int = _MAX_TOKEN_LENGTH) -> Jws:
    """Split and decode a compact JWS with a signed, base64url-encoded JSON payload (RFC 7515 §7.1)."""
    if not isinstance(token, str) or not token:
        raise kind.fail("malformed", "Token is not a compact JWS string")
    if len(token) > max_length:
        raise kind.fail("too_large", "Token exceeds the size limit")
    if not token.isascii():
        raise kind.fail("malformed", "Token is not ASCII")
    parts = token.split(".")
    if len(parts) != 3:
        # Five parts is a JWE; anything else is not a compact JWS at all.
        raise kind.fail("malformed", "Token is not a compact JWS")
    header = _decode_json_object(parts[0], kind, "header")
    _check_header(header, kind)
    payload = _decode_json_object(parts[1], kind, "payload")
    try:
        signature = b64url_decode(parts[2])
    except MalformedResponse as exc:
        raise kind.fail("malformed", "Token signature is not base64url") from exc
    return Jws(
        header=header,
        payload=payload,
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=signature,
        raw=token,
    )


def _check_header(header: Mapping[str, Any], kind: TokenKind) -> None:
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise kind.fail("malformed", "Token header has no alg")
    if alg not in ALG_KEY_TYPES:
        # `none`, HS*, and anything else we cannot check with a public key (RFC 8725 §3.1).
        raise kind.fail("alg_not_allowed", "Token algorithm is not allowed")
    if "crit" in header:
        # We implement no extension header parameters, so any critical one is one we do not understand
        # (RFC 7515 §4.1.11); this also refuses unencoded payloads (RFC 7797 `b64`).
        raise kind.fail("unsupported_crit", "Token has critical header parameters")
    if "b64" in header:
        raise kind.fail("malformed", "Unencoded payloads are not accepted")


def verify_jws(jws: Jws, key: PublicJwk, *, allowed_algs: frozenset[str], kind: TokenKind) -> None:
    """Verify ``jws`` with ``key``: alg allow-listed and matching the key type (RFC 8725 §3.1-3.2)."""
    alg = jws.alg
    if alg not in allowed_algs:
        raise kind.fail("alg_not_allowed", "Token algorithm is not allowed")
    kty, crv = ALG_KEY_TYPES[alg]
    if key.kty != kty or (crv is not None and key.crv != crv):
        raise kind.fail("alg_key_mismatch", "Token algorithm does not match the key")
    if not _signature_valid(alg, key, jws.signing_input, jws.signature):
        raise kind.fail("bad_signature", "Token signature is not valid")


def _signature_valid(alg: str, key: PublicJwk, data: bytes, signature: bytes) -> bool:
    public = key.key
    try:
        # Dispatch on the JWK's kty, which PublicJwk ties to its key type (jwk.py): cryptography's key classes
        # are ABCs, and an isinstance through ABCMeta costs more than the string compare on every verify.
        if key.kty == "OKP":
            return _ed25519_valid(cast(Ed25519PublicKey, public).public_bytes_raw(), data, signature)
        if isinstance(public, ec.EllipticCurvePublicKey):
            size = _CURVE_BYTES[key.crv or ""]
            if len(signature) != 2 * size:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            )
            public.verify(der, data, ec.ECDSA(_EC_HASHES[alg]))
            return True
        if isinstance(public, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if alg == "RS256"
                else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            )
            public.verify(signature, data, pad, hashes.SHA256())
            return True
    except InvalidSignature:
        return False
    return False


def _ed25519_valid(public_key: bytes, data: bytes, signature: bytes) -> bool:
    """RFC 8032 §5.1.7 verification with libsodium's strict checks (see the module docstring)."""
    if len(signature) != _ED25519_SIGNATURE_BYTES:
        return False
    try:
        # libsodium's combined-mode open: it verifies the signature in front of the message.
        crypto_sign_open(signature + data, public_key)
    except BadSignatureError:
        return False
    return True


def algorithm_for(private_key: PrivateKey) -> str:
    """The JOSE alg our own keys sign with."""
    if isinstance(private_key, Ed25519PrivateKey):
        return "EdDSA"
    return _CURVE_ALGS[_curve_name(private_key.curve)]


def _curve_name(curve: ec.EllipticCurve) -> str:
    names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp256k1": "secp256k1"}
    return names[curve.name]


def sign_jws(header: Mapping[str, Any], payload: Mapping[str, Any], private_key: PrivateKey) -> str:
    """Sign a compact JWS with one of our own keys; ``alg`` is set from the key."""
    signer = _signer(private_key)
    signing_input = (
        b64url_encode(_compact_json({**header, "alg": signer.alg}))
        + "."
        + b64url_encode(_compact_json(payload))
    ).encode("ascii")
    return signing_input.decode("ascii") + "." + b64url_encode(signer.sign(signing_input))


@dataclass(frozen=True, slots=True)
class _Signer:
    alg: str
    sign: Callable[[bytes], bytes]
    """The JWS signature of the signing input (ECDSA as fixed-size r || s, RFC 7518 §3.4)."""


@lru_cache(maxsize=64)
def _signer(private_key: PrivateKey) -> _Signer:
    # Our keys sign twice per verification (request object, verdict): what depends only on the key
    # (alg, curve size, the ECDSA parameters object, which cryptography type-checks on every use) is
    # worked out once per key. The cache holds keys by identity, as the keyring does.
    alg = algorithm_for(private_key)
    if isinstance(private_key, Ed25519PrivateKey):
        return _Signer(alg, private_key.sign)
    ecdsa = ec.ECDSA(_EC_HASHES[alg])
    size = _CURVE_BYTES[_curve_name(private_key.curve)]
    sign_der = private_key.sign

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(sign_der(data, ecdsa))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return _Signer(alg, sign)


def unsigned_jwt(header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """An unsecured JWT (RFC 7519 §6): only for the redirect_uri client id scheme, which forbids signing."""
    full_header = {**header, "alg": "none"}
    return b64url_encode(_compact_json(full_header)) + "." + b64url_encode(_compact_json(payload)) + "."


def _compact_json(value: Mapping[str, Any]) -> bytes:
    # msgspec writes the compact UTF-8 JSON json.dumps(separators=(",", ":"), ensure_ascii=False) writes
    # (floats may spell their exponent differently), several times faster, and never a bare NaN.
    if isinstance(value, dict):
        return _ENCODER.encode(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
