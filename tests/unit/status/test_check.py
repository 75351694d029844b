"""The status checks the pipeline calls, over a fake StatusListSource (TSL §8.3, BSL §3.2)."""

from __future__ import annotations

from typing import Any

import pytest

from service.errors import CredentialInvalid, DependencyUnavailable, VerifierError
from service.jose.jwk import PublicJwk
from service.jose.jws import Jws
from service.status import (
    BitstringReference,
    StatusOutcome,
    StatusPolicy,
    StatusReference,
    check_bitstring_status,
    check_token_status,
)
from service.status.check import BITSTRING_ACCEPT, TOKEN_STATUS_LIST_ACCEPT
from tests.unit.status import FakeSource, bsl_bits, encoded_list, run, sign, signer, tamper, tsl_list

NOW = 1_700_000_000
TSL_URI = "https://issuer.example/statuslists/1"
REVOCATION_URL = "https://issuer.example/status/revocation"
SUSPENSION_URL = "https://issuer.example/status/suspension"
ALGS = frozenset({"EdDSA"})
STRICT = StatusPolicy()
LENIENT = StatusPolicy(allow_unknown=True)
KEY, PUBLIC = signer()
# Index -> TSL value: 0 valid, 1 invalid, 2 suspended, 3 application specific, 4 reserved.
TSL_VALUES = [0, 1, 2, 3, 4, 0x0C, 0x10]


def _key_for_list(jws: Jws) -> PublicJwk:
    # The lead's callback: trust the list only if its issuer is the one we know.
    if jws.payload.get("iss") != "https://issuer.example":
        raise CredentialInvalid("credential.untrusted_issuer", "untrusted")
    return PUBLIC


def _tsl_token(**claims: Any) -> bytes:
    payload: dict[str, Any] = {
        "iss": "https://issuer.example",
        "sub": TSL_URI,
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "status_list": tsl_list(TSL_VALUES, 8),
    }
    payload.update(claims)
    return sign({"typ": "statuslist+jwt"}, payload, KEY).encode("ascii")


def _check_token(
    idx: int, body: bytes | None = None, *, policy: StatusPolicy = STRICT, **options: Any
) -> StatusOutcome:
    bodies = {} if body is None else {TSL_URI: body}
    arguments: dict[str, Any] = {
        "source": FakeSource(bodies),
        "key_for_list": _key_for_list,
        "allowed_algs": ALGS,
        "now": NOW,
        "clock_skew": 60,
        "policy": policy,
    }
    arguments.update(options)
    return run(check_token_status(StatusReference(idx=idx, uri=TSL_URI), **arguments))


def _reason(excinfo: pytest.ExceptionInfo[VerifierError]) -> str:
    return excinfo.value.reason


class TestCheckTokenStatus:
    def test_valid(self) -> None:
        """TSL §7.1 value 0: the credential is valid."""
        assert _check_token(0, _tsl_token()) == StatusOutcome("valid", 0, None)

    @pytest.mark.parametrize(("idx", "reason"), [(1, "status.revoked"), (2, "status.suspended")])
    @pytest.mark.parametrize("policy", [STRICT, LENIENT])
    def test_revoked_and_suspended_are_rejected(self, idx: int, reason: str, policy: StatusPolicy) -> None:
        """Values 1 and 2 reject the credential whatever the policy (a definite answer, not an unknown)."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_token(idx, _tsl_token(), policy=policy)
        assert _reason(excinfo) == reason

    @pytest.mark.parametrize(
        ("idx", "reason"),
        [
            (3, "status.application_specific"),
            (5, "status.application_specific"),
            (4, "status.reserved_value"),
        ],
    )
    def test_uninterpretable_values_follow_the_policy(self, idx: int, reason: str) -> None:
        """Application-specific and reserved values: rejected by default, "unknown" when allowed."""
        value = TSL_VALUES[idx]
        assert _check_token(idx, _tsl_token(), policy=LENIENT) == StatusOutcome("unknown", value, reason)
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_token(idx, _tsl_token())
        assert _reason(excinfo) == reason

    def test_unreachable_strict(self) -> None:
        """An outage rejects with its own reason by default, so the verdict says what happened."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_token(0)
        assert _reason(excinfo) == "status.unreachable"

    def test_unreachable_lenient(self) -> None:
        """An outage is "unknown" when the policy allows it."""
        assert _check_token(0, policy=LENIENT) == StatusOutcome("unknown", None, "status.unreachable")

    def test_refused_url(self) -> None:
        """A URL the fetcher refuses gives no answer either: rejected, or unknown when allowed."""
        source = FakeSource({}, refused=[TSL_URI])
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_token(0, source=source)
        assert _reason(excinfo) == "status.uri_refused"
        assert _check_token(0, source=source, policy=LENIENT).reason == "status.uri_refused"

    @pytest.mark.parametrize("policy", [STRICT, LENIENT])
    def test_bad_signature_is_never_unknown(self, policy: StatusPolicy) -> None:
        """A forged list is not an outage: it rejects even when unknown is allowed."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_token(0, tamper(_tsl_token().decode()).encode(), policy=policy)
        assert _reason(excinfo) == "status.bad_signature"

    @pytest.mark.parametrize(
        ("idx", "body", "reason"),
        [
            (0, lambda: _tsl_token(exp=NOW - 3600), "status.expired"),
            (7, _tsl_token, "status.index_out_of_range"),
            (0, lambda: _tsl_token(sub="https://issuer.example/statuslists/2"), "status.uri_mismatch"),
            (0, lambda: b"\xff\xfe not ascii", "status.malformed"),
            (0, lambda: b"<html>error</html>", "status.malformed"),
        ],
        ids=["expired", "out-of-range", "sub-mismatch", "not-ascii", "html"],
    )
    @pytest.mark.parametrize("policy", [STRICT, LENIENT])
    def test_list_problems_reject(self, idx: int, body: Any, reason: str, policy: StatusPolicy) -> None:
        """Expired lists, missing indices and wrong lists reject under both policies."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_token(idx, body(), policy=policy)
        assert _reason(excinfo) == reason

    def test_untrusted_list_issuer(self) -> None:
        """key_for_list decides trust; its refusal propagates unchanged."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_token(0, _tsl_token(iss="https://attacker.example"))
        assert _reason(excinfo) == "credential.untrusted_issuer"

    def test_async_key_callback(self) -> None:
        """key_for_list may be async (e.g. when the issuer's JWKS has to be resolved)."""

        async def key_for_list(jws: Jws) -> PublicJwk:
            return _key_for_list(jws)

        assert _check_token(0, _tsl_token(), key_for_list=key_for_list).state == "valid"

    def test_fetch_asks_for_a_status_list_token(self) -> None:
        """TSL §8.1: the fetch sends Accept: application/statuslist+jwt; a trailing newline is fine."""
        source = FakeSource({TSL_URI: _tsl_token() + b"\r\n"})
        assert _check_token(0, source=source).state == "valid"
        assert source.calls == [(TSL_URI, TOKEN_STATUS_LIST_ACCEPT)]
        assert TOKEN_STATUS_LIST_ACCEPT == ("application/statuslist+jwt",)

    def test_other_source_errors_propagate(self) -> None:
        """Only the documented outage/refusal errors are interpreted; anything else is not swallowed."""

        class Broken:
            async def fetch(self, uri: str, *, accept: Any) -> bytes:
                raise RuntimeError("bug")

        with pytest.raises(RuntimeError):
            _check_token(0, source=Broken())


# --- Bitstring --- #


def _list_credential(url: str, purpose: str, revoked: list[int], **claims: Any) -> bytes:
    vc = {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": "https://issuer.example",
        "credentialSubject": {
            "id": url + "#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded_list(bsl_bits(revoked)),
        },
    }
    payload = {"iss": "https://issuer.example", "iat": NOW - 10, "vc": vc, **claims}
    return sign({"typ": "JWT"}, payload, KEY).encode("ascii")


def _ref(purpose: str, index: int, url: str | None = None) -> BitstringReference:
    default = SUSPENSION_URL if purpose == "suspension" else REVOCATION_URL
    return BitstringReference("BitstringStatusListEntry", purpose, index, url or default)


def _lists(revoked: list[int] | None = None, suspended: list[int] | None = None) -> dict[str, bytes]:
    bodies = {}
    if revoked is not None:
        bodies[REVOCATION_URL] = _list_credential(REVOCATION_URL, "revocation", revoked)
    if suspended is not None:
        bodies[SUSPENSION_URL] = _list_credential(SUSPENSION_URL, "suspension", suspended)
    return bodies


def _check_bits(
    references: list[BitstringReference], source: FakeSource, *, policy: StatusPolicy = STRICT
) -> StatusOutcome:
    return run(
        check_bitstring_status(
            references,
            source=source,
            key_for_list=_key_for_list,
            allowed_algs=ALGS,
            now=NOW,
            clock_skew=60,
            policy=policy,
        )
    )


class TestCheckBitstringStatus:
    def test_valid(self) -> None:
        """No bit set for either purpose: valid; each list fetched with a VC JWT Accept header."""
        source = FakeSource(_lists(revoked=[3], suspended=[4]))
        outcome = _check_bits([_ref("revocation", 5), _ref("suspension", 5)], source)
        assert outcome == StatusOutcome("valid", 0, None)
        assert source.calls == [(REVOCATION_URL, BITSTRING_ACCEPT), (SUSPENSION_URL, BITSTRING_ACCEPT)]

    @pytest.mark.parametrize("policy", [STRICT, LENIENT])
    def test_revoked(self, policy: StatusPolicy) -> None:
        """A set revocation bit rejects the credential."""
        source = FakeSource(_lists(revoked=[5], suspended=[]))
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_bits([_ref("suspension", 5), _ref("revocation", 5)], source, policy=policy)
        assert _reason(excinfo) == "status.revoked"

    def test_suspended(self) -> None:
        """A set suspension bit rejects the credential as suspended."""
        source = FakeSource(_lists(revoked=[], suspended=[5]))
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_bits([_ref("revocation", 5), _ref("suspension", 5)], source)
        assert _reason(excinfo) == "status.suspended"

    def test_unreachable_strict(self) -> None:
        """An unreachable list rejects with status.unreachable by default."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_bits([_ref("revocation", 5)], FakeSource({}))
        assert _reason(excinfo) == "status.unreachable"

    def test_unreachable_lenient(self) -> None:
        """An unreachable list is "unknown" when the policy allows it."""
        outcome = _check_bits([_ref("revocation", 5)], FakeSource({}), policy=LENIENT)
        assert outcome == StatusOutcome("unknown", None, "status.unreachable")

    def test_revoked_beats_unreachable(self) -> None:
        """One list unreachable and another saying revoked: the verdict is revoked."""
        source = FakeSource(_lists(revoked=[5]))
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_bits([_ref("suspension", 5), _ref("revocation", 5)], source, policy=LENIENT)
        assert _reason(excinfo) == "status.revoked"

    def test_other_purposes_are_not_fetched(self) -> None:
        """refresh/message entries are listed but decide nothing and cost no fetch."""
        source = FakeSource({})
        outcome = _check_bits([_ref("message", 5), _ref("refresh", 1)], source)
        assert outcome == StatusOutcome("valid", None, None)
        assert source.calls == []

    def test_no_references(self) -> None:
        """Nothing to check is valid with no code."""
        assert _check_bits([], FakeSource({})) == StatusOutcome("valid", None, None)

    def test_shared_list_fetched_once(self) -> None:
        """Two purposes served by one list: one fetch."""
        source = FakeSource({REVOCATION_URL: _multi_purpose_list()})
        references = [_ref("revocation", 5), _ref("suspension", 6, REVOCATION_URL)]
        assert _check_bits(references, source).state == "valid"
        assert len(source.calls) == 1

    @pytest.mark.parametrize("policy", [STRICT, LENIENT])
    def test_bad_signature_is_never_unknown(self, policy: StatusPolicy) -> None:
        """A forged list rejects even when unknown is allowed."""
        body = tamper(_list_credential(REVOCATION_URL, "revocation", []).decode()).encode()
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_bits([_ref("revocation", 5)], FakeSource({REVOCATION_URL: body}), policy=policy)
        assert _reason(excinfo) == "status.bad_signature"

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (lambda: _list_credential(REVOCATION_URL, "revocation", [], exp=NOW - 3600), "status.expired"),
            (lambda: _list_credential(REVOCATION_URL, "suspension", []), "status.purpose_mismatch"),
            (lambda: _list_credential(SUSPENSION_URL, "revocation", []), "status.uri_mismatch"),
        ],
        ids=["expired", "purpose-mismatch", "url-mismatch"],
    )
    def test_list_problems_reject(self, body: Any, reason: str) -> None:
        """Expired, wrong-purpose and wrong-URL lists reject even under the lenient policy."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_bits([_ref("revocation", 5)], FakeSource({REVOCATION_URL: body()}), policy=LENIENT)
        assert _reason(excinfo) == reason

    def test_index_out_of_range(self) -> None:
        """An index beyond the list rejects (BSL RANGE_ERROR)."""
        with pytest.raises(CredentialInvalid) as excinfo:
            _check_bits([_ref("revocation", 131_072)], FakeSource(_lists(revoked=[])))
        assert _reason(excinfo) == "status.index_out_of_range"

    def test_outage_from_key_callback_propagates(self) -> None:
        """A key resolution outage is the callback's error to raise; it is not turned into a verdict."""

        def key_for_list(jws: Jws) -> PublicJwk:
            raise DependencyUnavailable("issuer_keys.unreachable", "down")

        with pytest.raises(DependencyUnavailable):
            run(
                check_bitstring_status(
                    [_ref("revocation", 5)],
                    source=FakeSource(_lists(revoked=[])),
                    key_for_list=key_for_list,
                    allowed_algs=ALGS,
                    now=NOW,
                    clock_skew=60,
                    policy=LENIENT,
                )
            )


def _multi_purpose_list() -> bytes:
    vc = {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "id": REVOCATION_URL,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "credentialSubject": {
            "type": "BitstringStatusList",
            "statusPurpose": ["revocation", "suspension"],
            "encodedList": encoded_list(bsl_bits([])),
        },
    }
    payload = {"iss": "https://issuer.example", "iat": NOW - 10, "vc": vc}
    return sign({}, payload, KEY).encode("ascii")
