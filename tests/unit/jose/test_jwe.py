"""Encrypted responses (OpenID4VP 1.0 §8.3): per-transaction keys and ECDH-ES + AES-GCM decryption."""

from __future__ import annotations

import functools
import json
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.errors import ConfigurationError, LimitExceeded, MalformedResponse, VerifierError
from service.jose.encoding import b64url_decode, b64url_encode
from service.jose.jwe import DEFAULT_ALLOWED_ENC, ResponseKey, decrypt_response, derive_response_key
from service.jose.jwk import jwk_thumbprint, parse_public_jwk
from tests.e2e.actors.jwe import encrypt_bytes, encrypt_response
from tests.e2e.actors.keys import DELETE

SECRET = b"s" * 32
MAX_LENGTH = 64 * 1024
MAX_PLAINTEXT = 16 * 1024
PAYLOAD = {"vp_token": {"q": ["eyJhbGciOi.x.y"]}, "state": "st-1"}
DECRYPT_FAILED = "response.jwe_decrypt_failed"
MALFORMED = "response.jwe_malformed"


@functools.cache
def _key(transaction_id: bytes = b"tx-1") -> ResponseKey:
    return derive_response_key(SECRET, transaction_id)


def _decrypt(compact: str, key: ResponseKey | None = None, **limits: Any) -> bytes:
    options: dict[str, Any] = {"max_length": MAX_LENGTH, "max_plaintext": MAX_PLAINTEXT, **limits}
    return decrypt_response(compact, key or _key(), **options)


def _reason(call: Callable[[], object]) -> str:
    with pytest.raises(VerifierError) as caught:
        call()
    return caught.value.reason


def _parts(compact: str) -> list[str]:
    return compact.split(".")


def _flip_first_bit(part: str) -> str:
    raw = bytearray(b64url_decode(part))
    raw[0] ^= 0x01
    return b64url_encode(bytes(raw))


def _replace_part(compact: str, index: int, value: str) -> str:
    parts = _parts(compact)
    parts[index] = value
    return ".".join(parts)


def _header(compact: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(_parts(compact)[0]))
    return header


class TestDeriveResponseKey:
    def test_deterministic_per_secret_and_transaction(self) -> None:
        """The same secret and transaction id give the same private key and kid (the service is stateless)."""
        first = derive_response_key(SECRET, b"tx-1")
        second = derive_response_key(SECRET, b"tx-1")
        assert first.kid == second.kid
        assert first.private_key.private_numbers() == second.private_key.private_numbers()

    def test_differs_across_transactions(self) -> None:
        """Two transactions never share a key, so one response cannot be replayed into another."""
        one, other = derive_response_key(SECRET, b"tx-1"), derive_response_key(SECRET, b"tx-2")
        assert one.private_key.private_numbers() != other.private_key.private_numbers()
        assert one.kid != other.kid

    def test_differs_across_secrets(self) -> None:
        """Another deployment's secret derives another key for the same transaction id."""
        one, other = derive_response_key(SECRET, b"tx-1"), derive_response_key(b"t" * 32, b"tx-1")
        assert one.private_key.private_numbers() != other.private_key.private_numbers()

    def test_kid_is_a_thumbprint_prefix(self) -> None:
        """The kid is 16 base64url characters of the public key's thumbprint, not the transaction id."""
        key = derive_response_key(SECRET, b"transaction-abc")
        assert len(key.kid) == 16
        assert key.kid == jwk_thumbprint(parse_public_jwk(key.public_jwk()))[:16]
        assert "transaction" not in key.kid

    def test_short_secret_is_refused(self) -> None:
        """A secret under 16 bytes fails loudly rather than deriving guessable keys."""
        with pytest.raises(ConfigurationError) as caught:
            derive_response_key(b"short", b"tx-1")
        assert caught.value.reason == "config.response_key_secret"


class TestResponseKey:
    def test_public_jwk_shape(self) -> None:
        """public_jwk is exactly the EC P-256 public members plus kid, use=enc and alg=ECDH-ES."""
        key = _key()
        jwk = key.public_jwk()
        assert set(jwk) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
        assert (jwk["kty"], jwk["crv"], jwk["kid"], jwk["use"], jwk["alg"]) == (
            "EC",
            "P-256",
            key.kid,
            "enc",
            "ECDH-ES",
        )
        numbers = key.private_key.public_key().public_numbers()
        assert b64url_decode(jwk["x"]) == numbers.x.to_bytes(32, "big")
        assert b64url_decode(jwk["y"]) == numbers.y.to_bytes(32, "big")

    def test_other_curves_are_refused(self) -> None:
        """A P-384 private key cannot become a response key: the published JWK would claim P-256."""
        with pytest.raises(ConfigurationError) as caught:
            ResponseKey("k", ec.generate_private_key(ec.SECP384R1()))
        assert caught.value.reason == "config.response_key_curve"


class TestRoundTrip:
    @pytest.mark.parametrize("enc", ["A128GCM", "A256GCM"])
    def test_wallet_encryption_decrypts(self, enc: str) -> None:
        """What the independent wallet actor encrypts, the service decrypts to the same JSON."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), enc=enc)
        assert _header(compact)["enc"] == enc
        assert json.loads(_decrypt(compact)) == PAYLOAD

    def test_kid_header_comes_from_the_jwk(self) -> None:
        """The actor copies the published kid into the header, and the service accepts it."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk())
        assert _header(compact)["kid"] == _key().kid
        assert json.loads(_decrypt(compact)) == PAYLOAD

    def test_without_kid(self) -> None:
        """kid is optional in the header (OpenID4VP 1.0 §8.3: only if the key had one)."""
        jwk = {name: value for name, value in _key().public_jwk().items() if name != "kid"}
        compact = encrypt_response(PAYLOAD, jwk)
        assert "kid" not in _header(compact)
        assert json.loads(_decrypt(compact)) == PAYLOAD

    def test_with_apu_and_apv(self) -> None:
        """apu/apv enter the Concat KDF (RFC 7518 §4.6.2); both sides agree on the CEK."""
        overrides = {"apu": b64url_encode(b"wallet nonce"), "apv": b64url_encode(b"verifier nonce")}
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), enc="A256GCM", header_overrides=overrides)
        assert json.loads(_decrypt(compact)) == PAYLOAD

    def test_apu_changes_the_key(self) -> None:
        """A header apu that the sender did not use in its KDF breaks decryption (apu is bound)."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides={"apu": "QWxpY2U"})
        header = _header(compact) | {"apu": b64url_encode(b"Mallory")}
        # The header is AAD too, so decrypt_failed is what both the KDF and the tag say.
        tampered = _replace_part(compact, 0, b64url_encode(json.dumps(header).encode()))
        assert _reason(lambda: _decrypt(tampered)) == DECRYPT_FAILED

    @pytest.mark.parametrize("enc", ["A128GCM", "A256GCM"])
    def test_deflate(self, enc: str) -> None:
        """zip=DEF plaintext is inflated after decryption (RFC 7516 §4.1.3)."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), enc=enc, compress=True)
        assert _header(compact)["zip"] == "DEF"
        assert json.loads(_decrypt(compact)) == PAYLOAD

    def test_plaintext_exactly_at_the_cap(self) -> None:
        """The plaintext cap is inclusive, compressed or not."""
        plaintext = b"x" * 100
        jwk = _key().public_jwk()
        assert _decrypt(encrypt_bytes(plaintext, jwk), max_plaintext=100) == plaintext
        assert _decrypt(encrypt_bytes(plaintext, jwk, compress=True), max_plaintext=100) == plaintext

    def test_rfc7518_appendix_c_key_agreement(self) -> None:
        """RFC 7518 App. C: Bob's key, Alice's epk, apu "Alice", apv "Bob" give CEK VqqN6vgjbSBcIijNcacQGg."""
        bob = ec.derive_private_key(
            int.from_bytes(b64url_decode("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw"), "big"),
            ec.SECP256R1(),
        )
        header = {
            "alg": "ECDH-ES",
            "enc": "A128GCM",
            "apu": "QWxpY2U",
            "apv": "Qm9i",
            "epk": {
                "kty": "EC",
                "crv": "P-256",
                "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0",
                "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps",
            },
        }
        protected = b64url_encode(json.dumps(header).encode())
        iv = b"\x00" * 12
        cek = b64url_decode("VqqN6vgjbSBcIijNcacQGg")
        sealed = AESGCM(cek).encrypt(iv, b"known answer", protected.encode())
        compact = ".".join(
            [protected, "", b64url_encode(iv), b64url_encode(sealed[:-16]), b64url_encode(sealed[-16:])]
        )
        assert _decrypt(compact, ResponseKey("bob", bob)) == b"known answer"


class TestLimits:
    def test_oversized_compact_is_refused_first(self) -> None:
        """A compact JWE over max_length is refused before it is decoded, even if it is valid."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk())
        assert _decrypt(compact, max_length=len(compact)) is not None
        with pytest.raises(LimitExceeded) as caught:
            _decrypt(compact, max_length=len(compact) - 1)
        assert caught.value.reason == "limits.jwe_size"

    def test_oversized_garbage_reports_size(self) -> None:
        """The size cap runs before parsing: oversized garbage reports limits, not malformed."""
        assert _reason(lambda: _decrypt("!" * 101, max_length=100)) == "limits.jwe_size"

    def test_oversized_plaintext(self) -> None:
        """An uncompressed plaintext over max_plaintext is refused."""
        compact = encrypt_bytes(b"x" * 101, _key().public_jwk())
        with pytest.raises(LimitExceeded) as caught:
            _decrypt(compact, max_plaintext=100)
        assert caught.value.reason == "limits.jwe_plaintext"

    def test_zip_bomb(self) -> None:
        """A small DEFLATE stream that inflates far past max_plaintext is stopped at the cap."""
        compact = encrypt_bytes(b"\x00" * 5_000_000, _key().public_jwk(), compress=True)
        assert len(compact) < 10_000
        with pytest.raises(LimitExceeded) as caught:
            _decrypt(compact, max_plaintext=10_000)
        assert caught.value.reason == "limits.jwe_plaintext"

    def test_zip_bomb_is_never_inflated_in_full(self) -> None:
        """Inflation stops one byte past the cap: memory stays far below what the bomb expands to."""
        compact = encrypt_bytes(b"\x00" * 20_000_000, _key().public_jwk(), compress=True)
        tracemalloc.start()
        try:
            with pytest.raises(LimitExceeded):
                _decrypt(compact, max_length=len(compact), max_plaintext=10_000)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 2_000_000

    def test_compressed_one_byte_over(self) -> None:
        """A compressed plaintext one byte over the cap is refused (the bound is exact)."""
        compact = encrypt_bytes(b"x" * 101, _key().public_jwk(), compress=True)
        assert _reason(lambda: _decrypt(compact, max_plaintext=100)) == "limits.jwe_plaintext"


class TestHeaderRefusals:
    @pytest.mark.parametrize("alg", ["ECDH-ES+A128KW", "RSA-OAEP", "dir", "none", "ecdh-es", DELETE, 1])
    def test_other_alg(self, alg: object) -> None:
        """Only direct ECDH-ES is accepted; key wrapping, RSA, dir and a missing alg are refused."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides={"alg": alg})
        assert _reason(lambda: _decrypt(compact)) == "response.jwe_unsupported_alg"

    def test_enc_outside_the_allow_list(self) -> None:
        """A256GCM decrypts by default but is refused when only A128GCM is allowed."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), enc="A256GCM")
        assert _reason(lambda: _decrypt(compact, allowed_enc=frozenset({"A128GCM"}))) == (
            "response.jwe_unsupported_enc"
        )

    @pytest.mark.parametrize("enc", ["A192GCM", "A128CBC-HS256", DELETE, ["A128GCM"]])
    def test_unsupported_enc(self, enc: object) -> None:
        """enc values we do not implement are refused even if a caller puts them in allowed_enc."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides={"enc": enc})
        allowed = DEFAULT_ALLOWED_ENC | {"A192GCM", "A128CBC-HS256"}
        assert _reason(lambda: _decrypt(compact, allowed_enc=allowed)) == "response.jwe_unsupported_enc"

    @pytest.mark.parametrize("kid", ["someone-else", 7])
    def test_unknown_kid(self, kid: object) -> None:
        """A kid that is not this transaction's key is refused."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides={"kid": kid})
        assert _reason(lambda: _decrypt(compact)) == "response.jwe_unknown_key"

    def test_other_transactions_kid(self) -> None:
        """A response addressed to another transaction's key is refused by its kid."""
        compact = encrypt_response(PAYLOAD, _key(b"tx-2").public_jwk())
        assert _reason(lambda: _decrypt(compact)) == "response.jwe_unknown_key"

    def test_crit(self) -> None:
        """Any crit header is refused: we understand no extension parameters."""
        overrides = {"crit": ["exp"], "exp": 1}
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides=overrides)
        assert _reason(lambda: _decrypt(compact)) == "response.jwe_unsupported_crit"

    @pytest.mark.parametrize("zip_value", ["GZIP", "def", None])
    def test_other_zip(self, zip_value: object) -> None:
        """Only zip=DEF is supported."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides={"zip": zip_value})
        assert _reason(lambda: _decrypt(compact)) == "response.jwe_unsupported_zip"

    def test_zip_def_over_non_deflate(self) -> None:
        """zip=DEF over bytes that are not DEFLATE is malformed."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides={"zip": "DEF"})
        assert _reason(lambda: _decrypt(compact)) == MALFORMED

    @pytest.mark.parametrize(
        "stream",
        [
            pytest.param(lambda data: data[:-4], id="truncated"),
            pytest.param(lambda data: data + b"trailing", id="trailing"),
        ],
    )
    def test_zip_def_incomplete_or_trailing(self, stream: Callable[[bytes], bytes]) -> None:
        """A DEFLATE stream must end exactly at the end of the plaintext."""
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = compressor.compress(b"y" * 200) + compressor.flush()
        compact = encrypt_bytes(stream(data), _key().public_jwk(), header_overrides={"zip": "DEF"})
        assert _reason(lambda: _decrypt(compact)) == MALFORMED


class TestEphemeralKey:
    def _with_epk(self, epk: object) -> str:
        return encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides={"epk": epk})

    def test_point_not_on_curve(self) -> None:
        """An epk off P-256 is refused before any key agreement (invalid-curve attacks)."""
        good = _header(encrypt_response(PAYLOAD, _key().public_jwk()))["epk"]
        y = int.from_bytes(b64url_decode(good["y"]), "big") + 1
        epk = good | {"y": b64url_encode(y.to_bytes(32, "big"))}
        assert _reason(lambda: _decrypt(self._with_epk(epk))) == MALFORMED

    def test_other_curve(self) -> None:
        """A valid P-384 epk is refused: it cannot agree with a P-256 key."""
        numbers = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
        epk = {
            "kty": "EC",
            "crv": "P-384",
            "x": b64url_encode(numbers.x.to_bytes(48, "big")),
            "y": b64url_encode(numbers.y.to_bytes(48, "big")),
        }
        assert _reason(lambda: _decrypt(self._with_epk(epk))) == MALFORMED

    def test_p256_label_on_p384_coordinates(self) -> None:
        """Coordinates of the wrong length under crv P-256 are refused."""
        numbers = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
        epk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(48, "big")),
            "y": b64url_encode(numbers.y.to_bytes(48, "big")),
        }
        assert _reason(lambda: _decrypt(self._with_epk(epk))) == MALFORMED

    @pytest.mark.parametrize(
        "epk",
        [
            pytest.param(DELETE, id="missing"),
            pytest.param("not-an-object", id="string"),
            pytest.param({"kty": "OKP", "crv": "X25519", "x": "A" * 43}, id="okp"),
            pytest.param({"kty": "EC", "crv": "P-256"}, id="no-coordinates"),
        ],
    )
    def test_unusable_epk(self, epk: object) -> None:
        """A missing, non-object or non-EC epk is malformed."""
        assert _reason(lambda: _decrypt(self._with_epk(epk))) == MALFORMED

    def test_private_epk(self) -> None:
        """An epk that carries a private member is refused."""
        good = _header(encrypt_response(PAYLOAD, _key().public_jwk()))["epk"]
        assert _reason(lambda: _decrypt(self._with_epk(good | {"d": "A" * 43}))) == MALFORMED

    @pytest.mark.parametrize("apu", [5, "not base64url!", "QWxpY2U="])
    def test_bad_party_info(self, apu: object) -> None:
        """apu must be an unpadded base64url string."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides={"apu": apu})
        assert _reason(lambda: _decrypt(compact)) == MALFORMED


class TestStructure:
    def test_non_empty_encrypted_key(self) -> None:
        """With direct key agreement the encrypted key part must be empty (RFC 7518 §4.6)."""
        compact = _replace_part(
            encrypt_response(PAYLOAD, _key().public_jwk()), 1, b64url_encode(b"\x00" * 16)
        )
        assert _reason(lambda: _decrypt(compact)) == MALFORMED

    @pytest.mark.parametrize("count", [3, 4, 6])
    def test_wrong_number_of_parts(self, count: int) -> None:
        """A compact JWE has exactly five parts; three is a JWS."""
        parts = (_parts(encrypt_response(PAYLOAD, _key().public_jwk())) * 2)[:count]
        assert _reason(lambda: _decrypt(".".join(parts))) == MALFORMED

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param(b"[1]", id="array"),
            pytest.param(b"not json", id="not-json"),
            pytest.param(b'{"alg":"ECDH-ES","alg":"ECDH-ES"}', id="duplicate-member"),
            pytest.param(b"\xff\xfe{}", id="not-utf8"),
        ],
    )
    def test_header_not_a_strict_json_object(self, header: bytes) -> None:
        """The protected header must be a strict JSON object."""
        compact = _replace_part(encrypt_response(PAYLOAD, _key().public_jwk()), 0, b64url_encode(header))
        assert _reason(lambda: _decrypt(compact)) == MALFORMED

    def test_non_ascii(self) -> None:
        """A compact JWE is ASCII only (the base64url decoder refuses anything else)."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk()) + "é"
        assert _reason(lambda: _decrypt(compact)) == MALFORMED

    @pytest.mark.parametrize("index", [2, 4])
    def test_iv_or_tag_of_wrong_length(self, index: int) -> None:
        """The IV is 96 bits and the tag 128 bits (RFC 7518 §5.3)."""
        compact = _replace_part(
            encrypt_response(PAYLOAD, _key().public_jwk()), index, b64url_encode(b"1" * 8)
        )
        assert _reason(lambda: _decrypt(compact)) == MALFORMED

    def test_padded_part(self) -> None:
        """Parts are unpadded base64url."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk())
        parts = _parts(compact)
        padded = _replace_part(compact, 2, parts[2] + "=" * (-len(parts[2]) % 4 or 4))
        assert _reason(lambda: _decrypt(padded)) == MALFORMED


class TestTampering:
    @pytest.mark.parametrize("index", [2, 3, 4], ids=["iv", "ciphertext", "tag"])
    def test_flipped_bit(self, index: int) -> None:
        """One flipped bit in the IV, ciphertext or tag fails authentication."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk())
        tampered = _replace_part(compact, index, _flip_first_bit(_parts(compact)[index]))
        with pytest.raises(MalformedResponse) as caught:
            _decrypt(tampered)
        assert caught.value.reason == DECRYPT_FAILED

    def test_header_is_authenticated(self) -> None:
        """The protected header is the AAD: adding a member fails authentication."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk())
        header = _header(compact) | {"typ": "oauth-authz-resp+jwt"}
        tampered = _replace_part(compact, 0, b64url_encode(json.dumps(header).encode()))
        assert _reason(lambda: _decrypt(tampered)) == DECRYPT_FAILED

    def test_wrong_private_key(self) -> None:
        """Without a kid, a response encrypted to another key fails authentication."""
        jwk = {name: value for name, value in _key(b"tx-2").public_jwk().items() if name != "kid"}
        compact = encrypt_response(PAYLOAD, jwk)
        assert _reason(lambda: _decrypt(compact)) == DECRYPT_FAILED

    def test_failures_say_nothing_specific(self) -> None:
        """Every authentication failure carries the same description: no decryption oracle."""
        compact = encrypt_response(PAYLOAD, _key().public_jwk())
        descriptions = set()
        for index in (2, 3, 4):
            tampered = _replace_part(compact, index, _flip_first_bit(_parts(compact)[index]))
            with pytest.raises(MalformedResponse) as caught:
                _decrypt(tampered)
            descriptions.add(caught.value.description)
        assert descriptions == {"The response could not be decrypted"}


# --- Properties --- #

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
headers = st.dictionaries(
    st.sampled_from(["alg", "enc", "kid", "epk", "zip", "crit", "apu", "apv"]),
    st.sampled_from(["ECDH-ES", "A128GCM", "A256GCM", "DEF", "QWxpY2U"]) | json_values,
)
segments = st.one_of(
    st.just(""),
    st.text(alphabet=B64URL_ALPHABET, max_size=40),
    st.binary(max_size=40).map(b64url_encode),
    headers.map(lambda value: b64url_encode(json.dumps(value).encode())),
    st.text(max_size=8),
)


def _only_typed_errors(compact: str) -> None:
    try:
        _decrypt(compact, max_length=4096, max_plaintext=1024)
    except VerifierError:
        return


class TestProperties:
    @FAST
    @given(st.text(max_size=300))
    def test_arbitrary_text(self, text: str) -> None:
        """decrypt_response on any text raises nothing but a VerifierError."""
        _only_typed_errors(text)

    @FAST
    @given(st.lists(segments, min_size=5, max_size=5))
    def test_five_arbitrary_segments(self, parts: list[str]) -> None:
        """Five base64url-ish segments with JWE-like headers raise nothing but a VerifierError."""
        _only_typed_errors(".".join(parts))

    @FAST
    @given(st.data())
    def test_mutated_valid_response(self, data: st.DataObject) -> None:
        """A valid response with one character replaced decrypts unchanged or raises a VerifierError."""
        compact = _valid_compact()
        position = data.draw(st.integers(min_value=0, max_value=len(compact) - 1))
        char = data.draw(st.sampled_from([*B64URL_ALPHABET, ".", "="]))
        mutated = compact[:position] + char + compact[position + 1 :]
        try:
            plaintext = _decrypt(mutated)
        except VerifierError:
            return
        assert json.loads(plaintext) == PAYLOAD


@functools.cache
def _valid_compact() -> str:
    return encrypt_response(PAYLOAD, _key().public_jwk(), header_overrides={"apu": "QWxpY2U"})
