"""Status list vectors (../shared/vectors/status-list, see SOURCE.md): IETF TSL draft 20 and W3C lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.errors import CredentialInvalid
from service.jose.jwk import parse_public_jwk
from service.jose.jws import Jws, decode_jws, verify_jws
from service.sd_jwt import SD_JWT, split_presentation
from service.status import (
    StatusOutcome,
    StatusPolicy,
    StatusReference,
    bit_at,
    check_token_status,
    decode_encoded_list,
    decode_status_list,
    parse_status_reference,
    status_at,
    verify_status_list_token,
)
from tests.unit.status import FakeSource, run

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "status-list"
TSL = VECTORS / "token-status-list"
W3C = VECTORS / "w3c-bitstring"
ES256 = frozenset({"ES256"})
# Between the draft's iat (2023-06-16) and exp (2042-08-15) for the signed Status List Token.
NOW = 1_700_000_000


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# The vectors that carry a bare status_list with expected statuses (tsl-4.1-*, tsl-appendix-*).
LIST_VECTORS = sorted(path.name for path in TSL.glob("tsl-*.json") if "status_list" in _load(path))


def _nonzero_lsb_first(raw: bytes, bits: int) -> dict[int, int]:
    """Every non-zero entry, read independently of service.status (TSL §4.1 packing)."""
    per_byte = 8 // bits
    found = {}
    for offset, byte in enumerate(raw):
        for slot in range(per_byte):
            value = (byte >> (slot * bits)) & ((1 << bits) - 1)
            if value:
                found[offset * per_byte + slot] = value
    return found


@pytest.mark.parametrize("name", LIST_VECTORS)
def test_token_status_lists(name: str) -> None:
    """TSL §4.1 and appendix: every listed index reads its expected status; every other index is 0."""
    vector = _load(TSL / name)
    status_list = decode_status_list(vector["status_list"])
    expected = {int(index): value for index, value in vector["expected_statuses"].items()}
    for index, value in expected.items():
        assert status_at(status_list, index) == value
    assert len(status_list) == vector.get("size_entries", len(expected))
    if "uncompressed_hex" in vector:
        assert status_list.raw.hex() == vector["uncompressed_hex"]
    nonzero = {index: value for index, value in expected.items() if value}
    assert _nonzero_lsb_first(status_list.raw, status_list.bits) == nonzero


class TestSignedStatusListToken:
    """TSL §5.1: the draft's signed Status List Token verifies with its key."""

    vector = _load(TSL / "tsl-5.1-status-list-jwt.json")

    def _verify(self, **overrides: Any) -> Any:
        options: dict[str, Any] = {
            "key": parse_public_jwk(self.vector["verification_jwk"]),
            "allowed_algs": ES256,
            "expected_uri": self.vector["referenced_token_status_claim"]["status_list"]["uri"],
            "now": NOW,
            "clock_skew": 60,
        }
        options.update(overrides)
        return verify_status_list_token(self.vector["status_list_token"], **options)

    def test_verifies_and_reads(self) -> None:
        """Header and claims as published; index 0 is INVALID; ttl and exp returned for caching."""
        jws = decode_jws(self.vector["status_list_token"], kind=SD_JWT)
        assert dict(jws.header) == self.vector["expected_header"]
        assert dict(jws.payload) == self.vector["expected_payload"]
        status_list = self._verify()
        assert status_at(status_list, 0) == self.vector["expected_status_at_idx_0"]
        assert status_list.ttl == self.vector["expected_payload"]["ttl"]
        assert status_list.expires_at == self.vector["expected_payload"]["exp"]

    def test_reference_claim_parses(self) -> None:
        """TSL §6.1: the referenced token's status claim names this list and index 0."""
        reference = parse_status_reference({"status": self.vector["referenced_token_status_claim"]})
        assert reference == StatusReference(idx=0, uri="https://example.com/statuslists/1")

    def test_other_uri_is_refused(self) -> None:
        """The same list does not answer for another uri."""
        with pytest.raises(CredentialInvalid) as excinfo:
            self._verify(expected_uri="https://example.com/statuslists/2")
        assert excinfo.value.reason == "status.uri_mismatch"

    def test_after_exp_is_refused(self) -> None:
        """After the token's exp the list is expired."""
        with pytest.raises(CredentialInvalid) as excinfo:
            self._verify(now=self.vector["expected_payload"]["exp"] + 61)
        assert excinfo.value.reason == "status.expired"


class TestReferencedSdJwt:
    """TSL §6.2: the SD-JWT's status claim parses and, checked against the §5.1 list, is revoked."""

    vector = _load(TSL / "tsl-6.2-referenced-token-sd-jwt.json")
    list_vector = _load(TSL / "tsl-5.1-status-list-jwt.json")

    def _issuer_jwt(self) -> Jws:
        presentation = split_presentation(self.vector["sd_jwt"])
        jws = decode_jws(presentation.issuer_jwt, kind=SD_JWT)
        verify_jws(jws, parse_public_jwk(self.vector["issuer_public_jwk"]), allowed_algs=ES256, kind=SD_JWT)
        return jws

    def test_status_claim_parses(self) -> None:
        """The signed payload's status claim is the expected reference."""
        reference = parse_status_reference(self._issuer_jwt().payload)
        expected = self.vector["expected_processed_payload"]["status"]["status_list"]
        assert reference == StatusReference(idx=expected["idx"], uri=expected["uri"])

    def test_end_to_end_is_revoked(self) -> None:
        """Fetching the §5.1 token for this reference rejects the credential as revoked (0x01)."""
        assert self.vector["expected_status"] == 1
        reference = parse_status_reference(self._issuer_jwt().payload)
        assert reference is not None
        key = parse_public_jwk(self.list_vector["verification_jwk"])
        source = FakeSource({reference.uri: self.list_vector["status_list_token"].encode()})
        with pytest.raises(CredentialInvalid) as excinfo:
            run(
                check_token_status(
                    reference,
                    source=source,
                    key_for_list=lambda _jws: key,
                    allowed_algs=ES256,
                    now=NOW,
                    clock_skew=60,
                    policy=StatusPolicy(allow_unknown=True),
                )
            )
        assert excinfo.value.reason == "status.revoked"

    def test_another_index_would_be_valid(self) -> None:
        """Index 1 of the same list is VALID (0x00)."""
        key = parse_public_jwk(self.list_vector["verification_jwk"])
        uri = "https://example.com/statuslists/1"
        outcome = run(
            check_token_status(
                StatusReference(idx=1, uri=uri),
                source=FakeSource({uri: self.list_vector["status_list_token"].encode()}),
                key_for_list=lambda _jws: key,
                allowed_algs=ES256,
                now=NOW,
                clock_skew=60,
                policy=StatusPolicy(),
            )
        )
        assert outcome == StatusOutcome("valid", 0, None)


@pytest.mark.parametrize("name", sorted(path.name for path in W3C.glob("*.json")))
def test_w3c_encoded_lists(name: str) -> None:
    """W3C lists: the example encodedList expands to its stated length, MSB-first bits as expected."""
    vector = _load(W3C / name)
    multibase = vector["multibase_prefix"] == "u"
    assert vector["compression"] == "GZIP"
    raw = decode_encoded_list(vector["encodedList"], multibase=multibase, min_bytes=16384)
    assert len(raw) == vector["uncompressed_length_bytes"]
    if vector.get("expected_all_zero"):
        assert not any(raw)
        assert bit_at(raw, 0) == bit_at(raw, len(raw) * 8 - 1) == 0
    for index, value in vector.get("expected_bits", {}).items():
        assert bit_at(raw, int(index)) == value
