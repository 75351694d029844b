"""IETF Token Status List: the status reference, the list codec and the Status List Token (TSL §4-§8)."""

from __future__ import annotations

import gzip
import time
import zlib
from typing import Any

import pytest

from service.errors import CredentialInvalid, VerifierError
from service.jose.jws import decode_jws
from service.status.token_status_list import (
    STATUS,
    StatusList,
    StatusReference,
    decode_status_list,
    decode_status_list_token,
    is_application_specific,
    parse_status_reference,
    status_at,
    verify_status_list_token,
)
from tests.unit.status import b64, sign, signer, tamper, tsl_list

NOW = 1_700_000_000
URI = "https://issuer.example/statuslists/1"
ALGS = frozenset({"EdDSA", "ES256"})
DROP = object()
KEY, PUBLIC = signer()


def _token(*, header: dict[str, Any] | None = None, key: Any = None, **claims: Any) -> str:
    payload: dict[str, Any] = {
        "sub": URI,
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "ttl": 300,
        "status_list": tsl_list([0, 1, 2, 3], 2),
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not DROP}
    return sign({"typ": "statuslist+jwt"} if header is None else header, payload, key or KEY)


def _verify(token: str, **overrides: Any) -> StatusList:
    options: dict[str, Any] = {
        "key": PUBLIC,
        "allowed_algs": ALGS,
        "expected_uri": URI,
        "now": NOW,
        "clock_skew": 60,
    }
    options.update(overrides)
    return verify_status_list_token(token, **options)


def _reason(excinfo: pytest.ExceptionInfo[VerifierError]) -> str:
    return excinfo.value.reason


class TestParseStatusReference:
    def test_reads_idx_and_uri(self) -> None:
        """TSL §6.1: status.status_list {idx, uri} becomes a reference."""
        claims = {"status": {"status_list": {"idx": 7, "uri": URI}}}
        assert parse_status_reference(claims) == StatusReference(idx=7, uri=URI)

    def test_absent_status_is_none(self) -> None:
        """A credential without a status claim has nothing to check."""
        assert parse_status_reference({"iss": "x"}) is None

    @pytest.mark.parametrize(
        "status",
        [
            "revoked",
            {"status_list": "x"},
            {"status_list": {"idx": -1, "uri": URI}},
            {"status_list": {"idx": 1.0, "uri": URI}},
            {"status_list": {"idx": "3", "uri": URI}},
            {"status_list": {"idx": True, "uri": URI}},
            {"status_list": {"uri": URI}},
            {"status_list": {"idx": 1}},
            {"status_list": {"idx": 1, "uri": 5}},
            {"status_list": {"idx": 1, "uri": "statuslists/1"}},
            {"status_list": {"idx": 1, "uri": "https://a.example/ x"}},
        ],
        ids=[
            "not-object",
            "list-not-object",
            "negative",
            "float",
            "string",
            "bool",
            "no-idx",
            "no-uri",
            "uri-not-string",
            "relative-uri",
            "uri-with-space",
        ],
    )
    def test_malformed(self, status: object) -> None:
        """TSL §6.1: idx is a non-negative integer and uri an absolute URI; anything else is malformed."""
        with pytest.raises(CredentialInvalid) as excinfo:
            parse_status_reference({"status": status})
        assert _reason(excinfo) == "status.malformed"

    def test_unknown_mechanism_is_refused(self) -> None:
        """A status claim with no mechanism we know cannot be checked, so it is not silently skipped."""
        with pytest.raises(CredentialInvalid) as excinfo:
            parse_status_reference({"status": {"other_mechanism": {}}})
        assert _reason(excinfo) == "status.unsupported_mechanism"


class TestDecodeStatusList:
    @pytest.mark.parametrize("bits", [1, 2, 4, 8])
    def test_round_trip(self, bits: int) -> None:
        """Values packed LSB-first read back at their index, for every allowed width."""
        values = [(i * 7 + 3) % (1 << bits) for i in range(64)]
        decoded = decode_status_list(tsl_list(values, bits))
        assert [status_at(decoded, i) for i in range(64)] == values

    def test_lsb_first_order(self) -> None:
        """TSL §4.1 example: 0xB9 0xA3 holds 1,0,0,1,1,1,0,1, 1,1,0,0,0,1,0,1."""
        decoded = decode_status_list({"bits": 1, "lst": b64(zlib.compress(bytes.fromhex("b9a3")))})
        assert [status_at(decoded, i) for i in range(16)] == [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
        assert len(decoded) == 16

    def test_aggregation_uri_is_kept(self) -> None:
        """TSL §4.2: aggregation_uri is optional and carried through."""
        decoded = decode_status_list({**tsl_list([0], 1), "aggregation_uri": "https://a.example/agg"})
        assert decoded.aggregation_uri == "https://a.example/agg"

    @pytest.mark.parametrize(
        "status_list",
        [
            "x",
            {"bits": 3, "lst": b64(zlib.compress(b"\0"))},
            {"bits": True, "lst": b64(zlib.compress(b"\0"))},
            {"bits": [1], "lst": b64(zlib.compress(b"\0"))},
            {"bits": 1},
            {"bits": 1, "lst": 5},
            {"bits": 1, "lst": "not base64!"},
            {"bits": 1, "lst": b64(zlib.compress(b"\0")) + "=="},
            {"bits": 1, "lst": b64(b"not zlib at all")},
            {"bits": 1, "lst": b64(zlib.compress(b"\0" * 100)[:-6])},
            {"bits": 1, "lst": b64(zlib.compress(b"\0") + b"trailing")},
            {"bits": 1, "lst": b64(gzip.compress(b"\0"))},
            {"bits": 1, "lst": b64(zlib.compress(b"\0")), "aggregation_uri": 7},
        ],
        ids=[
            "not-object",
            "bits-3",
            "bits-bool",
            "bits-list",
            "no-lst",
            "lst-not-string",
            "lst-not-b64",
            "lst-padded",
            "not-zlib",
            "truncated",
            "trailing-bytes",
            "gzip-not-zlib",
            "aggregation-uri-not-string",
        ],
    )
    def test_malformed(self, status_list: Any) -> None:
        """TSL §4.2: bits ∈ {1,2,4,8}, lst one complete ZLIB stream in unpadded base64url."""
        with pytest.raises(CredentialInvalid) as excinfo:
            decode_status_list(status_list)
        assert _reason(excinfo) == "status.malformed"

    def test_decompression_bomb_is_refused_fast(self) -> None:
        """TSL §11.1 / security §7: ~10 KB inflating to 10 MB stops at the cap, quickly."""
        bomb = zlib.compress(bytes(10 * 2**20), 9)
        assert len(bomb) < 16 * 1024
        started = time.perf_counter()
        with pytest.raises(CredentialInvalid) as excinfo:
            decode_status_list({"bits": 1, "lst": b64(bomb)}, max_entries=2**20)
        assert _reason(excinfo) == "status.too_large"
        assert time.perf_counter() - started < 1.0

    def test_cap_is_exact(self) -> None:
        """The cap is max_entries*bits/8 bytes: exactly that many inflate, one more byte does not."""
        assert len(decode_status_list(tsl_list([0] * 64, 2), max_entries=64)) == 64
        with pytest.raises(CredentialInvalid) as excinfo:
            decode_status_list(tsl_list([0] * 68, 2), max_entries=64)
        assert _reason(excinfo) == "status.too_large"


class TestStatusAt:
    @pytest.mark.parametrize("idx", [-1, 8, 10**9, True])
    def test_out_of_range(self, idx: int) -> None:
        """TSL §8.3 step 5: an index the list does not hold gives no statement and is refused."""
        decoded = decode_status_list(tsl_list([1] * 8, 1))
        with pytest.raises(CredentialInvalid) as excinfo:
            status_at(decoded, idx)
        assert _reason(excinfo) == "status.index_out_of_range"

    def test_application_specific_values(self) -> None:
        """TSL §7.1: 0x03 and 0x0C-0x0F are application specific, nothing else is."""
        assert [v for v in range(256) if is_application_specific(v)] == [3, 12, 13, 14, 15]


class TestVerifyStatusListToken:
    def test_valid_token(self) -> None:
        """A correctly signed, current token for the referenced uri yields its list and caching hints."""
        decoded = _verify(_token())
        assert [status_at(decoded, i) for i in range(4)] == [0, 1, 2, 3]
        assert decoded.ttl == 300
        assert decoded.expires_at == NOW + 3600

    def test_exp_and_ttl_are_optional(self) -> None:
        """TSL §5.1: exp and ttl are RECOMMENDED, not required."""
        decoded = _verify(_token(exp=DROP, ttl=DROP))
        assert (decoded.ttl, decoded.expires_at) == (None, None)

    def test_accepts_a_decoded_jws(self) -> None:
        """The pipeline decodes once (to find the key) and verifies the same Jws."""
        jws = decode_status_list_token(_token())
        assert len(_verify(jws)) == 4  # type: ignore[arg-type]

    @pytest.mark.parametrize("typ", ["statuslist+jwt", "application/statuslist+jwt", "StatusList+JWT"])
    def test_typ_spellings(self, typ: str) -> None:
        """RFC 7515 §4.1.9: the application/ prefix may be left out and case does not matter."""
        assert len(_verify(_token(header={"typ": typ}))) == 4

    @pytest.mark.parametrize("header", [{}, {"typ": "JWT"}, {"typ": "dc+sd-jwt"}, {"typ": 1}])
    def test_wrong_typ(self, header: dict[str, Any]) -> None:
        """TSL §5.1: typ MUST be statuslist+jwt; a credential or plain JWT is not a status list."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(_token(header=header))
        assert _reason(excinfo) == "status.wrong_typ"

    def test_wrong_typ_on_a_decoded_jws(self) -> None:
        """A Jws decoded elsewhere still has to be a status list token."""
        jws = decode_jws(_token(header={"typ": "JWT"}), kind=STATUS)
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(jws)  # type: ignore[arg-type]
        assert _reason(excinfo) == "status.wrong_typ"

    def test_tampered_signature(self) -> None:
        """TSL §8.3 step 4: a token whose signature does not verify is rejected."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(tamper(_token()))
        assert _reason(excinfo) == "status.bad_signature"

    def test_signed_by_another_key(self) -> None:
        """A list signed by a key other than the trusted one is a forgery."""
        other, _ = signer()
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(_token(key=other))
        assert _reason(excinfo) == "status.bad_signature"

    def test_alg_not_allowed(self) -> None:
        """Only allow-listed algorithms verify."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(_token(), allowed_algs=frozenset({"ES256"}))
        assert _reason(excinfo) == "status.alg_not_allowed"

    @pytest.mark.parametrize("sub", ["https://issuer.example/statuslists/2", DROP, 1])
    def test_sub_mismatch(self, sub: object) -> None:
        """TSL §8.3 step 4: sub must be the uri the referenced token named."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(_token(sub=sub))
        assert _reason(excinfo) == "status.uri_mismatch"

    def test_expired(self) -> None:
        """TSL §8.3 step 4: an expired list is rejected (beyond the clock skew)."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(_token(exp=NOW - 61))
        assert _reason(excinfo) == "status.expired"
        assert len(_verify(_token(exp=NOW - 59))) == 4

    @pytest.mark.parametrize(
        ("claims", "reason"),
        [
            ({"iat": DROP}, "status.iat_missing"),
            ({"iat": NOW + 3600}, "status.issued_in_future"),
            ({"iat": "yesterday"}, "status.malformed"),
            ({"nbf": NOW + 3600}, "status.not_yet_valid"),
            ({"ttl": 0}, "status.malformed"),
            ({"ttl": -5}, "status.malformed"),
            ({"ttl": "300"}, "status.malformed"),
            ({"ttl": True}, "status.malformed"),
            ({"status_list": DROP}, "status.malformed"),
            ({"status_list": {"bits": 1}}, "status.malformed"),
        ],
        ids=[
            "no-iat",
            "iat-future",
            "iat-string",
            "nbf-future",
            "ttl-0",
            "ttl-neg",
            "ttl-str",
            "ttl-bool",
            "no-list",
            "bad-list",
        ],
    )
    def test_claim_rules(self, claims: dict[str, Any], reason: str) -> None:
        """TSL §5.1: iat required, ttl a positive integer, status_list present and valid."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(_token(**claims))
        assert _reason(excinfo) == reason

    def test_numeric_date_beyond_float_range(self) -> None:
        """A NumericDate too large for a float is malformed, not a crash."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(_token(exp=10**400))
        assert _reason(excinfo) == "status.malformed"

    @pytest.mark.parametrize("token", ["", "a.b", "x" * 100, 5])
    def test_not_a_jws(self, token: Any) -> None:
        """Anything that is not a compact JWS is malformed."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _verify(token)
        assert _reason(excinfo) == "status.malformed"
