"""did:key (W3C CCG did-method-key v0.7): the DID is the public key, so resolving it is pure decoding.

``did:key[:1]:z<base58btc(varint(multicodec) || raw public key)>``; see did.md §1. The one verification
method is ``<did>#<multibase value>``. Signing keys (Ed25519, secp256k1, P-256/384/521) are referenced
from ``authentication`` and ``assertionMethod``; an X25519 key only from ``keyAgreement``. We do not
derive an X25519 key from an Ed25519 one: the spec makes that optional and we never encrypt to a holder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service.did.document import (
    JSON_WEB_KEY_2020,
    DidDocument,
    KeyAgreementMethod,
    VerificationMethod,
)
from service.did.multibase import base58btc_decode, base58btc_encode, varint_decode, varint_encode
from service.errors import DidResolutionFailed, MalformedKey
from service.jose.encoding import b64url_encode
from service.jose.jwk import PublicJwk, parse_key_agreement_jwk, public_jwk_from_key

__all__ = ["MAX_DID_KEY_LENGTH", "did_key_from_jwk", "resolve_did_key"]

# The longest supported key (P-521, 69 bytes with its prefix) gives a DID of about 105 characters.
MAX_DID_KEY_LENGTH: Final = 256
_PREFIX: Final = "did:key:"
_BASE58BTC: Final = "z"


@dataclass(frozen=True, slots=True)
class _Codec:
    """A multicodec key type: its JWK curve name, code, and raw public key length."""

    crv: str
    code: int
    length: int


# Table in did.md §1; EC keys are compressed SEC1 points (1 + coordinate length).
_CODECS: Final[Mapping[int, _Codec]] = {
    codec.code: codec
    for codec in (
        _Codec("Ed25519", 0xED, 32),
        _Codec("X25519", 0xEC, 32),
        _Codec("secp256k1", 0xE7, 33),
        _Codec("P-256", 0x1200, 33),
        _Codec("P-384", 0x1201, 49),
        _Codec("P-521", 0x1202, 67),
    )
}
_CODEC_BY_CRV: Final[Mapping[str, _Codec]] = {codec.crv: codec for codec in _CODECS.values()}
_EC_CURVES: Final[Mapping[str, ec.EllipticCurve]] = {
    "secp256k1": ec.SECP256K1(),
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


def resolve_did_key(did: str) -> DidDocument:
    """Decode a did:key into its DID document (did-method-key "Document Creation Algorithm")."""
    multibase_value = _multibase_value(did)
    codec, raw = _decode_key(multibase_value)
    method_id = f"{did}#{multibase_value}"
    if codec.crv == "X25519":
        return _key_agreement_document(did, method_id, raw)
    method = VerificationMethod(method_id, did, JSON_WEB_KEY_2020, _signing_jwk(codec, raw))
    ids = frozenset({method_id})
    return DidDocument(did, (method,), authentication=ids, assertion_method=ids, key_agreement=frozenset())


def did_key_from_jwk(jwk: PublicJwk) -> str:
    """The did:key of a signing key (EC keys as compressed points); RSA is refused."""
    key = jwk.key
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes_raw()
    elif isinstance(key, ec.EllipticCurvePublicKey):
        raw = key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    else:
        raise MalformedKey("key.unsupported_type", "Key type has no supported did:key encoding")
    codec = _CODEC_BY_CRV.get(jwk.crv or "")
    if codec is None:
        raise MalformedKey("key.unsupported_type", "Key type has no supported did:key encoding")
    return _PREFIX + _BASE58BTC + base58btc_encode(varint_encode(codec.code) + raw)


def _multibase_value(did: str) -> str:
    if len(did) > MAX_DID_KEY_LENGTH or not did.startswith(_PREFIX):
        raise DidResolutionFailed("did.invalid", "Not a did:key")
    parts = did.split(":")
    # did:key:<mb> or did:key:<version>:<mb>; version 1 is the only one defined.
    if len(parts) == 4 and parts[2] == "1":
        value = parts[3]
    elif len(parts) == 3:
        value = parts[2]
    else:
        raise DidResolutionFailed("did.invalid", "did:key has an unsupported version or shape")
    if len(value) < 2 or not value.startswith(_BASE58BTC):
        raise DidResolutionFailed("did.invalid", "did:key value is not base58btc multibase")
    return value


def _decode_key(multibase_value: str) -> tuple[_Codec, bytes]:
    data = base58btc_decode(multibase_value[1:])
    code, used = varint_decode(data)
    codec = _CODECS.get(code)
    if codec is None:
        raise MalformedKey("key.unsupported_type", "did:key multicodec is not supported")
    raw = data[used:]
    if len(raw) != codec.length:
        raise MalformedKey("key.invalid_length", "did:key public key has the wrong length")
    return codec, raw


def _signing_jwk(codec: _Codec, raw: bytes) -> PublicJwk:
    if codec.crv == "Ed25519":
        # public_jwk_from_key rejects small-order and non-canonical Ed25519 encodings.
        return public_jwk_from_key(Ed25519PublicKey.from_public_bytes(raw))
    # The exact length check already leaves only the compressed form (0x02/0x03 || x) to be well formed;
    # cryptography refuses any other prefix, and an x with no point on the curve.
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(_EC_CURVES[codec.crv], raw)
    except ValueError as exc:
        raise MalformedKey("key.invalid_point", "did:key EC key is not on its curve") from exc
    return public_jwk_from_key(key)


def _key_agreement_document(did: str, method_id: str, raw: bytes) -> DidDocument:
    jwk = parse_key_agreement_jwk({"crv": "X25519", "kty": "OKP", "x": b64url_encode(raw)})
    method = KeyAgreementMethod(method_id, did, JSON_WEB_KEY_2020, jwk)
    return DidDocument(
        did,
        (),
        authentication=frozenset(),
        assertion_method=frozenset(),
        key_agreement=frozenset({method_id}),
        key_agreement_methods=(method,),
    )
