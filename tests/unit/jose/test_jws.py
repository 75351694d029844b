"""Compact JWS: strict decoding, allow-listed verification (RFC 8725), and signing our own tokens."""

from __future__ import annotations

import functools
import hashlib
import json
import re

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from service.errors import IdTokenInvalid, InvalidRequest, VerifierError
from service.jose.encoding import b64url_encode
from service.jose.jwk import PublicJwk, public_jwk_from_key
from service.jose.jws import (
    ALG_KEY_TYPES,
    PrivateKey,
    TokenKind,
    decode_jws,
    sign_jws,
    unsigned_jwt,
    verify_jws,
)

KIND = TokenKind("t", IdTokenInvalid)
ALL_ALGS = frozenset(ALG_KEY_TYPES)
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
EC_CURVES: dict[str, ec.EllipticCurve] = {
    "ES256": ec.SECP256R1(),
    "ES384": ec.SECP384R1(),
    "ES512": ec.SECP521R1(),
    "ES256K": ec.SECP256K1(),
}
PAYLOAD = {"iss": "did:example:holder", "nonce": "n-0S6_WzA2Mj", "n": 1}


def _private_key(alg: str) -> PrivateKey:
    if alg == "EdDSA":
        return Ed25519PrivateKey.generate()
    return ec.generate_private_key(EC_CURVES[alg])


def _public(private_key: PrivateKey) -> PublicJwk:
    return public_jwk_from_key(private_key.public_key())


@functools.cache
def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


def _segment(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return b64url_encode(raw)


def _compact(header: object, payload: object, signature: bytes = b"\x01" * 64) -> str:
    return f"{_segment(header)}.{_segment(payload)}.{b64url_encode(signature)}"


def _ed25519_token() -> str:
    return sign_jws({"typ": "JWT"}, PAYLOAD, Ed25519PrivateKey.generate())


def _failure(token: object, **kwargs: int) -> VerifierError:
    with pytest.raises(VerifierError) as caught:
        decode_jws(token, kind=KIND, **kwargs)
    return caught.value


def _reason(token: object, **kwargs: int) -> str:
    return _failure(token, **kwargs).reason


def _verify_reason(token: str, key: PublicJwk, allowed: frozenset[str] = ALL_ALGS) -> str:
    jws = decode_jws(token, kind=KIND)
    with pytest.raises(IdTokenInvalid) as caught:
        verify_jws(jws, key, allowed_algs=allowed, kind=KIND)
    return caught.value.reason


class TestTokenKind:
    def test_fail_builds_the_kinds_error_with_its_prefix(self) -> None:
        """TokenKind.fail returns the kind's error class with reason '<prefix>.<check>'."""
        error = KIND.fail("bad_signature", "no")
        assert type(error) is IdTokenInvalid
        assert error.reason == "t.bad_signature"


class TestVerifyAlgorithms:
    @pytest.mark.parametrize("alg", ["EdDSA", "ES256", "ES384", "ES512", "ES256K"])
    def test_each_supported_alg_verifies(self, alg: str) -> None:
        """A token signed by sign_jws with each holder algorithm decodes and verifies with the public key."""
        private_key = _private_key(alg)
        token = sign_jws({"kid": "k1"}, PAYLOAD, private_key)
        jws = decode_jws(token, kind=KIND)
        assert jws.alg == alg
        assert jws.kid == "k1"
        assert dict(jws.payload) == PAYLOAD
        verify_jws(jws, _public(private_key), allowed_algs=frozenset({alg}), kind=KIND)

    @pytest.mark.parametrize("alg", ["EdDSA", "ES256", "ES384", "ES512", "ES256K"])
    def test_signature_from_another_key_rejected(self, alg: str) -> None:
        """The same token does not verify with a different key of the same type: bad_signature."""
        token = sign_jws({}, PAYLOAD, _private_key(alg))
        assert _verify_reason(token, _public(_private_key(alg))) == "t.bad_signature"

    def test_tampered_payload_rejected(self) -> None:
        """Swapping in another payload under the original signature is bad_signature."""
        private_key = _private_key("ES256")
        header, _, signature = sign_jws({}, PAYLOAD, private_key).split(".")
        forged = f"{header}.{_segment({**PAYLOAD, 'n': 2})}.{signature}"
        assert _verify_reason(forged, _public(private_key)) == "t.bad_signature"

    def test_fully_specified_ed25519_alg_verifies(self) -> None:
        """The fully specified 'Ed25519' alg (RFC 9864) verifies with an Ed25519 key."""
        private_key = Ed25519PrivateKey.generate()
        signing_input = f"{_segment({'alg': 'Ed25519'})}.{_segment(PAYLOAD)}"
        token = signing_input + "." + b64url_encode(private_key.sign(signing_input.encode()))
        verify_jws(decode_jws(token, kind=KIND), _public(private_key), allowed_algs=ALL_ALGS, kind=KIND)

    @pytest.mark.parametrize("alg", ["RS256", "PS256"])
    def test_rsa_algs_verify(self, alg: str) -> None:
        """RS256 (PKCS#1 v1.5) and PS256 (PSS, 32-byte salt) issuer signatures verify with the RSA key."""
        private_key = _rsa_key()
        signing_input = f"{_segment({'alg': alg})}.{_segment(PAYLOAD)}".encode()
        pad = (
            padding.PKCS1v15()
            if alg == "RS256"
            else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        )
        signature = private_key.sign(signing_input, pad, hashes.SHA256())
        token = signing_input.decode() + "." + b64url_encode(signature)
        key = public_jwk_from_key(private_key.public_key())
        verify_jws(decode_jws(token, kind=KIND), key, allowed_algs=frozenset({alg}), kind=KIND)
        # The other RSA padding must not accept it.
        other = "PS256" if alg == "RS256" else "RS256"
        forged = f"{_segment({'alg': other})}.{token.split('.', 1)[1]}"
        assert _verify_reason(forged, key) == "t.bad_signature"

    @pytest.mark.parametrize("alg", ["none", "None", "HS256", "HS512", "RS512", "ES256X", ""])
    def test_algs_outside_the_table_rejected_at_decode(self, alg: str) -> None:
        """`none`, HMAC and unknown algorithms are alg_not_allowed before any key is looked at."""
        assert _reason(_compact({"alg": alg}, PAYLOAD)) == "t.alg_not_allowed"

    def test_unsigned_jwt_rejected(self) -> None:
        """An unsecured JWT made by unsigned_jwt (alg none, empty signature) is alg_not_allowed."""
        token = unsigned_jwt({"typ": "JWT"}, PAYLOAD)
        assert token.endswith(".")
        assert _reason(token) == "t.alg_not_allowed"

    def test_allow_list_narrower_than_supported(self) -> None:
        """An ES256 token is alg_not_allowed when only EdDSA is allowed, even with a matching key."""
        private_key = _private_key("ES256")
        token = sign_jws({}, PAYLOAD, private_key)
        reason = _verify_reason(token, _public(private_key), allowed=frozenset({"EdDSA"}))
        assert reason == "t.alg_not_allowed"

    @pytest.mark.parametrize(
        ("alg", "key_alg"),
        [("ES256", "ES384"), ("ES256", "ES256K"), ("ES512", "ES256"), ("EdDSA", "ES256"), ("ES256", "EdDSA")],
    )
    def test_alg_key_mismatch(self, alg: str, key_alg: str) -> None:
        """A header alg that does not fit the key's type and curve is alg_key_mismatch (RFC 8725 §3.2)."""
        token = sign_jws({}, PAYLOAD, _private_key(alg))
        assert _verify_reason(token, _public(_private_key(key_alg))) == "t.alg_key_mismatch"

    def test_rsa_alg_with_ec_key_is_mismatch(self) -> None:
        """An RS256 header over an EC key is alg_key_mismatch, never a verification attempt."""
        token = _compact({"alg": "RS256"}, PAYLOAD, b"\x00" * 256)
        assert _verify_reason(token, _public(_private_key("ES256"))) == "t.alg_key_mismatch"


class TestEcdsaSignatureEncoding:
    @pytest.mark.parametrize("length", [0, 63, 65, 128])
    def test_wrong_length_signature_rejected(self, length: int) -> None:
        """An ES256 signature that is not exactly 64 bytes (r||s) is bad_signature."""
        private_key = _private_key("ES256")
        header, payload, signature = sign_jws({}, PAYLOAD, private_key).split(".")
        raw = decode_jws(f"{header}.{payload}.{signature}", kind=KIND).signature
        # Keep the genuine bytes where there are any, so only the length is wrong.
        wrong = (raw * 2)[:length]
        token = f"{header}.{payload}.{b64url_encode(wrong)}"
        assert _verify_reason(token, _public(private_key)) == "t.bad_signature"

    @pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
    def test_der_signature_rejected_while_its_raw_form_verifies(self, alg: str) -> None:
        """A valid ECDSA signature in DER (not JWS r||s) is bad_signature; the same r, s as r||s verifies."""
        private_key = ec.generate_private_key(EC_CURVES[alg])
        signing_input = f"{_segment({'alg': alg})}.{_segment(PAYLOAD)}"
        hash_algorithm = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}[alg]
        der = private_key.sign(signing_input.encode(), ec.ECDSA(hash_algorithm))
        der_token = signing_input + "." + b64url_encode(der)
        assert _verify_reason(der_token, _public(private_key)) == "t.bad_signature"
        r, s = decode_dss_signature(der)
        size = (private_key.curve.key_size + 7) // 8
        raw_token = signing_input + "." + b64url_encode(r.to_bytes(size, "big") + s.to_bytes(size, "big"))
        verify_jws(decode_jws(raw_token, kind=KIND), _public(private_key), allowed_algs=ALL_ALGS, kind=KIND)


class TestEd25519Strictness:
    """Ed25519 is checked with libsodium: RFC 8032 §5.1.7 plus its refusals of small-order points."""

    _L = 2**252 + 27742317777372353535851937790883648493  # the group order (RFC 8032 §5.1)

    @staticmethod
    def _signed() -> tuple[Ed25519PrivateKey, str, bytes]:
        private_key = Ed25519PrivateKey.generate()
        jws = decode_jws(sign_jws({}, PAYLOAD, private_key), kind=KIND)
        return private_key, jws.signing_input.decode(), jws.signature

    def test_s_plus_l_malleation_rejected(self) -> None:
        """S + L is the same S modulo L: refused (S must be below L), as OpenSSL refuses it too."""
        private_key, signing_input, signature = self._signed()
        s = int.from_bytes(signature[32:], "little") + self._L
        malleated = signature[:32] + s.to_bytes(32, "little")
        token = f"{signing_input}.{b64url_encode(malleated)}"
        assert _verify_reason(token, _public(private_key)) == "t.bad_signature"
        with pytest.raises(InvalidSignature):
            private_key.public_key().verify(malleated, signing_input.encode())

    @pytest.mark.parametrize("length", [0, 63, 65])
    def test_wrong_length_signature_rejected(self, length: int) -> None:
        """An EdDSA signature that is not exactly 64 bytes is bad_signature."""
        private_key, signing_input, signature = self._signed()
        token = f"{signing_input}.{b64url_encode((signature * 2)[:length])}"
        assert _verify_reason(token, _public(private_key)) == "t.bad_signature"

    def test_small_order_r_rejected_though_openssl_accepts_it(self) -> None:
        """A signature with R = the identity that satisfies the equation is refused (libsodium's rule)."""
        private_key = Ed25519PrivateKey.generate()
        seed = private_key.private_bytes_raw()
        scalar = bytearray(hashlib.sha512(seed).digest()[:32])
        scalar[0] &= 248
        scalar[31] = (scalar[31] & 127) | 64
        a = int.from_bytes(scalar, "little")
        public = private_key.public_key().public_bytes_raw()
        signing_input = f"{_segment({'alg': 'EdDSA'})}.{_segment(PAYLOAD)}".encode()
        identity = (1).to_bytes(32, "little")
        k = int.from_bytes(hashlib.sha512(identity + public + signing_input).digest(), "little") % self._L
        signature = identity + (k * a % self._L).to_bytes(32, "little")
        private_key.public_key().verify(signature, signing_input)  # OpenSSL: valid
        token = f"{signing_input.decode()}.{b64url_encode(signature)}"
        assert _verify_reason(token, _public(private_key)) == "t.bad_signature"


class TestHeaderRules:
    def test_crit_rejected(self) -> None:
        """Any `crit` header is unsupported_crit: we understand no extension (RFC 7515 §4.1.11)."""
        assert _reason(_compact({"alg": "ES256", "crit": ["exp"], "exp": 1}, PAYLOAD)) == "t.unsupported_crit"

    def test_empty_crit_rejected(self) -> None:
        """Even an empty `crit` list is unsupported_crit."""
        assert _reason(_compact({"alg": "ES256", "crit": []}, PAYLOAD)) == "t.unsupported_crit"

    def test_crit_b64_rejected(self) -> None:
        """An unencoded-payload token marked critical (RFC 7797) is unsupported_crit."""
        header = {"alg": "ES256", "b64": False, "crit": ["b64"]}
        assert _reason(_compact(header, PAYLOAD)) == "t.unsupported_crit"

    @pytest.mark.parametrize("b64", [False, True])
    def test_b64_header_rejected(self, b64: bool) -> None:
        """A `b64` header without `crit` is malformed: unencoded payloads are never accepted."""
        assert _reason(_compact({"alg": "ES256", "b64": b64}, PAYLOAD)) == "t.malformed"

    @pytest.mark.parametrize("header", [{}, {"alg": 5}, {"alg": None}, {"alg": ["ES256"]}])
    def test_missing_or_non_string_alg_malformed(self, header: dict[str, object]) -> None:
        """A header without a string `alg` is malformed."""
        assert _reason(_compact(header, PAYLOAD)) == "t.malformed"

    def test_non_string_kid_reads_as_none(self) -> None:
        """A `kid` that is not a string is reported as absent, never coerced."""
        jws = decode_jws(_compact({"alg": "ES256", "kid": 7}, PAYLOAD), kind=KIND)
        assert jws.kid is None


class TestMalformedTokens:
    @pytest.mark.parametrize("segments", [1, 2, 4, 5])
    def test_wrong_segment_count(self, segments: int) -> None:
        """Anything but three dot-separated segments (a JWE has five) is malformed."""
        parts = _ed25519_token().split(".")
        token = ".".join((parts * 2)[:segments])
        assert _reason(token) == "t.malformed"

    @pytest.mark.parametrize("token", ["", None, b"a.b.c", 12, ["a", "b", "c"]])
    def test_not_a_non_empty_string(self, token: object) -> None:
        """The empty string and non-string values are malformed."""
        assert _reason(token) == "t.malformed"

    def test_non_ascii_rejected(self) -> None:
        """A token with a non-ASCII character is malformed."""
        header, payload, signature = _ed25519_token().split(".")
        assert _reason(f"{header}.{payload}é.{signature}") == "t.malformed"

    @pytest.mark.parametrize("part", [0, 1, 2])
    def test_padding_rejected(self, part: int) -> None:
        """A segment carrying '=' padding is malformed (JWS base64url has none)."""
        token = _compact({"alg": "EdDSA", "x": "ab"}, {"p": "abcd"}, b"\x01" * 64)
        parts = token.split(".")
        parts[part] += "=" * (-len(parts[part]) % 4 or 4)
        assert _reason(".".join(parts)) == "t.malformed"

    @pytest.mark.parametrize("char", ["+", "/", " ", "%"])
    def test_other_alphabets_rejected(self, char: str) -> None:
        """Standard-base64 characters and other symbols inside a segment are malformed."""
        header, payload, signature = _ed25519_token().split(".")
        assert _reason(f"{header}.{payload}.{char}{signature[1:]}") == "t.malformed"

    def test_non_canonical_tail_bits_rejected(self) -> None:
        """A segment whose unused tail bits are set (a second spelling of the same bytes) is malformed."""
        header, payload, signature = _ed25519_token().split(".")
        assert len(signature) % 4 == 2  # 64 bytes: the last character carries 4 unused bits
        value = B64URL_ALPHABET.index(signature[-1])
        assert value & 0b1111 == 0
        tweaked = signature[:-1] + B64URL_ALPHABET[value | 0b0001]
        assert _reason(f"{header}.{payload}.{tweaked}") == "t.malformed"

    @pytest.mark.parametrize(
        "header", [b'["alg","EdDSA"]', b'"EdDSA"', b"null", b"42", b"not json", b"", b"\xff\xfe"]
    )
    def test_header_not_a_json_object(self, header: bytes) -> None:
        """A header that is a JSON array, another JSON value, or not JSON at all is malformed."""
        assert _reason(f"{b64url_encode(header)}.{_segment(PAYLOAD)}.AAAA") == "t.malformed"

    @pytest.mark.parametrize("payload", [b'["a"]', b'"text"', b"true", b"{", b"\xc3\x28"])
    def test_payload_not_a_json_object(self, payload: bytes) -> None:
        """A payload that is not a JSON object (or not UTF-8 JSON) is malformed."""
        assert _reason(f"{_segment({'alg': 'EdDSA'})}.{b64url_encode(payload)}.AAAA") == "t.malformed"

    def test_duplicate_header_member_rejected(self) -> None:
        """A header naming `alg` twice is malformed, whichever value a parser would keep."""
        header = b'{"alg":"EdDSA","alg":"none"}'
        assert _reason(f"{b64url_encode(header)}.{_segment(PAYLOAD)}.AAAA") == "t.malformed"

    def test_duplicate_payload_member_rejected(self) -> None:
        """A payload naming `nonce` twice is malformed."""
        payload = b'{"nonce":"a","nonce":"b"}'
        assert _reason(f"{_segment({'alg': 'EdDSA'})}.{b64url_encode(payload)}.AAAA") == "t.malformed"

    @pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
    def test_non_standard_constants_rejected(self, constant: bytes) -> None:
        """NaN and Infinity in the payload are malformed."""
        payload = b'{"exp":' + constant + b"}"
        assert _reason(f"{_segment({'alg': 'EdDSA'})}.{b64url_encode(payload)}.AAAA") == "t.malformed"

    @pytest.mark.parametrize("opener", [b"[", b'{"a":'])
    def test_deeply_nested_payload_rejected(self, opener: bytes) -> None:
        """A payload nested 10000 levels deep is malformed (a typed error, never a RecursionError)."""
        payload = b'{"a":' + opener * 10000
        error = _failure(f"{_segment({'alg': 'EdDSA'})}.{b64url_encode(payload)}.AAAA")
        assert error.reason == "t.malformed"

    @pytest.mark.parametrize("encoding", ["utf-16-le", "utf-32", "utf-8-sig"])
    def test_header_not_utf8_rejected(self, encoding: str) -> None:
        """A header encoded as UTF-16/32 or with a BOM is malformed: JWS is BASE64URL(UTF8(header))."""
        header = b64url_encode('{"alg":"EdDSA"}'.encode(encoding))
        assert _reason(f"{header}.{_segment(PAYLOAD)}.AAAA") == "t.malformed"

    def test_structural_failures_use_the_kinds_error_class(self) -> None:
        """Failures after base64url decoding are raised as the kind's error class."""
        assert type(_failure(_compact(["alg"], PAYLOAD))) is IdTokenInvalid
        assert type(_failure("a.b")) is IdTokenInvalid

    def test_base64url_failures_use_the_kinds_error_class(self) -> None:
        """A segment that is not base64url is reported with the kind's error class, like other failures."""
        error = _failure("e=.e30.AAAA")
        assert error.reason == "t.malformed"
        assert type(error) is IdTokenInvalid

    def test_every_failure_is_invalid_request(self) -> None:
        """Decoding failures all map to the OAuth invalid_request error."""
        for token in ["", "a.b", "e=.e30.AAAA", _compact({"alg": "none"}, PAYLOAD)]:
            error = _failure(token)
            assert isinstance(error, InvalidRequest)
            assert error.reason.startswith("t.")


class TestSizeLimit:
    def test_token_over_max_length_too_large(self) -> None:
        """A token one character over max_length is too_large; exactly max_length decodes."""
        token = _ed25519_token()
        assert _reason(token, max_length=len(token) - 1) == "t.too_large"
        assert decode_jws(token, kind=KIND, max_length=len(token)).raw == token

    def test_too_large_checked_before_parsing(self) -> None:
        """An oversized string is too_large even when it is not a token at all."""
        assert _reason("x" * 300_000) == "t.too_large"


class TestDecodedJws:
    def test_signing_input_and_raw(self) -> None:
        """signing_input is the ASCII 'header.payload' and raw is the token as given."""
        token = _ed25519_token()
        jws = decode_jws(token, kind=KIND)
        assert jws.signing_input == token.rsplit(".", 1)[0].encode("ascii")
        assert jws.raw == token
        assert len(jws.signature) == 64

    def test_digest_is_short_and_does_not_leak_the_token(self) -> None:
        """digest() is 16 hex characters, stable per token, different between tokens."""
        token, other = _ed25519_token(), _ed25519_token()
        jws = decode_jws(token, kind=KIND)
        assert re.fullmatch(r"[0-9a-f]{16}", jws.digest())
        assert jws.digest() == decode_jws(token, kind=KIND).digest()
        assert jws.digest() != decode_jws(other, kind=KIND).digest()
        assert jws.digest() not in token


class TestSignJws:
    def test_alg_comes_from_the_key_not_the_caller(self) -> None:
        """A caller-supplied alg (even 'none') is overwritten with the key's algorithm."""
        token = sign_jws({"alg": "none", "typ": "JWT"}, PAYLOAD, _private_key("ES384"))
        jws = decode_jws(token, kind=KIND)
        assert jws.alg == "ES384"
        assert jws.header["typ"] == "JWT"

    def test_compact_form_is_canonical_base64url(self) -> None:
        """sign_jws emits three unpadded base64url segments."""
        token = sign_jws({}, {"text": "ünïcode"}, _private_key("EdDSA"))
        assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
        assert decode_jws(token, kind=KIND).payload["text"] == "ünïcode"
