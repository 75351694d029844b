"""Keys, JWS and DID encodings for the test actors, written independently of service/."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

KeyKind = Literal["ed25519", "p256", "p384", "secp256k1"]
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


class _Delete:
    """Sentinel type: an override with this value removes the key."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()


class JwsError(ValueError):
    """A JWS could not be parsed or its signature did not verify."""


@dataclass(frozen=True)
class _Curve:
    """Per-kind constants: JOSE names, cryptography curve, multicodec and coordinate size."""

    alg: str
    crv: str
    curve: ec.EllipticCurve | None
    hash: hashes.HashAlgorithm | None
    multicodec: int
    size: int


_KINDS: dict[str, _Curve] = {
    "ed25519": _Curve("EdDSA", "Ed25519", None, None, 0xED, 32),
    "p256": _Curve("ES256", "P-256", ec.SECP256R1(), hashes.SHA256(), 0x1200, 32),
    "p384": _Curve("ES384", "P-384", ec.SECP384R1(), hashes.SHA384(), 0x1201, 48),
    "secp256k1": _Curve("ES256K", "secp256k1", ec.SECP256K1(), hashes.SHA256(), 0xE7, 32),
}
_BY_CRV = {c.crv: c for c in _KINDS.values()}
_BY_CODEC = {c.multicodec: c for c in _KINDS.values()}
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}
THUMBPRINT_URN = "urn:ietf:params:oauth:jwk-thumbprint:sha-256:"


# --- encodings --- #


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url, padding optional."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def json_b64(obj: Any) -> str:
    """Compact JSON, UTF-8, base64url: a JWS header or payload segment."""
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def base58btc_encode(data: bytes) -> str:
    """Bitcoin-alphabet base58 (leading zero bytes become '1')."""
    num = int.from_bytes(data, "big")
    out = ""
    while num:
        num, rem = divmod(num, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def base58btc_decode(text: str) -> bytes:
    """Inverse of base58btc_encode."""
    num = 0
    for char in text:
        num = num * 58 + _B58.index(char)
    body = num.to_bytes((num.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def varint(value: int) -> bytes:
    """Unsigned LEB128 varint (multicodec prefix)."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes) -> tuple[int, int]:
    """Return (value, bytes consumed) of a leading unsigned varint."""
    value = 0
    for i, byte in enumerate(data[:9]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise ValueError("unterminated varint")


# --- JWK --- #


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint (EC, OKP, RSA), base64url."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def jwk_from_public_key(key: PublicKey) -> dict[str, str]:
    """Public JWK of an Ed25519 or EC public key."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    spec = next(c for c in _KINDS.values() if c.curve is not None and c.curve.name == key.curve.name)
    nums = key.public_numbers()
    x, y = nums.x.to_bytes(spec.size, "big"), nums.y.to_bytes(spec.size, "big")
    return {"kty": "EC", "crv": spec.crv, "x": b64url(x), "y": b64url(y)}


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """Ed25519 or EC public key from a JWK; rejects private members and unknown curves."""
    if "d" in jwk:
        raise JwsError("JWK carries a private member")
    spec = _BY_CRV.get(jwk.get("crv", ""))
    if spec is None:
        raise JwsError(f"unsupported JWK crv {jwk.get('crv')!r}")
    if spec.curve is None:
        if jwk.get("kty") != "OKP":
            raise JwsError("Ed25519 JWK must have kty OKP")
        return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    if jwk.get("kty") != "EC":
        raise JwsError("EC JWK must have kty EC")
    x, y = int.from_bytes(b64url_decode(jwk["x"]), "big"), int.from_bytes(b64url_decode(jwk["y"]), "big")
    return ec.EllipticCurvePublicNumbers(x, y, spec.curve).public_key()


def alg_for_jwk(jwk: Mapping[str, Any]) -> str:
    """The one JWS alg this key type may be used with."""
    spec = _BY_CRV.get(jwk.get("crv", ""))
    if spec is None:
        raise JwsError(f"unsupported JWK crv {jwk.get('crv')!r}")
    return spec.alg


# --- DIDs --- #


def did_key_from_jwk(jwk: Mapping[str, Any]) -> str:
    """did:key of a public JWK (compressed point for EC curves)."""
    spec = _BY_CRV[jwk["crv"]]
    if spec.curve is None:
        raw = b64url_decode(jwk["x"])
    else:
        y = b64url_decode(jwk["y"])
        raw = bytes([2 + (y[-1] & 1)]) + b64url_decode(jwk["x"])
    return "did:key:z" + base58btc_encode(varint(spec.multicodec) + raw)


def decode_did_key_public(did: str) -> dict[str, str]:
    """Public JWK encoded in a did:key (Ed25519, P-256, P-384, secp256k1)."""
    parts = did.partition("#")[0].split(":")
    if len(parts) != 3 or parts[:2] != ["did", "key"] or not parts[2].startswith("z"):
        raise JwsError(f"not a did:key: {did!r}")
    data = base58btc_decode(parts[2][1:])
    codec, used = read_varint(data)
    spec, raw = _BY_CODEC.get(codec), data[used:]
    if spec is None:
        raise JwsError(f"unsupported multicodec {codec:#x}")
    if spec.curve is None:
        if len(raw) != 32:
            raise JwsError("bad Ed25519 key length")
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    if len(raw) != spec.size + 1:
        raise JwsError("bad compressed point length")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(spec.curve, raw)
    except ValueError as exc:
        raise JwsError("invalid point") from exc
    return jwk_from_public_key(key)


def decode_did_jwk_public(did: str) -> dict[str, Any]:
    """Public JWK embedded in a did:jwk."""
    if not did.startswith("did:jwk:"):
        raise JwsError(f"not a did:jwk: {did!r}")
    jwk = json.loads(b64url_decode(did.partition("#")[0][len("did:jwk:") :]))
    if not isinstance(jwk, dict) or "d" in jwk:
        raise JwsError("did:jwk must hold a public JWK object")
    return jwk


def resolve_did_url(kid: str, did: str) -> dict[str, Any]:
    """Public JWK of a did:key / did:jwk verification method; `kid` must be a DID URL of `did`."""
    if kid.startswith("#"):
        kid = did + kid
    base, _, fragment = kid.partition("#")
    if base != did:
        raise JwsError(f"kid {kid!r} is not a DID URL of {did!r}")
    if did.startswith("did:key:"):
        if fragment != did.split(":")[2]:
            raise JwsError("did:key fragment must be its multibase value")
        return decode_did_key_public(did)
    if did.startswith("did:jwk:"):
        if fragment != "0":
            raise JwsError("did:jwk fragment must be 0")
        return decode_did_jwk_public(did)
    raise JwsError(f"unsupported DID method in {did!r}")


# --- JWS --- #


def decode_jws(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Split a compact JWS into (header, payload, signing input, signature) without verifying."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwsError("compact JWS must have three segments")
    try:
        header, payload = json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError as exc:
        raise JwsError("malformed JWS segment") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise JwsError("JWS header and payload must be JSON objects")
    return header, payload, f"{parts[0]}.{parts[1]}".encode(), signature


def verify_jws(token: str, jwk: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS with a public JWK; header alg must be the key's alg."""
    header, payload, signing_input, signature = decode_jws(token)
    expected = alg_for_jwk(jwk)
    if header.get("alg") != expected:
        raise JwsError(f"alg {header.get('alg')!r} does not fit a {jwk.get('crv')} key ({expected})")
    key = public_key_from_jwk(jwk)
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signing_input)
        else:
            spec = _BY_CRV[jwk["crv"]]
            if len(signature) != 2 * spec.size:
                raise JwsError("ECDSA signature must be raw r||s")
            r = int.from_bytes(signature[: spec.size], "big")
            s = int.from_bytes(signature[spec.size :], "big")
            assert spec.hash is not None
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(spec.hash))
    except InvalidSignature as exc:
        raise JwsError("signature does not verify") from exc
    return header, payload


def encode_jwt_unsigned(header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """Unsecured JWS (alg none, empty signature segment)."""
    return f"{json_b64({**header, 'alg': 'none'})}.{json_b64(dict(payload))}."


def sign_hmac_jwt(header: Mapping[str, Any], payload: Mapping[str, Any], secret: bytes) -> str:
    """HS256 JWS (only ever wanted by negative tests)."""
    signing_input = f"{json_b64({**header, 'alg': 'HS256'})}.{json_b64(dict(payload))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def corrupt_signature(token: str) -> str:
    """Flip one bit of the signature of a compact JWS."""
    head, _, sig = token.rpartition(".")
    raw = bytearray(b64url_decode(sig) or b"\0")
    raw[0] ^= 0x01
    return f"{head}.{b64url(bytes(raw))}"


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Shallow merge; an override value of DELETE removes the key."""
    out = dict(base)
    for name, value in (overrides or {}).items():
        if value is DELETE:
            out.pop(name, None)
        else:
            out[name] = value
    return out


# --- key pairs --- #


@dataclass(frozen=True)
class KeyPair:
    """A signing key of one kind with its JOSE and DID views."""

    kind: KeyKind
    private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, kind: KeyKind = "p256") -> KeyPair:
        """A fresh random key of `kind`."""
        spec = _KINDS[kind]
        if spec.curve is None:
            return cls(kind, ed25519.Ed25519PrivateKey.generate())
        return cls(kind, ec.generate_private_key(spec.curve))

    @property
    def alg(self) -> str:
        """JWS alg for this key."""
        return _KINDS[self.kind].alg

    def public_key(self) -> PublicKey:
        """The cryptography public key."""
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, str]:
        """Public JWK (required members only)."""
        return jwk_from_public_key(self.public_key())

    def thumbprint(self) -> str:
        """RFC 7638 SHA-256 thumbprint of the public JWK."""
        return jwk_thumbprint(self.public_jwk())

    def thumbprint_uri(self) -> str:
        """RFC 9278 thumbprint URN."""
        return THUMBPRINT_URN + self.thumbprint()

    def did_key(self) -> str:
        """did:key of the public key."""
        return did_key_from_jwk(self.public_jwk())

    def did_key_url(self) -> str:
        """DID URL of the did:key verification method."""
        did = self.did_key()
        return f"{did}#{did.split(':')[2]}"

    def did_jwk(self) -> str:
        """did:jwk of the public JWK (compact JSON)."""
        return "did:jwk:" + json_b64(self.public_jwk())

    def did_jwk_url(self) -> str:
        """DID URL of the did:jwk verification method."""
        return self.did_jwk() + "#0"

    def sign(self, data: bytes) -> bytes:
        """Raw JWS signature (r||s for ECDSA)."""
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            return self.private_key.sign(data)
        spec = _KINDS[self.kind]
        assert spec.hash is not None
        r, s = decode_dss_signature(self.private_key.sign(data, ec.ECDSA(spec.hash)))
        return r.to_bytes(spec.size, "big") + s.to_bytes(spec.size, "big")

    def sign_jws(self, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
        """Compact JWS; header alg defaults to this key's alg but is never rewritten if given."""
        signing_input = f"{json_b64({'alg': self.alg, **header})}.{json_b64(dict(payload))}"
        return f"{signing_input}.{b64url(self.sign(signing_input.encode()))}"
