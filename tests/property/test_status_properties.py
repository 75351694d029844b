"""Status list properties: random lists round-trip through both bit orders; junk fails only as typed errors.

The encoders are the test-side ones in ``tests.unit.status`` (zlib/gzip/base64 only), so a shared
misreading of the bit order between encoder and decoder cannot hide here.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.errors import VerifierError
from service.status import (
    bit_at,
    decode_encoded_list,
    decode_status_list,
    parse_credential_status,
    parse_status_reference,
    status_at,
    verify_status_list_credential,
    verify_status_list_token,
)
from service.status.token_status_list import decode_status_list_token
from tests.unit.status import b64, encoded_list, pack_lsb_first, pack_msb_first, sign, signer, tsl_list

NOW = 1_700_000_000
ALGS = frozenset({"EdDSA"})
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIGNED = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tsl_lists(draw: st.DrawFn) -> tuple[int, list[int]]:
    bits = draw(st.sampled_from([1, 2, 4, 8]))
    values = draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=1, max_size=300))
    return bits, values


@st.composite
def bitstrings(draw: st.DrawFn) -> tuple[int, list[int]]:
    size = draw(st.integers(1, 8))
    values = draw(st.lists(st.integers(0, (1 << size) - 1), min_size=1, max_size=300))
    return size, values


@FAST
@given(tsl_lists())
def test_token_status_list_round_trip(case: tuple[int, list[int]]) -> None:
    """TSL §4.1: every value packed LSB-first reads back at its index."""
    bits, values = case
    decoded = decode_status_list(tsl_list(values, bits))
    assert [status_at(decoded, i) for i in range(len(values))] == values
    # Padding bits in the last byte read as 0, and nothing beyond the bytes is addressable.
    assert len(decoded) == len(pack_lsb_first(values, bits)) * 8 // bits
    assert all(status_at(decoded, i) == 0 for i in range(len(values), len(decoded)))


@FAST
@given(bitstrings(), st.booleans())
def test_bitstring_round_trip(case: tuple[int, list[int]], multibase: bool) -> None:
    """BSL §3.1: every value packed MSB-first reads back at its index, in both encodings."""
    size, values = case
    raw = pack_msb_first(values, size)
    decoded = decode_encoded_list(encoded_list(raw, multibase=multibase), multibase=multibase)
    assert decoded == raw
    assert [bit_at(decoded, i, size) for i in range(len(values))] == values


@FAST
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=600))
def test_bit_orders_are_opposite(raw: bytes, index: int) -> None:
    """The same bytes read by the two specs: TSL bit i of a byte is BSL bit 7 - i of that byte."""
    tsl = decode_status_list({"bits": 1, "lst": b64(zlib.compress(raw))})
    if index >= len(raw) * 8:
        return
    mirrored = (index // 8) * 8 + 7 - index % 8
    assert status_at(tsl, index) == bit_at(raw, mirrored)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=24), inner, max_size=5),
    max_leaves=20,
)
status_keys = st.sampled_from(
    [
        "bits",
        "lst",
        "idx",
        "uri",
        "status_list",
        "type",
        "statusPurpose",
        "statusListIndex",
        "statusListCredential",
        "statusSize",
        "statusMessage",
        "id",
        "status",
        "message",
    ]
)
near_json = st.recursive(
    json_values,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(status_keys, inner, max_size=6),
    max_leaves=20,
)
compressed = st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=200).map(zlib.compress),
    st.binary(max_size=200).map(gzip.compress),
    st.binary(max_size=200).map(lambda data: zlib.compress(data)[: len(data) // 2 + 1]),
    st.binary(max_size=200).map(lambda data: gzip.compress(data) + data[:3]),
)


@FAST
@given(st.one_of(st.integers(), st.sampled_from([1, 2, 4, 8])), st.one_of(compressed.map(b64), st.text()))
def test_token_status_list_junk_fails_typed(bits: int, lst: str) -> None:
    """Any bits and lst: a StatusList or a VerifierError, nothing else; reads stay in range or fail typed."""
    try:
        decoded = decode_status_list({"bits": bits, "lst": lst}, max_entries=4096)
        for index in (0, len(decoded) - 1, len(decoded), -1):
            status_at(decoded, index)
    except VerifierError:
        pass


@FAST
@given(st.one_of(compressed.map(b64), st.text()), st.booleans(), st.integers(-2, 70_000), st.integers(-1, 9))
def test_encoded_list_junk_fails_typed(encoded: str, multibase: bool, index: int, size: int) -> None:
    """Any encodedList, index and size: bytes and a value, or a VerifierError."""
    try:
        raw = decode_encoded_list(("u" if multibase else "") + encoded, multibase=multibase, max_bytes=8192)
        bit_at(raw, index, size)
    except VerifierError:
        pass


@FAST
@given(near_json)
def test_references_junk_fails_typed(value: object) -> None:
    """Any claims: a reference, None, or a VerifierError from both reference parsers."""
    for claims in ({"status": value}, {"status": {"status_list": value}}):
        try:
            parse_status_reference(claims)
        except VerifierError:
            pass
    for vc in ({"credentialStatus": value}, {"credentialStatus": [value]}):
        try:
            parse_credential_status(vc)
        except VerifierError:
            pass


@FAST
@given(st.one_of(st.text(max_size=300), st.binary(max_size=200).map(b64)))
def test_status_list_token_junk_fails_typed(token: str) -> None:
    """Any text as a Status List Token: a VerifierError (it was never signed)."""
    try:
        decode_status_list_token(token)
    except VerifierError:
        pass


KEY, PUBLIC = signer()
claim_sets = st.dictionaries(
    st.sampled_from(["sub", "iat", "exp", "nbf", "ttl", "status_list", "vc", "jti", "id", "type", "iss"]),
    near_json,
    max_size=8,
)


@SIGNED
@given(claim_sets, st.sampled_from([{"typ": "statuslist+jwt"}, {"typ": "JWT"}, {}]))
def test_signed_junk_claims_fail_typed(claims: dict[str, Any], header: dict[str, Any]) -> None:
    """A correctly signed token with arbitrary claims: a list, or a VerifierError from either verifier."""
    token = sign(header, claims, KEY)
    try:
        verify_status_list_token(
            token, key=PUBLIC, allowed_algs=ALGS, expected_uri="https://a.example/1", now=NOW, clock_skew=60
        )
    except VerifierError:
        pass
    for payload in (claims, {"vc": claims}):
        try:
            verify_status_list_credential(
                sign(header, payload, KEY),
                key=PUBLIC,
                allowed_algs=ALGS,
                expected_url="https://a.example/1",
                purpose="revocation",
                now=NOW,
                clock_skew=60,
            )
        except VerifierError:
            pass
