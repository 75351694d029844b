"""Public JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) and their thumbprints (RFC 7638, RFC 9278).

A :class:`PublicJwk` is validated completely when it is built: a known key type and curve, fixed-length
coordinates, a point on its curve, no private member. Everything downstream (JWS verification, DID
documents, holder binding) can then trust it without checking again. Signing keys and the X25519
key-agreement keys some DIDs carry are different types, so a signature check can never be handed a key
that is only meant for encryption.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from service.errors import MalformedKey, MalformedResponse
from service.jose.encoding import b64url_decode, b64url_encode
from service.vocabulary import JWK_THUMBPRINT_URN_PREFIX

__all__ = [
    "KeyAgreementJwk",
    "PublicJwk",
    "PublicKey",
    "jwk_thumbprint",
    "jwk_thumbprint_uri",
    "parse_key_agreement_jwk",
    "parse_public_jwk",
    "public_jwk_from_key",
]

PublicKey: TypeAlias = Ed25519PublicKey | ec.EllipticCurvePublicKey | RSAPublicKey

# RFC 7518 §6.2.2, §6.3.2, §6.4.1: members that only a private or symmetric key carries.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

# JWK "crv" -> (curve, coordinate length in bytes); RFC 7518 §6.2.1.2 fixes the length per curve.
_EC_CURVES: Final[Mapping[str, tuple[ec.EllipticCurve, int]]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
    "secp256k1": (ec.SECP256K1(), 32),
}
_CRV_BY_CURVE_NAME: Final[Mapping[str, str]] = {curve.name: crv for crv, (curve, _) in _EC_CURVES.items()}

_ED25519_KEY_BYTES: Final = 32
_X25519_KEY_BYTES: Final = 32
_MIN_RSA_BITS: Final = 2048
# Verification cost grows with the modulus; no real holder or issuer key is anywhere near this.
_MAX_RSA_BITS: Final = 16384

_P25519: Final = 2**255 - 19  # the edwards25519 field prime (RFC 8032 §5.1)
# The 8 points of small order (the torsion subgroup) share five y-coordinates; these are their
# canonical encodings with the x sign bit cleared. With such a key, one signature can verify for many
# messages, and RFC 8032 does not make the verification equation refuse it, so we do.
_SMALL_ORDER_Y_ENCODINGS: Final = frozenset(
    bytes.fromhex(value)
    for value in (
        "0100000000000000000000000000000000000000000000000000000000000000",  # identity, y = 1
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2, y = -1
        "0000000000000000000000000000000000000000000000000000000000000000",  # order 4, y = 0
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    )
)


@dataclass(frozen=True, slots=True)
class PublicJwk:
    """A validated public signing key and exactly its RFC 7638 required members."""

    kty: str
    crv: str | None
    members: Mapping[str, str]
    # The key is derived from the members, and cryptography's key objects are not hashable.
    key: PublicKey = field(compare=False)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.members.items())))

    def to_dict(self) -> dict[str, str]:
        """The public members as a plain dict (e.g. for a JWKS or a ``cnf`` claim)."""
        return dict(self.members)


@dataclass(frozen=True, slots=True)
class KeyAgreementJwk:
    """A validated X25519 public key (RFC 8037 §2): for key agreement only, never for signatures."""

    members: Mapping[str, str]
    key: X25519PublicKey = field(compare=False)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.members.items())))

    def to_dict(self) -> dict[str, str]:
        """The public members as a plain dict."""
        return dict(self.members)


def parse_public_jwk(jwk: Mapping[str, object]) -> PublicJwk:
    """Validate a public signing JWK: OKP Ed25519, EC P-256/P-384/P-521/secp256k1, or RSA (RFC 7518 §6)."""
    _reject_private_members(jwk)
    # Issuer keys come back on every request (JWKS, metadata, x5c): decode each distinct key once.
    # Only the members the key is made of form the cache key, and only when they are all strings.
    members = tuple(jwk.get(name) for name in _KEY_MEMBERS)
    if all(value is None or isinstance(value, str) for value in members):
        return _parse_cached(members)
    return _parse_uncached(jwk)


_KEY_MEMBERS: Final = ("kty", "crv", "x", "y", "n", "e")


@functools.lru_cache(maxsize=1024)
def _parse_cached(members: tuple[str | None, ...]) -> PublicJwk:
    return _parse_uncached(
        {name: value for name, value in zip(_KEY_MEMBERS, members, strict=True) if value is not None}
    )


def _parse_uncached(jwk: Mapping[str, object]) -> PublicJwk:
    kty = _text_member(jwk, "kty")
    if kty == "OKP":
        return _parse_okp(jwk)
    if kty == "EC":
        return _parse_ec(jwk)
    if kty == "RSA":
        return _parse_rsa(jwk)
    raise MalformedKey("key.unsupported_type", "Key type is not supported")


def parse_key_agreement_jwk(jwk: Mapping[str, object]) -> KeyAgreementJwk:
    """Validate a public X25519 JWK (RFC 8037 §2)."""
    _reject_private_members(jwk)
    if _text_member(jwk, "kty") != "OKP" or _text_member(jwk, "crv") != "X25519":
        raise MalformedKey("key.unsupported_type", "Key is not an X25519 key")
    x = _text_member(jwk, "x")
    raw = _decode_member(x, expected_length=_X25519_KEY_BYTES)
    # Every 32-byte string is a valid X25519 public value (RFC 7748 §5); only the length can be wrong.
    return KeyAgreementJwk(
        _frozen({"crv": "X25519", "kty": "OKP", "x": x}), X25519PublicKey.from_public_bytes(raw)
    )


def public_jwk_from_key(key: PublicKey) -> PublicJwk:
    """The validated public JWK of a ``cryptography`` public key."""
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes_raw()
        return _ed25519_jwk(raw, b64url_encode(raw), key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _ec_jwk_from_key(key)
    if isinstance(key, RSAPublicKey):
        numbers = key.public_numbers()
        return _rsa_jwk(_uint_bytes(numbers.n), _uint_bytes(numbers.e))
    raise MalformedKey("key.unsupported_type", "Key type is not supported")


def jwk_thumbprint(jwk: PublicJwk) -> str:
    """The RFC 7638 §3 SHA-256 thumbprint, base64url without padding."""
    # Members hold only base64url text and fixed names, so compact sorted JSON is the canonical form.
    canonical = json.dumps(dict(sorted(jwk.members.items())), separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def jwk_thumbprint_uri(jwk: PublicJwk) -> str:
    """The RFC 9278 §3 thumbprint URI (``urn:ietf:params:oauth:jwk-thumbprint:sha-256:...``)."""
    return JWK_THUMBPRINT_URN_PREFIX + jwk_thumbprint(jwk)


# --- Members --- #


def _reject_private_members(jwk: Mapping[str, object]) -> None:
    if not _PRIVATE_MEMBERS.isdisjoint(jwk.keys()):
        raise MalformedKey("key.private_material", "A private or symmetric key was supplied")


def _text_member(jwk: Mapping[str, object], name: str) -> str:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise MalformedKey("key.invalid", f"JWK member {name} is missing or not a string")
    return value


def _decode_member(text: str, *, expected_length: int | None = None) -> bytes:
    try:
        raw = b64url_decode(text, reason="key.invalid")
    except MalformedResponse as exc:
        raise MalformedKey("key.invalid", "JWK member is not canonical base64url") from exc
    if expected_length is not None and len(raw) != expected_length:
        raise MalformedKey("key.invalid", "JWK member has the wrong length")
    return raw


def _frozen(members: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(members)


def _uint_bytes(value: int) -> bytes:
    # RFC 7518 §2 Base64urlUInt: the minimum number of octets, big-endian.
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


# --- OKP (Ed25519) --- #


def _parse_okp(jwk: Mapping[str, object]) -> PublicJwk:
    if _text_member(jwk, "crv") != "Ed25519":
        # X25519 is key agreement only, Ed448 is not supported.
        raise MalformedKey("key.unsupported_type", "OKP curve is not supported")
    x = _text_member(jwk, "x")
    return _ed25519_jwk(_decode_member(x, expected_length=_ED25519_KEY_BYTES), x)


def _ed25519_jwk(raw: bytes, x: str, key: Ed25519PublicKey | None = None) -> PublicJwk:
    _check_ed25519_point(raw)
    members = _frozen({"crv": "Ed25519", "kty": "OKP", "x": x})
    return PublicJwk("OKP", "Ed25519", members, key or Ed25519PublicKey.from_public_bytes(raw))


def _check_ed25519_point(raw: bytes) -> None:
    # OpenSSL loads any 32 bytes as an Ed25519 key. A y with no matching x can never verify a signature
    # (OpenSSL decodes the point when verifying), so we skip the costly square-root test; what we must
    # refuse up front are the points that decode and let one signature verify for many messages.
    y_encoding = raw[:31] + bytes([raw[31] & 0x7F])
    if int.from_bytes(y_encoding, "little") >= _P25519:
        raise MalformedKey("key.invalid_point", "Ed25519 key is not canonically encoded")
    if y_encoding in _SMALL_ORDER_Y_ENCODINGS:
        raise MalformedKey("key.invalid_point", "Ed25519 key has small order")


# --- EC --- #


def _parse_ec(jwk: Mapping[str, object]) -> PublicJwk:
    crv = _text_member(jwk, "crv")
    if crv not in _EC_CURVES:
        raise MalformedKey("key.unsupported_type", "EC curve is not supported")
    curve, size = _EC_CURVES[crv]
    x, y = _text_member(jwk, "x"), _text_member(jwk, "y")
    point = b"\x04" + _decode_member(x, expected_length=size) + _decode_member(y, expected_length=size)
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except ValueError as exc:
        raise MalformedKey("key.invalid_point", "EC key is not on its curve") from exc
    return PublicJwk("EC", crv, _frozen({"crv": crv, "kty": "EC", "x": x, "y": y}), key)


def _ec_jwk_from_key(key: ec.EllipticCurvePublicKey) -> PublicJwk:
    crv = _CRV_BY_CURVE_NAME.get(key.curve.name)
    if crv is None:
        raise MalformedKey("key.unsupported_type", "EC curve is not supported")
    size = _EC_CURVES[crv][1]
    numbers = key.public_numbers()
    x = b64url_encode(numbers.x.to_bytes(size, "big"))
    y = b64url_encode(numbers.y.to_bytes(size, "big"))
    return PublicJwk("EC", crv, _frozen({"crv": crv, "kty": "EC", "x": x, "y": y}), key)


# --- RSA --- #


def _parse_rsa(jwk: Mapping[str, object]) -> PublicJwk:
    n = _decode_member(_text_member(jwk, "n"))
    e = _decode_member(_text_member(jwk, "e"))
    if not n or not e or n[0] == 0 or e[0] == 0:
        raise MalformedKey("key.invalid", "RSA key members are not minimal unsigned integers")
    return _rsa_jwk(n, e)


def _rsa_jwk(n: bytes, e: bytes) -> PublicJwk:
    modulus = int.from_bytes(n, "big")
    if not _MIN_RSA_BITS <= modulus.bit_length() <= _MAX_RSA_BITS:
        raise MalformedKey("key.invalid", "RSA key size is not accepted")
    try:
        key = RSAPublicNumbers(int.from_bytes(e, "big"), modulus).public_key()
    except ValueError as exc:
        raise MalformedKey("key.invalid", "RSA key is not valid") from exc
    members = _frozen({"e": b64url_encode(e), "kty": "RSA", "n": b64url_encode(n)})
    return PublicJwk("RSA", None, members, key)
