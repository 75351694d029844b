"""Properties of the decoding core: only typed errors on any input, and lossless round trips."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.errors import IdTokenInvalid, MalformedResponse, VerifierError
from service.jose.encoding import b64url_decode, b64url_encode
from service.jose.jwk import PublicJwk, public_jwk_from_key
from service.jose.jws import ALG_KEY_TYPES, TokenKind, decode_jws, sign_jws, verify_jws
from service.keys import Keyring, generate_keyring
from service.response import AuthorizationResponse, ResponseLimits, WalletError, parse_response
from service.strict_json import StrictJsonError, loads_strict
from service.transaction.seal import seal, unseal
from service.transaction.state import TransactionState

KIND = TokenKind("t", IdTokenInvalid)
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
headers = st.dictionaries(
    st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jwk", "x5c"]),
    st.sampled_from([*ALG_KEY_TYPES, "none", "HS256"]) | json_values,
)
segments = st.one_of(
    st.text(alphabet=B64URL_ALPHABET, max_size=64),
    st.binary(max_size=96).map(b64url_encode),
    json_values.map(lambda value: b64url_encode(json.dumps(value).encode())),
    headers.map(lambda value: b64url_encode(json.dumps(value).encode())),
    st.text(max_size=16),
)


def _typed_failure(call: Callable[[], object]) -> VerifierError | None:
    """Run ``call``; return the VerifierError it raised, or None. Any other exception propagates."""
    try:
        call()
    except VerifierError as exc:
        return exc
    return None


@functools.cache
def _keyring() -> Keyring:
    return generate_keyring()


@functools.cache
def _keys() -> dict[str, tuple[object, PublicJwk]]:
    private = {
        "EdDSA": Ed25519PrivateKey.generate(),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "ES256K": ec.generate_private_key(ec.SECP256K1()),
    }
    return {alg: (key, public_jwk_from_key(key.public_key())) for alg, key in private.items()}


class TestDecodeJws:
    @FAST
    @given(st.text(max_size=300))
    def test_arbitrary_text_raises_only_typed_errors(self, text: str) -> None:
        """decode_jws on any text either decodes or raises a VerifierError with the kind's prefix."""
        error = _typed_failure(lambda: decode_jws(text, kind=KIND))
        assert error is None or error.reason.startswith("t.")

    @FAST
    @given(st.lists(segments, min_size=3, max_size=3))
    def test_three_segments_raise_only_typed_errors(self, parts: list[str]) -> None:
        """Any three base64url-ish segments decode or raise only a VerifierError."""
        error = _typed_failure(lambda: decode_jws(".".join(parts), kind=KIND))
        assert error is None or error.reason.startswith("t.")

    @FAST
    @given(
        st.sampled_from(["EdDSA", "ES256", "ES384", "ES256K"]),
        st.binary(max_size=140),
        st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    )
    def test_arbitrary_signatures_fail_cleanly(
        self, alg: str, signature: bytes, payload: dict[str, object]
    ) -> None:
        """verify_jws on a well-formed token with arbitrary signature bytes raises only bad_signature."""
        _, public = _keys()[alg]
        header = b64url_encode(json.dumps({"alg": alg}).encode())
        body = b64url_encode(json.dumps(payload).encode())
        jws = decode_jws(f"{header}.{body}.{b64url_encode(signature)}", kind=KIND)
        with pytest.raises(IdTokenInvalid) as caught:
            verify_jws(jws, public, allowed_algs=frozenset(ALG_KEY_TYPES), kind=KIND)
        assert caught.value.reason == "t.bad_signature"

    @FAST
    @given(
        st.sampled_from(["EdDSA", "ES256", "ES384", "ES256K"]),
        st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    )
    def test_sign_decode_verify_round_trip(self, alg: str, payload: dict[str, object]) -> None:
        """Whatever JSON payload we sign decodes to the same value and verifies."""
        private, public = _keys()[alg]
        token = sign_jws({"typ": "JWT"}, payload, private)  # type: ignore[arg-type]
        jws = decode_jws(token, kind=KIND)
        assert dict(jws.payload) == payload
        verify_jws(jws, public, allowed_algs=frozenset({alg}), kind=KIND)


form_pairs = st.lists(
    st.tuples(
        st.sampled_from(["state", "id_token", "vp_token", "presentation_submission", "error", "x"])
        | st.text(max_size=6),
        st.text(max_size=40) | json_values.map(json.dumps),
    ),
    max_size=20,
)


class TestParseResponse:
    @FAST
    @given(st.binary(max_size=400))
    def test_arbitrary_bytes_raise_only_typed_errors(self, body: bytes) -> None:
        """parse_response on any bytes returns a response or raises a VerifierError."""
        try:
            result = parse_response(body, limits=ResponseLimits())
        except VerifierError:
            return
        assert isinstance(result, AuthorizationResponse | WalletError)

    @FAST
    @given(form_pairs)
    def test_arbitrary_forms_raise_only_typed_errors(self, pairs: list[tuple[str, str]]) -> None:
        """Well-encoded forms with arbitrary names and (JSON) values parse or raise a VerifierError."""
        try:
            result = parse_response(urlencode(pairs).encode(), limits=ResponseLimits())
        except VerifierError:
            return
        if isinstance(result, WalletError):
            assert result.error == "other" or result.error.replace("_", "").isalnum()


optional_text = st.none() | st.text(max_size=60)
states = st.builds(
    TransactionState,
    id_bytes=st.binary(max_size=32),
    nonce_bytes=st.binary(max_size=32),
    state_bytes=st.binary(max_size=32),
    created_at=INT64,
    expires_at=INT64,
    client_id_scheme=st.text(max_size=20),
    profile=st.text(max_size=8),
    definition_id=st.text(max_size=60),
    definition_digest=st.none() | st.binary(max_size=32),
    inline_definition=st.none() | st.binary(max_size=2000),
    webhook_url=optional_text,
    correlation_id=optional_text,
)


class TestSeal:
    @FAST
    @given(states)
    def test_seal_unseal_round_trip(self, state: TransactionState) -> None:
        """Any TransactionState comes back equal from unseal(seal(state))."""
        keyring = _keyring()
        assert unseal(seal(state, keyring), keyring) == state

    @FAST
    @given(st.text(max_size=200))
    def test_arbitrary_handles_raise_only_typed_errors(self, handle: str) -> None:
        """unseal on any string raises a VerifierError (nothing we did not seal opens)."""
        keyring = _keyring()
        kid = keyring.active_sealing.kid
        for candidate in (handle, f"{kid}.{handle}"):
            with pytest.raises(VerifierError) as caught:
                unseal(candidate, keyring)
            assert caught.value.reason.startswith("transaction.")


class TestBase64url:
    @given(st.binary(max_size=200))
    def test_round_trip(self, data: bytes) -> None:
        """b64url_decode(b64url_encode(data)) == data, with no padding or other alphabets emitted."""
        text = b64url_encode(data)
        assert "=" not in text
        assert set(text) <= set(B64URL_ALPHABET)
        assert b64url_decode(text) == data

    @given(st.text(max_size=100) | st.text(alphabet=B64URL_ALPHABET + "=+/", max_size=100))
    def test_decode_raises_only_malformed_response(self, text: str) -> None:
        """Decoding any text either succeeds canonically or raises MalformedResponse."""
        try:
            data = b64url_decode(text)
        except MalformedResponse:
            return
        assert b64url_encode(data) == text


class TestStrictJson:
    @given(st.text(max_size=200))
    def test_arbitrary_text_raises_only_strict_json_error(self, text: str) -> None:
        """loads_strict on any text decodes or raises StrictJsonError."""
        try:
            loads_strict(text)
        except StrictJsonError:
            pass

    @given(st.binary(max_size=200))
    def test_arbitrary_bytes_raise_only_strict_json_error(self, data: bytes) -> None:
        """loads_strict on any bytes decodes or raises StrictJsonError."""
        try:
            loads_strict(data)
        except StrictJsonError:
            pass

    @given(json_values)
    def test_standard_json_round_trips(self, value: object) -> None:
        """JSON written by json.dumps (finite numbers, unique keys) decodes back to the same value."""
        assert loads_strict(json.dumps(value)) == value
