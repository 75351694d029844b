"""OpenID4VP 1.0 DCQL examples (../shared/vectors/dcql): queries of §6.5/App. B/App. D, pointers of §7.3.

The queries are valid inputs, not input/output pairs (see SOURCE.md), so each test states what we expect:
every query parses; those in formats we cannot verify yet are refused by check_supported; for five of them
we build credentials by hand that satisfy or fail them. The claims-path-pointer cases carry their expected
selections.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from service.dcql import DcqlQuery, check_supported, disclosed_claims, evaluate_dcql, parse_dcql_query, select
from service.errors import BadBackendRequest, SubmissionMismatch

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "dcql"
QUERIES = sorted(path.name for path in (VECTORS / "queries").glob("*.json"))
POINTER_CASES = sorted(path.name for path in (VECTORS / "claims-path-pointer").glob("case-*.json"))
# Queries naming a format without a handler here (mso_mdoc, ldp_vc): they parse, check_supported refuses.
UNSUPPORTED = {"complex_mdoc.json", "dcql_ldp_vc.json", "multi_credentials.json"}
VCT = "https://credentials.example.com/identity_credential"


def load_query(name: str) -> DcqlQuery:
    return parse_dcql_query(json.loads((VECTORS / "queries" / name).read_text()))


@dataclass(frozen=True)
class Credential:
    """A verified credential as a format handler hands it over."""

    format: str
    documents: tuple[Mapping[str, Any], ...]
    vct: str | None = None
    types: tuple[str, ...] | None = None
    disclosed_paths: tuple[tuple[str | int, ...], ...] = ()
    alg: str = "ES256"


def pid(claims: Mapping[str, Any], *, vct: str = VCT) -> Credential:
    """An SD-JWT VC disclosing ``claims``; nested objects are disclosed member by member."""
    paths: list[tuple[str | int, ...]] = []
    for name, value in claims.items():
        paths.append((name,))
        if isinstance(value, dict):
            paths.extend((name, member) for member in value)
    payload = {"iss": "https://issuer.example", "vct": vct, **claims}
    return Credential("dc+sd-jwt", (payload,), vct=vct, disclosed_paths=tuple(paths))


@dataclass
class Wallet:
    tokens: dict[str, Credential] = field(default_factory=dict)

    def lookup(self, fmt: str, presentation: Any) -> Credential:
        return self.tokens[presentation]


def outcome(query: DcqlQuery, vp_token: dict[str, list[Credential]]) -> str:
    """Run the query over credentials standing in for presentations: "accept" or the dcql.* reason."""
    wallet = Wallet()
    token: dict[str, list[str]] = {}
    for key, items in vp_token.items():
        for i, item in enumerate(items):
            wallet.tokens[f"{key}-{i}"] = item
            token.setdefault(key, []).append(f"{key}-{i}")
    try:
        evaluate_dcql(query, token, wallet.lookup)
    except SubmissionMismatch as exc:
        return exc.reason
    return "accept"


@pytest.mark.parametrize("name", QUERIES)
def test_every_query_parses(name: str) -> None:
    query = load_query(name)
    assert query.raw == json.loads((VECTORS / "queries" / name).read_text())
    if name in UNSUPPORTED:
        with pytest.raises(BadBackendRequest) as caught:
            check_supported(query)
        assert caught.value.reason == "dcql.unsupported_format"
    else:
        check_supported(query)


@pytest.mark.parametrize("name", POINTER_CASES)
def test_claims_path_pointer(name: str) -> None:
    case = json.loads((VECTORS / "claims-path-pointer" / name).read_text())
    assert select(case["path"], case["credential"]) == case["expected_selected"]


ADDRESS = {"street_address": "42 Market Street"}


class TestSimple:
    query = load_query("simple.json")

    def test_satisfied(self) -> None:
        credential = pid({"last_name": "Doe", "first_name": "John", "address": ADDRESS})
        assert outcome(self.query, {"my_credential": [credential]}) == "accept"

    def test_nested_claim_missing(self) -> None:
        credential = pid({"last_name": "Doe", "first_name": "John", "address": {"locality": "X"}})
        assert outcome(self.query, {"my_credential": [credential]}) == "dcql.claim_missing"

    def test_other_vct(self) -> None:
        credential = pid({"last_name": "Doe", "first_name": "John", "address": ADDRESS}, vct="urn:other")
        assert outcome(self.query, {"my_credential": [credential]}) == "dcql.meta_mismatch"

    def test_extra_disclosure(self) -> None:
        credential = pid(
            {"last_name": "Doe", "first_name": "John", "address": ADDRESS, "birthdate": "1990-01-01"}
        )
        assert outcome(self.query, {"my_credential": [credential]}) == "dcql.over_disclosure"

    def test_verdict_claims(self) -> None:
        wallet = Wallet({"t": pid({"last_name": "Doe", "first_name": "John", "address": ADDRESS})})
        result = evaluate_dcql(self.query, {"my_credential": ["t"]}, wallet.lookup)
        assert disclosed_claims(result.queries[0]) == {
            "last_name": "Doe",
            "first_name": "John",
            "address.street_address": "42 Market Street",
        }


class TestMultiCredentials:
    """pid (SD-JWT VC) and mdl (mdoc) are both required; mdoc presentations cannot be verified here yet."""

    query = load_query("multi_credentials.json")
    person = pid({"given_name": "John", "family_name": "Doe", "address": ADDRESS})

    def test_mdoc_answer_is_refused(self) -> None:
        mdoc = Credential("mso_mdoc", ({},))
        assert outcome(self.query, {"pid": [self.person], "mdl": [mdoc]}) == "dcql.unsupported_format"

    def test_both_are_required(self) -> None:
        assert outcome(self.query, {"pid": [self.person]}) == "dcql.credential_missing"

    def test_pid_part_is_checked(self) -> None:
        mdoc = Credential("mso_mdoc", ({},))
        broken = pid({"given_name": "John", "family_name": "Doe"})
        # The shape (unsupported mdoc) is refused before any presentation is checked.
        assert outcome(self.query, {"pid": [broken], "mdl": [mdoc]}) == "dcql.unsupported_format"
        assert outcome(self.query, {"pid": [broken]}) == "dcql.claim_missing"


class TestClaimsAlternatives:
    """claim_sets: [a, c, d, e] (last_name, locality, region, date_of_birth) is preferred to [a, b, e]."""

    query = load_query("claims_alternatives.json")
    common = {"last_name": "Doe", "date_of_birth": "1990-01-01"}

    def test_first_set(self) -> None:
        credential = pid({**self.common, "locality": "Berlin", "region": "BE"})
        assert outcome(self.query, {"pid": [credential]}) == "accept"

    def test_second_set(self) -> None:
        credential = pid({**self.common, "postal_code": "10115"})
        assert outcome(self.query, {"pid": [credential]}) == "accept"
        wallet = Wallet({"t": credential})
        (match,) = evaluate_dcql(self.query, {"pid": ["t"]}, wallet.lookup).queries[0].matches
        assert match.claim_set == ("a", "b", "e")
        assert disclosed_claims(match) == {"a": "Doe", "b": "10115", "e": "1990-01-01"}

    def test_both_sets_disclosed_is_too_much(self) -> None:
        """The first set is used, so postal_code was not asked for."""
        credential = pid({**self.common, "locality": "Berlin", "region": "BE", "postal_code": "10115"})
        assert outcome(self.query, {"pid": [credential]}) == "dcql.over_disclosure"

    def test_no_set(self) -> None:
        credential = pid({**self.common, "locality": "Berlin"})
        assert outcome(self.query, {"pid": [credential]}) == "dcql.claim_sets_unmet"


class TestValueMatchingSimple:
    """last_name must be "Doe"; postal_code "90210" or "90211"."""

    query = load_query("value_matching_simple.json")

    def person(self, **changes: Any) -> Credential:
        claims = {
            "last_name": "Doe",
            "first_name": "John",
            "address": ADDRESS,
            "postal_code": "90210",
            **changes,
        }
        return pid(claims)

    def test_matching_values(self) -> None:
        assert outcome(self.query, {"my_credential": [self.person(postal_code="90211")]}) == "accept"

    @pytest.mark.parametrize(
        ("member", "value"), [("last_name", "Dough"), ("postal_code", 90210), ("postal_code", "90212")]
    )
    def test_other_values(self, member: str, value: Any) -> None:
        assert (
            outcome(self.query, {"my_credential": [self.person(**{member: value})]}) == "dcql.value_mismatch"
        )

    def test_verdict_carries_answers_not_values(self) -> None:
        wallet = Wallet({"t": self.person()})
        result = evaluate_dcql(self.query, {"my_credential": ["t"]}, wallet.lookup)
        assert disclosed_claims(result.queries[0]) == {
            "last_name": True,
            "first_name": "John",
            "address.street_address": "42 Market Street",
            "postal_code": True,
        }


class TestJwtVc:
    """type_values [["IDCredential"]]; claims under credentialSubject (App. B.1.2: the credential's root)."""

    query = load_query("dcql_jwt_vc.json")

    def vc(
        self, subject: dict[str, Any], types: tuple[str, ...] = ("VerifiableCredential", "IDCredential")
    ) -> Credential:
        vc = {"type": list(types), "credentialSubject": subject}
        return Credential("jwt_vc_json", ({"iss": "did:example:i", "vc": vc}, vc), types=types)

    def test_satisfied(self) -> None:
        credential = self.vc({"family_name": "Doe", "given_name": "John", "birthdate": "1990-01-01"})
        assert outcome(self.query, {"example_jwt_vc": [credential]}) == "accept"

    def test_wrong_type(self) -> None:
        credential = self.vc(
            {"family_name": "Doe", "given_name": "John"}, ("VerifiableCredential", "Diploma")
        )
        assert outcome(self.query, {"example_jwt_vc": [credential]}) == "dcql.meta_mismatch"

    def test_claim_missing(self) -> None:
        assert (
            outcome(self.query, {"example_jwt_vc": [self.vc({"family_name": "Doe"})]}) == "dcql.claim_missing"
        )

    def test_sd_jwt_in_its_place(self) -> None:
        credential = pid({"credentialSubject": {"family_name": "Doe", "given_name": "John"}})
        assert outcome(self.query, {"example_jwt_vc": [credential]}) == "dcql.format_mismatch"

    def test_two_presentations(self) -> None:
        credential = self.vc({"family_name": "Doe", "given_name": "John"})
        assert (
            outcome(self.query, {"example_jwt_vc": [credential, credential]}) == "dcql.multiple_not_allowed"
        )


def test_complex_mdoc_sets() -> None:
    """The mDL-or-photo-ID query: one required set, one optional; every query is in a set."""
    query = load_query("complex_mdoc.json")
    assert query.required_ids() == ()
    assert query.credential_sets is not None
    assert [(item.options, item.required) for item in query.credential_sets] == [
        ((("mdl-id",), ("photo_card-id",)), True),
        ((("mdl-address",), ("photo_card-address",)), False),
    ]
