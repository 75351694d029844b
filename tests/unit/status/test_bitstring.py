"""W3C Bitstring Status List v1.0 and StatusList2021: entries, the bitstring codec, the list credential."""

from __future__ import annotations

import gzip
import time
import zlib
from typing import Any

import pytest

from service.errors import CredentialInvalid, VerifierError
from service.status.bitstring import (
    BitstringReference,
    StatusListCredential,
    bit_at,
    decode_encoded_list,
    decode_status_list_credential,
    parse_credential_status,
    read_status,
    verify_status_list_credential,
)
from tests.unit.status import b64, bsl_bits, encoded_list, pack_msb_first, sign, signer, tamper

NOW = 1_700_000_000
URL = "https://issuer.example/credentials/status/3"
ALGS = frozenset({"EdDSA"})
DROP = object()
KEY, PUBLIC = signer()


def _entry(**members: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": URL + "#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": URL,
    }
    entry.update(members)
    return {name: value for name, value in entry.items() if value is not DROP}


def _reason(excinfo: pytest.ExceptionInfo[VerifierError]) -> str:
    return excinfo.value.reason


def _list_vc(
    *,
    list_type: str = "BitstringStatusList",
    purpose: object = "revocation",
    encoded: str | None = None,
    **members: Any,
) -> dict[str, Any]:
    """A VCDM status list credential (BSL §2.2 example shape)."""
    bitstring = list_type == "BitstringStatusList"
    vc: dict[str, Any] = {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "id": URL,
        "type": ["VerifiableCredential", f"{list_type}Credential"],
        "issuer": "did:example:12345",
        "credentialSubject": {
            "id": URL + "#list",
            "type": list_type,
            "statusPurpose": purpose,
            "encodedList": encoded or encoded_list(bsl_bits([5]), multibase=bitstring),
        },
    }
    vc.update(members)
    return {name: value for name, value in vc.items() if value is not DROP}


def _jwt(
    vc: dict[str, Any], *, header: dict[str, Any] | None = None, wrap: bool = True, **claims: Any
) -> str:
    payload: dict[str, Any] = {"iss": "did:example:12345", "iat": NOW - 10, "jti": URL}
    payload.update({"vc": vc} if wrap else vc)
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not DROP}
    return sign({"typ": "JWT"} if header is None else header, payload, KEY)


def _verify(token: Any, **overrides: Any) -> StatusListCredential:
    options: dict[str, Any] = {
        "key": PUBLIC,
        "allowed_algs": ALGS,
        "expected_url": URL,
        "purpose": "revocation",
        "now": NOW,
        "clock_skew": 60,
    }
    options.update(overrides)
    return verify_status_list_credential(token, **options)


class TestParseCredentialStatus:
    def test_single_entry(self) -> None:
        """BSL §2.1: one entry object becomes one reference; the index string is base 10."""
        (reference,) = parse_credential_status({"credentialStatus": _entry()})
        assert reference == BitstringReference("BitstringStatusListEntry", "revocation", 94567, URL)
        assert reference.checked

    def test_array_and_other_purposes(self) -> None:
        """An array of entries is read in order; refresh/message are listed but not checked."""
        entries = [_entry(statusPurpose=purpose) for purpose in ("revocation", "suspension", "refresh")]
        references = parse_credential_status({"credentialStatus": entries})
        assert [(r.purpose, r.checked) for r in references] == [
            ("revocation", True),
            ("suspension", True),
            ("refresh", False),
        ]

    def test_no_status(self) -> None:
        """A credential without credentialStatus has no references."""
        assert parse_credential_status({"type": ["VerifiableCredential"]}) == []

    def test_status_list_2021_accepts_a_number_index(self) -> None:
        """StatusList2021 leniency: early issuers wrote the index as a JSON number."""
        (reference,) = parse_credential_status(
            {"credentialStatus": _entry(type="StatusList2021Entry", statusListIndex=12, statusSize=4)}
        )
        assert (reference.entry_type, reference.index, reference.size) == ("StatusList2021Entry", 12, 1)

    def test_status_size_with_messages(self) -> None:
        """BSL §2.1: statusSize > 1 brings one statusMessage per value, read into (value, message)."""
        messages = [{"status": f"0x{v:x}", "message": f"m{v}"} for v in range(4)]
        (reference,) = parse_credential_status(
            {"credentialStatus": _entry(statusPurpose="message", statusSize=2, statusMessage=messages)}
        )
        assert reference.size == 2
        assert reference.message_for(3) == "m3"
        assert not reference.checked

    @pytest.mark.parametrize(
        "members",
        [
            {"statusListIndex": 94567},
            {"statusListIndex": "-1"},
            {"statusListIndex": "1e3"},
            {"statusListIndex": " 12"},
            {"statusListIndex": "9" * 40},
            {"statusListIndex": DROP},
            {"statusPurpose": DROP},
            {"statusPurpose": ["revocation"]},
            {"statusListCredential": DROP},
            {"statusListCredential": 3},
            {"id": URL},
            {"statusSize": 0},
            {"statusSize": 9},
            {"statusSize": "2"},
            {"statusSize": 2},
            {"statusSize": 2, "statusMessage": [{"status": "0x0", "message": "ok"}]},
            {"statusSize": 1, "statusMessage": "ignored when size is 1", "statusListIndex": "x"},
        ],
        ids=[
            "index-number",
            "index-negative",
            "index-exponent",
            "index-space",
            "index-huge",
            "no-index",
            "no-purpose",
            "purpose-array",
            "no-url",
            "url-number",
            "id-is-url",
            "size-0",
            "size-9",
            "size-string",
            "size-2-no-messages",
            "size-2-too-few-messages",
            "index-garbage",
        ],
    )
    def test_malformed_entry(self, members: dict[str, Any]) -> None:
        """BSL §2.1 entry rules; the index is a string for BitstringStatusListEntry."""
        with pytest.raises(CredentialInvalid) as excinfo:
            parse_credential_status({"credentialStatus": _entry(**members)})
        assert _reason(excinfo) == "status.malformed"

    @pytest.mark.parametrize(
        "messages",
        [
            [{"status": "0x0", "message": "a"}] * 4,
            [{"status": f"0x{v:x}", "message": "a"} for v in (0, 1, 2, 7)],
            [{"status": f"{v}", "message": "a"} for v in range(4)],
            [{"status": f"0x{v:x}"} for v in range(4)],
            ["0x0", "0x1", "0x2", "0x3"],
        ],
        ids=["duplicates", "value-too-big", "not-hex", "no-message", "not-objects"],
    )
    def test_malformed_messages(self, messages: list[Any]) -> None:
        """statusMessage: 2^size distinct {status: "0x..", message} items, each within the size."""
        entry = _entry(statusPurpose="message", statusSize=2, statusMessage=messages)
        with pytest.raises(CredentialInvalid) as excinfo:
            parse_credential_status({"credentialStatus": entry})
        assert _reason(excinfo) == "status.malformed"

    @pytest.mark.parametrize("status", ["x", [], [1], [_entry()] * 9])
    def test_malformed_container(self, status: object) -> None:
        """credentialStatus is an object or a short non-empty array of objects."""
        with pytest.raises(CredentialInvalid) as excinfo:
            parse_credential_status({"credentialStatus": status})
        assert _reason(excinfo) == "status.malformed"

    @pytest.mark.parametrize("entry_type", ["RevocationList2020Status", "TokenStatusList", None])
    def test_unsupported_type(self, entry_type: object) -> None:
        """An entry type we cannot check is refused, not skipped (fail closed)."""
        with pytest.raises(CredentialInvalid) as excinfo:
            parse_credential_status({"credentialStatus": _entry(type=entry_type)})
        assert _reason(excinfo) == "status.unsupported_mechanism"


class TestDecodeEncodedList:
    def test_bitstring_multibase(self) -> None:
        """BSL §3.4: multibase 'u' + base64url of GZIP expands to the bitstring."""
        raw = bsl_bits([0, 7, 100])
        assert decode_encoded_list(encoded_list(raw), multibase=True, min_bytes=16384) == raw

    def test_status_list_2021_plain_and_padded(self) -> None:
        """StatusList2021: plain base64url (no multibase); padding from older issuers is tolerated."""
        raw = bytes(range(256)) * 4
        text = encoded_list(raw, multibase=False)
        padded = text + "=" * (-len(text) % 4)
        assert decode_encoded_list(text, multibase=False) == raw
        assert decode_encoded_list(padded, multibase=False) == raw

    @pytest.mark.parametrize(
        ("encoded", "multibase"),
        [
            (b64(gzip.compress(bytes(16))), True),
            ("z" + b64(gzip.compress(bytes(16))), True),
            ("u" + b64(gzip.compress(bytes(16))) + "==", True),
            ("u!!", True),
            ("u" + b64(zlib.compress(bytes(16))), True),
            ("u" + b64(gzip.compress(bytes(16)))[:-4], True),
            ("u" + b64(gzip.compress(bytes(16)) + b"\0\0"), True),
            (5, True),
            ("u" + b64(gzip.compress(bytes(16))), False),
        ],
        ids=[
            "no-prefix",
            "base58-prefix",
            "padded-multibase",
            "bad-alphabet",
            "zlib-not-gzip",
            "truncated",
            "trailing-bytes",
            "not-string",
            "multibase-where-plain-expected",
        ],
    )
    def test_malformed(self, encoded: Any, multibase: bool) -> None:
        """Exactly one GZIP stream in the encoding the list type prescribes."""
        with pytest.raises(CredentialInvalid) as excinfo:
            decode_encoded_list(encoded, multibase=multibase)
        assert _reason(excinfo) == "status.malformed"

    def test_gzip_bomb_is_refused_fast(self) -> None:
        """Security §7: ~10 KB of GZIP inflating to 10 MB stops at the 2 MiB cap, quickly."""
        bomb = "u" + b64(gzip.compress(bytes(10 * 2**20), 9))
        assert len(bomb) < 16 * 1024
        started = time.perf_counter()
        with pytest.raises(CredentialInvalid) as excinfo:
            decode_encoded_list(bomb, multibase=True)
        assert _reason(excinfo) == "status.too_large"
        assert time.perf_counter() - started < 1.0

    def test_too_short(self) -> None:
        """BSL §3.2: a list under the minimum size is refused (herd privacy)."""
        with pytest.raises(CredentialInvalid) as excinfo:
            decode_encoded_list(encoded_list(bytes(1024)), multibase=True, min_bytes=16384)
        assert _reason(excinfo) == "status.list_too_short"


class TestBitAt:
    def test_msb_first(self) -> None:
        """BSL §3.1: index 0 is the left-most bit of the first byte."""
        assert [bit_at(b"\x80\x01", i) for i in range(16)] == [1] + [0] * 14 + [1]

    def test_multi_bit_entries(self) -> None:
        """A statusSize-bit entry reads big-endian from bit index*size."""
        raw = pack_msb_first([0, 1, 2, 3, 2, 1], 2)
        assert [bit_at(raw, i, 2) for i in range(6)] == [0, 1, 2, 3, 2, 1]

    @pytest.mark.parametrize(("index", "size"), [(-1, 1), (16, 1), (8, 2), (0, 0), (10**12, 1)])
    def test_out_of_range(self, index: int, size: int) -> None:
        """BSL §3.2 RANGE_ERROR: index*size outside the bitstring."""
        with pytest.raises(CredentialInvalid) as excinfo:
            bit_at(b"\x00\x00", index, size)
        assert _reason(excinfo) == "status.index_out_of_range"


class TestVerifyStatusListCredential:
    def test_vcdm11_jwt(self) -> None:
        """A VCDM 1.1 JWT (vc claim) verifies; its bitstring and metadata come back."""
        credential = _verify(_jwt(_list_vc(), exp=NOW + 600))
        assert credential.list_type == "BitstringStatusList"
        assert credential.purposes == ("revocation",)
        assert [bit_at(credential.bitstring, i) for i in range(8)] == [0, 0, 0, 0, 0, 1, 0, 0]
        assert credential.issuer == "did:example:12345"
        assert credential.valid_until == NOW + 600
        assert credential.entry_type == "BitstringStatusListEntry"

    def test_vc_jose_cose_payload(self) -> None:
        """VC-JOSE-COSE: the payload is the credential itself, typ vc+jwt; validUntil bounds it."""
        vc = _list_vc(validUntil="2100-01-01T00:00:00Z")
        vc["credentialSubject"]["ttl"] = 60_000
        credential = _verify(_jwt(vc, header={"typ": "vc+jwt"}, wrap=False, jti=DROP))
        assert credential.ttl_ms == 60_000
        assert credential.valid_until is not None

    def test_status_list_2021(self) -> None:
        """StatusList2021Credential: plain base64url, and a smaller list is tolerated."""
        encoded = encoded_list(bsl_bits([1], total_bits=8 * 1024), multibase=False)
        credential = _verify(_jwt(_list_vc(list_type="StatusList2021", encoded=encoded)))
        assert credential.entry_type == "StatusList2021Entry"
        assert bit_at(credential.bitstring, 1) == 1

    def test_typ_absent_is_fine(self) -> None:
        """VCDM 1.1 JWTs often carry no typ."""
        assert _verify(_jwt(_list_vc(), header={})).list_type == "BitstringStatusList"

    def test_several_purposes(self) -> None:
        """BSL §2.2: one list may serve several purposes."""
        token = _jwt(_list_vc(purpose=["revocation", "suspension"]))
        assert _verify(token, purpose="suspension").purposes == ("revocation", "suspension")

    def test_accepts_a_decoded_jws(self) -> None:
        """The pipeline decodes once (to find the key) and verifies the same Jws."""
        jws = decode_status_list_credential(_jwt(_list_vc()))
        assert _verify(jws).url == URL

    @pytest.mark.parametrize(
        ("token", "reason"),
        [
            (lambda: _jwt(_list_vc(), header={"typ": "statuslist+jwt"}), "status.wrong_typ"),
            (lambda: _jwt(_list_vc(), header={"typ": "dc+sd-jwt"}), "status.wrong_typ"),
            (lambda: tamper(_jwt(_list_vc())), "status.bad_signature"),
            (lambda: _jwt(_list_vc(id="https://issuer.example/other")), "status.uri_mismatch"),
            (lambda: _jwt(_list_vc(), jti="https://issuer.example/other"), "status.uri_mismatch"),
            (lambda: _jwt(_list_vc(purpose="suspension")), "status.purpose_mismatch"),
            (lambda: _jwt(_list_vc(), exp=NOW - 61), "status.expired"),
            (lambda: _jwt(_list_vc(expirationDate="2020-01-01T00:00:00Z")), "status.expired"),
            (lambda: _jwt(_list_vc(validUntil="2020-01-01T00:00:00Z")), "status.expired"),
            (lambda: _jwt(_list_vc(), nbf=NOW + 600), "status.not_yet_valid"),
            (lambda: _jwt(_list_vc(validFrom="2100-01-01T00:00:00Z")), "status.not_yet_valid"),
            (lambda: _jwt(_list_vc(issuanceDate="2100-01-01T00:00:00Z")), "status.not_yet_valid"),
            (lambda: _jwt(_list_vc(validUntil="soon")), "status.malformed"),
            (lambda: _jwt(_list_vc(validUntil=5)), "status.malformed"),
            (lambda: _jwt(_list_vc(list_type="RevocationList2020")), "status.malformed"),
            (lambda: _jwt(_list_vc(type=["VerifiableCredential"])), "status.malformed"),
            (lambda: _jwt(_list_vc(credentialSubject="x")), "status.malformed"),
            (lambda: _jwt(_list_vc(purpose=[])), "status.malformed"),
            (lambda: _jwt(_list_vc(encoded="u" + b64(gzip.compress(bytes(100))))), "status.list_too_short"),
            (lambda: _jwt({"vc": "x"}, wrap=False), "status.malformed"),
        ],
        ids=[
            "typ-statuslist",
            "typ-sd-jwt",
            "bad-signature",
            "id-mismatch",
            "jti-mismatch",
            "purpose-mismatch",
            "exp-past",
            "expirationDate-past",
            "validUntil-past",
            "nbf-future",
            "validFrom-future",
            "issuanceDate-future",
            "date-garbage",
            "date-number",
            "subject-type",
            "credential-type",
            "subject-not-object",
            "purposes-empty",
            "bitstring-too-short",
            "vc-not-object",
        ],
    )
    def test_rejections(self, token: Any, reason: str) -> None:
        """BSL §3.2 steps 1-6 and the VCDM validity window."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(token())
        assert _reason(excinfo) == reason

    def test_encoded_list_missing(self) -> None:
        """encodedList is required."""
        vc = _list_vc()
        del vc["credentialSubject"]["encodedList"]
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(_jwt(vc))
        assert _reason(excinfo) == "status.malformed"

    def test_ttl_must_be_positive(self) -> None:
        """BSL §2.2 ttl is a positive number of milliseconds."""
        vc = _list_vc()
        vc["credentialSubject"]["ttl"] = -1
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(_jwt(vc))
        assert _reason(excinfo) == "status.malformed"


class TestReadStatus:
    def _credential(self, raw: bytes, list_type: str = "BitstringStatusList") -> StatusListCredential:
        return StatusListCredential(list_type, ("revocation",), raw, URL, None, None, None)  # type: ignore[arg-type]

    def test_reads_the_entry(self) -> None:
        """The entry's bit is read once type and purpose agree."""
        credential = self._credential(bsl_bits([94567]))
        (reference,) = parse_credential_status({"credentialStatus": _entry()})
        assert read_status(credential, reference) == 1

    def test_type_mismatch(self) -> None:
        """A StatusList2021Entry cannot be answered by a BitstringStatusList (different encodings)."""
        (reference,) = parse_credential_status({"credentialStatus": _entry(type="StatusList2021Entry")})
        with pytest.raises(CredentialInvalid) as excinfo:
            read_status(self._credential(bsl_bits([])), reference)
        assert _reason(excinfo) == "status.type_mismatch"

    def test_purpose_mismatch(self) -> None:
        """The list's purposes must include the entry's."""
        (reference,) = parse_credential_status({"credentialStatus": _entry(statusPurpose="suspension")})
        with pytest.raises(CredentialInvalid) as excinfo:
            read_status(self._credential(bsl_bits([])), reference)
        assert _reason(excinfo) == "status.purpose_mismatch"

    def test_minimum_counts_entries_not_bytes(self) -> None:
        """BSL §3.2: bits / statusSize ≥ 131,072, so a 16 KiB list is too short for 2-bit entries."""
        messages = [{"status": f"0x{v:x}", "message": "m"} for v in range(4)]
        entry = _entry(statusSize=2, statusMessage=messages, statusListIndex="3")
        (reference,) = parse_credential_status({"credentialStatus": entry})
        with pytest.raises(CredentialInvalid) as excinfo:
            read_status(self._credential(bsl_bits([])), reference)
        assert _reason(excinfo) == "status.list_too_short"
        assert read_status(self._credential(bsl_bits([6, 7], total_bits=2 * 131_072)), reference) == 3
