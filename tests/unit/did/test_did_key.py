"""did:key decoding and encoding, and the base58btc / varint codecs under it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service.did.did_key import did_key_from_jwk, resolve_did_key
from service.did.multibase import base58btc_decode, base58btc_encode, varint_decode, varint_encode
from service.errors import DidResolutionFailed, MalformedKey
from service.jose.jwk import public_jwk_from_key

P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def _did_key(code: int, raw: bytes) -> str:
    return "did:key:z" + base58btc_encode(varint_encode(code) + raw)


def _p256_x_without_y() -> bytes:
    # Smallest x for which x^3 - 3x + b is not a square mod p: no point of P-256 has it.
    x = 1
    while pow((x**3 - 3 * x + P256_B) % P256_P, (P256_P - 1) // 2, P256_P) != P256_P - 1:
        x += 1
    return x.to_bytes(32, "big")


def _ed25519_raw() -> bytes:
    return Ed25519PrivateKey.generate().public_key().public_bytes_raw()


def _failure(did: str) -> tuple[type[Exception], str]:
    with pytest.raises((DidResolutionFailed, MalformedKey)) as caught:
        resolve_did_key(did)
    assert isinstance(caught.value, (DidResolutionFailed, MalformedKey))
    return type(caught.value), caught.value.reason


class TestBase58btc:
    @pytest.mark.parametrize(
        ("data", "text"),
        [
            (b"Hello World!", "2NEpo7TZRRrLZSi2U"),
            (bytes.fromhex("0000287fb4cd"), "11233QC4"),
            (b"", ""),
            (b"\x00", "1"),
        ],
    )
    def test_known_values(self, data: bytes, text: str) -> None:
        """Known base58btc values (draft-msporny-base58 examples) encode and decode both ways."""
        assert base58btc_encode(data) == text
        assert base58btc_decode(text) == data

    @pytest.mark.parametrize("char", ["0", "O", "I", "l", "+", "/", " ", "é"])
    def test_characters_outside_alphabet_rejected(self, char: str) -> None:
        """Characters outside the Bitcoin alphabet are did.invalid."""
        with pytest.raises(DidResolutionFailed) as caught:
            base58btc_decode("2NEpo" + char + "7TZ")
        assert caught.value.reason == "did.invalid"


class TestVarint:
    @pytest.mark.parametrize(
        ("value", "encoded"),
        [(0, b"\x00"), (0x7F, b"\x7f"), (0xED, b"\xed\x01"), (0x1200, b"\x80\x24"), (0x1202, b"\x82\x24")],
    )
    def test_known_values(self, value: int, encoded: bytes) -> None:
        """Multicodec prefixes encode as in the did:key table and decode with their length."""
        assert varint_encode(value) == encoded
        assert varint_decode(encoded + b"\xff") == (value, len(encoded))

    @pytest.mark.parametrize("data", [b"", b"\x80", b"\xed", b"\xed\x80", b"\xff" * 9, b"\xed\x80\x00"])
    def test_truncated_or_overlong_rejected(self, data: bytes) -> None:
        """A varint that never ends, or ends after 9 bytes, or pads with zero, is did.invalid."""
        with pytest.raises(DidResolutionFailed) as caught:
            varint_decode(data)
        assert caught.value.reason == "did.invalid"

    def test_negative_value_refused(self) -> None:
        """Varints are unsigned; a negative value is a programming error."""
        with pytest.raises(ValueError, match="unsigned"):
            varint_encode(-1)


class TestResolveDidKey:
    def test_ed25519_document(self) -> None:
        """An Ed25519 did:key has one JsonWebKey2020 method in authentication and assertionMethod."""
        raw = _ed25519_raw()
        did = _did_key(0xED, raw)
        document = resolve_did_key(did)
        (method,) = document.verification_methods
        assert did.startswith("did:key:z6Mk")
        assert method.id == f"{did}#{did.removeprefix('did:key:')}"
        assert (method.controller, method.type) == (did, "JsonWebKey2020")
        assert isinstance(method.public_key.key, Ed25519PublicKey)
        assert method.public_key.key.public_bytes_raw() == raw
        assert document.id == did
        assert document.authentication == document.assertion_method == frozenset({method.id})
        assert document.key_agreement == frozenset()
        assert document.key_agreement_methods == ()

    @pytest.mark.parametrize(
        ("curve", "code", "crv"),
        [
            (ec.SECP256R1(), 0x1200, "P-256"),
            (ec.SECP384R1(), 0x1201, "P-384"),
            (ec.SECP521R1(), 0x1202, "P-521"),
            (ec.SECP256K1(), 0xE7, "secp256k1"),
        ],
    )
    def test_ec_document(self, curve: ec.EllipticCurve, code: int, crv: str) -> None:
        """A compressed EC point decodes to the key's full public JWK."""
        public = ec.generate_private_key(curve).public_key()
        did = _did_key(code, public.public_bytes(Encoding.X962, PublicFormat.CompressedPoint))
        (method,) = resolve_did_key(did).verification_methods
        assert method.public_key == public_jwk_from_key(public)
        assert method.public_key.crv == crv

    def test_x25519_is_key_agreement_only(self) -> None:
        """An X25519 did:key has no signing method: keyAgreement only."""
        raw = X25519PrivateKey.generate().public_key().public_bytes_raw()
        did = _did_key(0xEC, raw)
        document = resolve_did_key(did)
        assert document.verification_methods == ()
        assert document.authentication == document.assertion_method == frozenset()
        (method,) = document.key_agreement_methods
        assert document.key_agreement == frozenset({method.id})
        assert method.public_key.key.public_bytes_raw() == raw

    def test_version_one_accepted(self) -> None:
        """The optional version component 1 is accepted and kept in the document id."""
        multibase_value = _did_key(0xED, _ed25519_raw()).removeprefix("did:key:")
        did = f"did:key:1:{multibase_value}"
        document = resolve_did_key(did)
        assert document.id == did
        assert document.verification_methods[0].id == f"{did}#{multibase_value}"

    @pytest.mark.parametrize("version", ["0", "2", "01", ""])
    def test_other_versions_rejected(self, version: str) -> None:
        """Any version component other than 1 is did.invalid."""
        multibase_value = _did_key(0xED, _ed25519_raw()).removeprefix("did:key:")
        assert _failure(f"did:key:{version}:{multibase_value}") == (DidResolutionFailed, "did.invalid")

    @pytest.mark.parametrize(
        "did",
        [
            "did:key:",
            "did:key:z",
            "did:jwk:z6Mk",
            "did:key:f01ed",
            "did:key:Z6Mk",
            "did:key:z0OIl",
            "did:key:a:b:c",
        ],
    )
    def test_malformed_did_rejected(self, did: str) -> None:
        """A did:key that is not did:key[:1]:z<base58btc> is did.invalid."""
        assert _failure(did) == (DidResolutionFailed, "did.invalid")

    def test_too_long_rejected(self) -> None:
        """A did:key longer than 256 characters is did.invalid before any decoding."""
        assert _failure("did:key:z" + "2" * 300) == (DidResolutionFailed, "did.invalid")

    @pytest.mark.parametrize("code", [0x1205, 0xEE, 0x00, 0x1203, 0xE7 + 0x100])
    def test_wrong_multicodec_rejected(self, code: int) -> None:
        """RSA and unknown multicodecs are key.unsupported_type."""
        assert _failure(_did_key(code, b"\x02" * 33)) == (MalformedKey, "key.unsupported_type")

    @pytest.mark.parametrize(
        ("code", "length"), [(0xED, 31), (0xED, 33), (0x1200, 32), (0x1200, 65), (0xEC, 0)]
    )
    def test_wrong_length_rejected(self, code: int, length: int) -> None:
        """A raw key that is not exactly the codec's length is key.invalid_length."""
        raw = b"\x02" + b"\x07" * (length - 1) if length else b""
        assert _failure(_did_key(code, raw)) == (MalformedKey, "key.invalid_length")

    def test_uncompressed_point_marker_rejected(self) -> None:
        """A 33-byte EC key must be a compressed point (0x02/0x03 prefix), else key.invalid_point."""
        public = ec.generate_private_key(ec.SECP256R1()).public_key()
        compressed = public.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        assert _failure(_did_key(0x1200, b"\x04" + compressed[1:])) == (MalformedKey, "key.invalid_point")

    @pytest.mark.parametrize("prefix", [b"\x02", b"\x03"])
    def test_off_curve_p256_rejected(self, prefix: bytes) -> None:
        """A compressed P-256 point whose x has no y is key.invalid_point."""
        assert _failure(_did_key(0x1200, prefix + _p256_x_without_y())) == (MalformedKey, "key.invalid_point")

    @pytest.mark.parametrize(
        "raw",
        [
            (1).to_bytes(32, "little"),
            bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
            bytes(32),
        ],
    )
    def test_small_order_ed25519_rejected(self, raw: bytes) -> None:
        """An Ed25519 did:key for a small-order point (identity, order 8, order 4) is key.invalid_point."""
        assert _failure(_did_key(0xED, raw)) == (MalformedKey, "key.invalid_point")

    def test_leading_zero_bytes_are_part_of_the_value(self) -> None:
        """Leading base58 '1's decode to zero bytes, so they do not decode to a valid key prefix."""
        did = _did_key(0xED, _ed25519_raw())
        assert _failure(did.replace(":z", ":z1", 1)) == (MalformedKey, "key.unsupported_type")


class TestDidKeyFromJwk:
    @pytest.mark.parametrize(
        ("curve", "prefix"),
        [
            (ec.SECP256R1(), "zDn"),
            (ec.SECP384R1(), "z82"),
            (ec.SECP521R1(), "z2J9"),
            (ec.SECP256K1(), "zQ3s"),
        ],
    )
    def test_ec_prefixes(self, curve: ec.EllipticCurve, prefix: str) -> None:
        """EC keys encode with the did:key prefixes of the spec table and resolve back."""
        jwk = public_jwk_from_key(ec.generate_private_key(curve).public_key())
        did = did_key_from_jwk(jwk)
        assert did.startswith("did:key:" + prefix)
        assert resolve_did_key(did).verification_methods[0].public_key == jwk

    def test_ed25519_prefix(self) -> None:
        """Ed25519 keys encode as z6Mk DIDs."""
        jwk = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
        assert did_key_from_jwk(jwk).startswith("did:key:z6Mk")

    def test_rsa_refused(self) -> None:
        """RSA keys have no supported did:key encoding (key.unsupported_type)."""
        jwk = public_jwk_from_key(rsa.generate_private_key(65537, 2048).public_key())
        with pytest.raises(MalformedKey) as caught:
            did_key_from_jwk(jwk)
        assert caught.value.reason == "key.unsupported_type"
