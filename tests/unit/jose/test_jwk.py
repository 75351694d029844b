"""Public JWK parsing, conversion from cryptography keys, and thumbprints."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from service.errors import MalformedKey
from service.jose.encoding import b64url_encode
from service.jose.jwk import (
    jwk_thumbprint,
    jwk_thumbprint_uri,
    parse_key_agreement_jwk,
    parse_public_jwk,
    public_jwk_from_key,
)

# edwards25519 (RFC 8032 §5.1), recomputed here so the small-order tests do not trust the module's table.
P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
# RFC 8032 §7.1 TEST 1 public key.
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


def _sqrt(value: int) -> int | None:
    root = pow(value, (P + 3) // 8, P)
    if root * root % P != value % P:
        root = root * SQRT_M1 % P
    return root if root * root % P == value % P else None


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def _torsion_points() -> set[tuple[int, int]]:
    # Order 8 points double to order 4 points (y = 0), which gives d*u^2 + 2u - 1 = 0 for u = y^2.
    points = {(0, 1), (0, P - 1), (SQRT_M1, 0), (P - SQRT_M1, 0)}
    root = _sqrt(1 + D)
    assert root is not None
    for u in ((-1 + root) * pow(D, -1, P) % P, (-1 - root) * pow(D, -1, P) % P):
        y = _sqrt(u)
        if y is None:
            continue
        for yy in (y, P - y):
            x = _sqrt((yy * yy - 1) * pow(D * yy * yy + 1, -1, P))
            assert x is not None
            points |= {(x, yy), (P - x, yy)}
    return points


def _encodings(point: tuple[int, int]) -> list[bytes]:
    x, y = point
    ys = [y, y + P] if y + P < 2**255 else [y]  # non-canonical y + p where it still fits
    return [(value | sign << 255).to_bytes(32, "little") for value in ys for sign in (0, 1) if x or sign == 0]


def _small_order_encodings() -> list[bytes]:
    points = _torsion_points()
    assert len(points) == 8
    for point in points:
        eight = point
        for _ in range(3):
            eight = _add(eight, eight)
        assert eight == (0, 1)
    encodings = [raw for point in points for raw in _encodings(point)]
    # x = 0 with the sign bit set ("negative zero") is a second spelling of the identity and of (0, -1).
    encodings += [(1 | 1 << 255).to_bytes(32, "little"), (P - 1 | 1 << 255).to_bytes(32, "little")]
    return sorted(set(encodings))


def _unb64(text: str) -> bytes:
    # Lenient decoding on purpose: tests build malformed keys from well-formed ones.
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _small_p256_point() -> tuple[int, int]:
    # The smallest x on P-256; p is 3 mod 4, so a square root is one exponentiation.
    x = 0
    while True:
        rhs = (x**3 - 3 * x + P256_B) % P256_P
        y = pow(rhs, (P256_P + 1) // 4, P256_P)
        if y * y % P256_P == rhs:
            return x, y
        x += 1


def _coordinate(value: int) -> str:
    return b64url_encode(value.to_bytes(32, "big"))


def _okp(raw: bytes, crv: str = "Ed25519") -> dict[str, object]:
    return {"kty": "OKP", "crv": crv, "x": b64url_encode(raw)}


def _ec_jwk() -> dict[str, str]:
    return public_jwk_from_key(ec.generate_private_key(ec.SECP256R1()).public_key()).to_dict()


def _rsa_jwk(bits: int = 2048) -> dict[str, str]:
    numbers = rsa.generate_private_key(65537, bits).public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "n": b64url_encode(n), "e": "AQAB"}


def _reason(jwk: Mapping[str, object]) -> str:
    with pytest.raises(MalformedKey) as caught:
        parse_public_jwk(jwk)
    return caught.value.reason


class TestParseOkp:
    def test_rfc8032_key_parses(self) -> None:
        """The RFC 8032 test key parses to an OKP key with exactly crv, kty and x."""
        jwk = parse_public_jwk({**_okp(RFC8032_PUBLIC), "kid": "k", "alg": "EdDSA", "use": "sig"})
        assert (jwk.kty, jwk.crv) == ("OKP", "Ed25519")
        assert jwk.to_dict() == _okp(RFC8032_PUBLIC)
        assert isinstance(jwk.key, Ed25519PublicKey)
        assert jwk.key.public_bytes_raw() == RFC8032_PUBLIC

    def test_generated_keys_parse(self) -> None:
        """Freshly generated Ed25519 keys are never mistaken for invalid points."""
        for _ in range(50):
            raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
            key = parse_public_jwk(_okp(raw)).key
            assert isinstance(key, Ed25519PublicKey)
            assert key.public_bytes_raw() == raw

    @pytest.mark.parametrize("raw", _small_order_encodings(), ids=lambda raw: raw.hex()[:8] + raw.hex()[-2:])
    def test_small_order_keys_rejected(self, raw: bytes) -> None:
        """Every encoding of a small-order Ed25519 point, canonical or not, is key.invalid_point."""
        assert _reason(_okp(raw)) == "key.invalid_point"

    def test_non_canonical_y_rejected(self) -> None:
        """An Ed25519 y-coordinate of p or more is key.invalid_point."""
        assert _reason(_okp((P + 2).to_bytes(32, "little"))) == "key.invalid_point"

    @pytest.mark.parametrize("length", [31, 33, 0])
    def test_wrong_length_rejected(self, length: int) -> None:
        """An Ed25519 x that is not 32 bytes is key.invalid."""
        assert _reason(_okp(b"\x09" * length)) == "key.invalid"

    @pytest.mark.parametrize("crv", ["X25519", "Ed448", "P-256"])
    def test_other_okp_curves_unsupported(self, crv: str) -> None:
        """OKP curves other than Ed25519 are key.unsupported_type for signing keys."""
        assert _reason(_okp(RFC8032_PUBLIC, crv)) == "key.unsupported_type"


class TestParseEc:
    @pytest.mark.parametrize(
        ("curve", "size"),
        [(ec.SECP256R1(), 32), (ec.SECP384R1(), 48), (ec.SECP521R1(), 66), (ec.SECP256K1(), 32)],
    )
    def test_generated_keys_round_trip(self, curve: ec.EllipticCurve, size: int) -> None:
        """A JWK from a generated key parses back to an equal key with fixed-length coordinates."""
        public = ec.generate_private_key(curve).public_key()
        jwk = parse_public_jwk({**public_jwk_from_key(public).to_dict(), "kid": "ignored"})
        assert jwk == public_jwk_from_key(public)
        assert set(jwk.members) == {"crv", "kty", "x", "y"}
        assert isinstance(jwk.key, ec.EllipticCurvePublicKey)
        assert jwk.key.public_numbers() == public.public_numbers()
        assert len(_unb64(jwk.members["x"])) == size

    def test_off_curve_point_rejected(self) -> None:
        """Coordinates that are not a point on P-256 are key.invalid_point."""
        one = b64url_encode((1).to_bytes(32, "big"))
        assert _reason({"kty": "EC", "crv": "P-256", "x": one, "y": one}) == "key.invalid_point"

    def test_coordinate_above_field_rejected(self) -> None:
        """x + p, a second spelling of a valid point's x, is key.invalid_point."""
        x, y = _small_p256_point()
        valid = {"kty": "EC", "crv": "P-256", "x": _coordinate(x), "y": _coordinate(y)}
        assert parse_public_jwk(valid).members["x"] == _coordinate(x)
        assert _reason({**valid, "x": _coordinate(x + P256_P)}) == "key.invalid_point"

    def test_short_coordinate_rejected(self) -> None:
        """A coordinate shorter than the curve size (leading zero dropped) is key.invalid."""
        jwk = _ec_jwk()
        short = b64url_encode(_unb64(jwk["y"])[1:])
        assert _reason({**jwk, "y": short}) == "key.invalid"

    @pytest.mark.parametrize("crv", ["P-192", "P-224", "brainpoolP256r1", "Ed25519"])
    def test_unknown_curve_unsupported(self, crv: str) -> None:
        """EC curves outside the allow-list are key.unsupported_type."""
        assert _reason({**_ec_jwk(), "crv": crv}) == "key.unsupported_type"

    def test_missing_member_invalid(self) -> None:
        """An EC JWK without y is key.invalid."""
        jwk = _ec_jwk()
        del jwk["y"]
        assert _reason(dict(jwk)) == "key.invalid"


class TestParseRsa:
    def test_2048_bit_key_parses(self) -> None:
        """A 2048-bit RSA key keeps exactly e, kty and n."""
        raw = _rsa_jwk()
        jwk = parse_public_jwk({**raw, "alg": "RS256"})
        assert (jwk.kty, jwk.crv) == ("RSA", None)
        assert jwk.to_dict() == raw

    def test_short_key_rejected(self) -> None:
        """An RSA key below 2048 bits is key.invalid."""
        assert _reason(_rsa_jwk(1024)) == "key.invalid"

    def test_leading_zero_modulus_rejected(self) -> None:
        """A modulus with a leading zero octet is not a minimal Base64urlUInt (key.invalid)."""
        raw = _rsa_jwk()
        padded = b64url_encode(b"\x00" + _unb64(raw["n"]))
        assert _reason({**raw, "n": padded}) == "key.invalid"

    @pytest.mark.parametrize("exponent", [b"\x01", b"\x02"])
    def test_bad_exponent_rejected(self, exponent: bytes) -> None:
        """An exponent below 3 is key.invalid."""
        assert _reason({**_rsa_jwk(), "e": b64url_encode(exponent)}) == "key.invalid"


class TestParseGeneral:
    @pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
    def test_private_members_rejected(self, member: str) -> None:
        """Any private or symmetric member is key.private_material, whatever the key type."""
        assert _reason({**_ec_jwk(), member: "AQAB"}) == "key.private_material"

    def test_private_ec_key_rejected(self) -> None:
        """A complete private EC JWK is key.private_material, not silently reduced to its public part."""
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = {**_ec_jwk(), "d": b64url_encode(private.private_numbers().private_value.to_bytes(32, "big"))}
        assert _reason(jwk) == "key.private_material"

    @pytest.mark.parametrize("kty", ["oct", "X25519", "", "ec"])
    def test_unknown_kty_unsupported(self, kty: str) -> None:
        """Key types other than OKP, EC and RSA are key.unsupported_type."""
        assert _reason({"kty": kty, "crv": "P-256", "x": "AA", "y": "AA"}) == "key.unsupported_type"

    @pytest.mark.parametrize("kty", [None, 1, ["EC"]])
    def test_non_string_kty_invalid(self, kty: object) -> None:
        """A missing or non-string kty is key.invalid."""
        assert _reason({"kty": kty}) == "key.invalid"

    def test_padded_base64_rejected(self) -> None:
        """Padded base64url in a coordinate is key.invalid."""
        assert _reason({**_okp(RFC8032_PUBLIC), "x": b64url_encode(RFC8032_PUBLIC) + "="}) == "key.invalid"

    def test_description_does_not_echo_input(self) -> None:
        """The error never repeats the rejected key material."""
        marker = "ZZZZsecretZZZZ"
        with pytest.raises(MalformedKey) as caught:
            parse_public_jwk({"kty": "EC", "crv": "P-256", "x": marker, "y": marker})
        assert marker not in str(caught.value)

    def test_equal_keys_are_equal_and_hashable(self) -> None:
        """Two parses of one key are equal, hash alike, and differ from another key."""
        first = parse_public_jwk(_okp(RFC8032_PUBLIC))
        second = parse_public_jwk({**_okp(RFC8032_PUBLIC), "kid": "x"})
        other = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
        assert first == second
        assert len({first, second, other}) == 2


class TestKeyAgreementJwk:
    def test_x25519_parses(self) -> None:
        """An X25519 JWK parses as a key-agreement key with exactly crv, kty and x."""
        raw = X25519PrivateKey.generate().public_key().public_bytes_raw()
        jwk = parse_key_agreement_jwk({**_okp(raw, "X25519"), "use": "enc"})
        assert jwk.to_dict() == _okp(raw, "X25519")
        assert jwk.key.public_bytes_raw() == raw

    def test_ed25519_is_not_key_agreement(self) -> None:
        """An Ed25519 JWK is key.unsupported_type as a key-agreement key."""
        with pytest.raises(MalformedKey) as caught:
            parse_key_agreement_jwk(_okp(RFC8032_PUBLIC))
        assert caught.value.reason == "key.unsupported_type"

    def test_private_x25519_rejected(self) -> None:
        """An X25519 JWK with d is key.private_material."""
        with pytest.raises(MalformedKey) as caught:
            parse_key_agreement_jwk({**_okp(RFC8032_PUBLIC, "X25519"), "d": "AA"})
        assert caught.value.reason == "key.private_material"


class TestPublicJwkFromKey:
    def test_unsupported_curve_rejected(self) -> None:
        """A key on a curve we do not verify (P-224) is key.unsupported_type."""
        with pytest.raises(MalformedKey) as caught:
            public_jwk_from_key(ec.generate_private_key(ec.SECP224R1()).public_key())
        assert caught.value.reason == "key.unsupported_type"

    def test_small_order_ed25519_key_rejected(self) -> None:
        """A small-order Ed25519 key object is refused like its JWK."""
        identity = Ed25519PublicKey.from_public_bytes((1).to_bytes(32, "little"))
        with pytest.raises(MalformedKey) as caught:
            public_jwk_from_key(identity)
        assert caught.value.reason == "key.invalid_point"

    def test_rsa_key_converts(self) -> None:
        """An RSA key converts to minimal n and e."""
        key = rsa.generate_private_key(65537, 2048).public_key()
        parsed = parse_public_jwk(public_jwk_from_key(key).to_dict())
        assert parsed.members["e"] == "AQAB"
        assert isinstance(parsed.key, rsa.RSAPublicKey)
        assert parsed.key.public_numbers() == key.public_numbers()


class TestThumbprint:
    def test_extra_members_do_not_change_thumbprint(self) -> None:
        """kid, use and alg are not part of the thumbprint."""
        plain = parse_public_jwk(_okp(RFC8032_PUBLIC))
        decorated = parse_public_jwk({**_okp(RFC8032_PUBLIC), "kid": "1", "use": "sig", "alg": "EdDSA"})
        assert jwk_thumbprint(plain) == jwk_thumbprint(decorated)

    def test_different_keys_differ(self) -> None:
        """Different keys have different thumbprints (43 base64url characters)."""
        first = jwk_thumbprint(public_jwk_from_key(Ed25519PrivateKey.generate().public_key()))
        second = jwk_thumbprint(public_jwk_from_key(Ed25519PrivateKey.generate().public_key()))
        assert first != second
        assert len(first) == 43

    def test_uri_form(self) -> None:
        """The RFC 9278 URI is the sha-256 URN prefix followed by the thumbprint."""
        jwk = parse_public_jwk(_okp(RFC8032_PUBLIC))
        prefix = "urn:ietf:params:oauth:jwk-thumbprint:sha-256:"
        assert jwk_thumbprint_uri(jwk) == prefix + jwk_thumbprint(jwk)
