"""Properties of DID encoding and decoding: round trips, and only typed errors on any input."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from service.did import (
    did_jwk_from_jwk,
    did_key_from_jwk,
    resolve_did_jwk,
    resolve_did_key,
    resolve_local,
    select_verification_method,
)
from service.did.multibase import base58btc_decode, base58btc_encode, varint_decode, varint_encode
from service.errors import DidResolutionFailed, MalformedKey
from service.jose.encoding import b64url_encode
from service.jose.jwk import PublicJwk, public_jwk_from_key

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CURVES = [ec.SECP256R1(), ec.SECP384R1(), ec.SECP256K1()]
KNOWN_CODES = [0xED, 0xEC, 0xE7, 0x1200, 0x1201, 0x1202, 0x1205]


@st.composite
def signing_keys(draw: st.DrawFn) -> PublicJwk:
    """Random Ed25519, P-256, P-384 and secp256k1 public keys."""
    if draw(st.booleans()):
        seed = draw(st.binary(min_size=32, max_size=32))
        return public_jwk_from_key(Ed25519PrivateKey.from_private_bytes(seed).public_key())
    curve = draw(st.sampled_from(CURVES))
    # Below every curve order used here, so each value is a valid private scalar.
    scalar = draw(st.integers(min_value=1, max_value=2**200))
    return public_jwk_from_key(ec.derive_private_key(scalar, curve).public_key())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
jwk_like = st.dictionaries(
    st.sampled_from(["kty", "crv", "x", "y", "n", "e", "d", "use", "kid"]),
    st.sampled_from(["EC", "OKP", "RSA", "P-256", "Ed25519", "X25519", "sig", "enc", "AQAB", ""])
    | json_values,
)
did_like_text = st.one_of(
    st.text(max_size=80),
    st.builds(lambda text: "did:" + text, st.text(max_size=80)),
    st.builds(lambda text: "did:key:z" + text, st.text(alphabet=BASE58_ALPHABET, max_size=120)),
    st.builds(
        lambda code, raw: "did:key:z" + base58btc_encode(varint_encode(code) + raw),
        st.sampled_from(KNOWN_CODES) | st.integers(min_value=0, max_value=2**20),
        st.binary(max_size=70),
    ),
    st.builds(lambda text: "did:jwk:" + text, st.text(alphabet=B64URL_ALPHABET, max_size=200)),
    st.builds(lambda raw: "did:jwk:" + b64url_encode(raw), st.binary(max_size=200)),
    st.builds(lambda value: "did:jwk:" + b64url_encode(json.dumps(value).encode()), jwk_like | json_values),
)


@given(signing_keys())
def test_did_key_round_trip(jwk: PublicJwk) -> None:
    """did_key_from_jwk then resolve_did_key gives back the same key, and the same DID again."""
    did = did_key_from_jwk(jwk)
    (method,) = resolve_did_key(did).verification_methods
    assert method.public_key == jwk
    assert did_key_from_jwk(method.public_key) == did


@given(signing_keys())
def test_did_jwk_round_trip(jwk: PublicJwk) -> None:
    """did_jwk_from_jwk then resolve_did_jwk gives back the same key under #0."""
    did = did_jwk_from_jwk(jwk)
    (method,) = resolve_did_jwk(did).verification_methods
    assert method.public_key == jwk
    assert method.id == did + "#0"


@given(did_like_text)
def test_resolve_local_raises_only_typed_errors(text: str) -> None:
    """Any text either resolves to a document with that id, or fails with DidResolutionFailed/MalformedKey."""
    try:
        document = resolve_local(text)
    except (DidResolutionFailed, MalformedKey):
        return
    assert document.id == text


@given(signing_keys(), st.text(max_size=60))
def test_selection_never_leaves_the_document(jwk: PublicJwk, kid: str) -> None:
    """Whatever the kid, selection returns a method of the document or fails with DidResolutionFailed."""
    document = resolve_did_key(did_key_from_jwk(jwk))
    try:
        method = select_verification_method(document, kid, relationship="authentication")
    except DidResolutionFailed:
        return
    assert method in document.verification_methods


@given(st.binary(max_size=80))
def test_base58btc_round_trip(data: bytes) -> None:
    """base58btc decoding inverts encoding, leading zero bytes included."""
    assert base58btc_decode(base58btc_encode(data)) == data


@given(st.integers(min_value=0, max_value=2**63 - 1), st.binary(max_size=4))
def test_varint_round_trip(value: int, tail: bytes) -> None:
    """varint decoding inverts encoding and reports the bytes it used."""
    encoded = varint_encode(value)
    assert varint_decode(encoded + tail) == (value, len(encoded))
