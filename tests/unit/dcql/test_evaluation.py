"""evaluate_dcql with a fake Lookup: vp_token shape, per-presentation checks, and credential satisfaction."""

from __future__ import annotations

from typing import Any

import pytest

from service.dcql import DcqlQuery, DcqlResult, evaluate_dcql, parse_dcql_query
from service.dcql.evaluation import MAX_PRESENTATIONS
from service.errors import CredentialInvalid, LimitExceeded, SubmissionMismatch
from tests.unit.dcql.fakes import FakeWallet, claim, credential_query, jwt_vc, sd_jwt

ALICE = {
    "given_name": "Alice",
    "family_name": "Doe",
    "address": {"locality": "Berlin", "postal_code": "10115"},
}


def dcql(*credentials: dict[str, Any], **extra: Any) -> DcqlQuery:
    return parse_dcql_query({"credentials": list(credentials), **extra})


def failure(query: DcqlQuery, vp_token: Any, wallet: FakeWallet) -> SubmissionMismatch:
    with pytest.raises(SubmissionMismatch) as caught:
        evaluate_dcql(query, vp_token, wallet.lookup)
    assert caught.value.description.isascii()
    return caught.value


@pytest.fixture
def wallet() -> FakeWallet:
    wallet = FakeWallet()
    wallet.add("alice", sd_jwt({"given_name": "Alice", "family_name": "Doe"}))
    wallet.add("alice-2", sd_jwt({"given_name": "Alicia"}))
    wallet.add("diploma", jwt_vc({"degree": "MSc"}, types=("VerifiableCredential", "Diploma")))
    return wallet


NAMES = credential_query("pid", claim("given_name"), claim("family_name"))


class TestShape:
    @pytest.mark.parametrize("vp_token", ["alice", ["alice"], None, 1])
    def test_vp_token_must_be_an_object(self, vp_token: Any, wallet: FakeWallet) -> None:
        """1.0 §8.1: vp_token is a JSON object keyed by credential query id."""
        assert failure(dcql(NAMES), vp_token, wallet).reason == "dcql.malformed_vp_token"
        assert wallet.calls == []

    def test_empty_object_answers_nothing(self, wallet: FakeWallet) -> None:
        assert failure(dcql(NAMES), {}, wallet).reason == "dcql.credential_missing"

    def test_unknown_key_is_refused_before_verification(self, wallet: FakeWallet) -> None:
        error = failure(dcql(NAMES), {"pid": ["alice"], "other": ["alice"]}, wallet)
        assert error.reason == "dcql.unknown_query_id"
        assert wallet.calls == []

    @pytest.mark.parametrize("entry", ["alice", [], {"0": "alice"}])
    def test_entry_must_be_a_non_empty_array(self, entry: Any, wallet: FakeWallet) -> None:
        """1.0 (unlike drafts 22-24) wraps presentations in an array, even a single one."""
        error = failure(dcql(NAMES), {"pid": entry}, wallet)
        assert (error.reason, error.descriptor_id) == ("dcql.malformed_vp_token", "pid")

    def test_several_presentations_need_multiple(self, wallet: FakeWallet) -> None:
        error = failure(dcql(NAMES), {"pid": ["alice", "alice-2"]}, wallet)
        assert (error.reason, error.descriptor_id) == ("dcql.multiple_not_allowed", "pid")
        assert wallet.calls == []

    def test_multiple_allows_several(self, wallet: FakeWallet) -> None:
        wallet.add("bob", sd_jwt({"given_name": "Bob"}))
        query = dcql(credential_query("pid", claim("given_name"), multiple=True))
        result = evaluate_dcql(query, {"pid": ["alice-2", "bob"]}, wallet.lookup)
        (item,) = result.queries
        assert [match.claims[0].values for match in item.matches] == [("Alicia",), ("Bob",)]

    def test_presentation_count_is_capped(self, wallet: FakeWallet) -> None:
        query = dcql(credential_query("pid", multiple=True))
        with pytest.raises(LimitExceeded):
            evaluate_dcql(query, {"pid": ["alice"] * (MAX_PRESENTATIONS + 1)}, wallet.lookup)

    @pytest.mark.parametrize(
        ("fmt", "meta"),
        [("mso_mdoc", {"doctype_value": "org.iso.18013.5.1.mDL"}), ("ldp_vc", {"type_values": [["X"]]})],
    )
    def test_unverifiable_format_is_refused(self, fmt: str, meta: dict[str, Any], wallet: FakeWallet) -> None:
        """mso_mdoc and ldp_vc parse, but a presentation for them cannot be checked yet."""
        query = dcql(NAMES, {"id": "other", "format": fmt, "meta": meta})
        error = failure(query, {"pid": ["alice"], "other": ["blob"]}, wallet)
        assert (error.reason, error.descriptor_id) == ("dcql.unsupported_format", "other")
        assert wallet.calls == []


class TestVerification:
    def test_lookup_gets_the_canonical_format(self, wallet: FakeWallet) -> None:
        """The vc+sd-jwt alias reaches the handlers as dc+sd-jwt."""
        query = dcql(credential_query("pid", claim("given_name"), claim("family_name"), format="vc+sd-jwt"))
        evaluate_dcql(query, {"pid": ["alice"]}, wallet.lookup)
        assert wallet.calls == [("dc+sd-jwt", "alice")]

    def test_lookup_errors_reject_the_whole_response(self, wallet: FakeWallet) -> None:
        """A presentation that fails verification (signature, nonce) is not merely discarded (§14.1.2)."""
        query = dcql(
            NAMES,
            credential_query("opt"),
            credential_sets=[{"options": [["pid"]]}, {"options": [["opt"]], "required": False}],
        )
        with pytest.raises(CredentialInvalid):
            evaluate_dcql(query, {"pid": ["alice"], "opt": ["forged"]}, wallet.lookup)

    def test_same_presentation_is_verified_once(self, wallet: FakeWallet) -> None:
        query = dcql(credential_query("a", claim("given_name")), credential_query("b", claim("family_name")))
        result = evaluate_dcql(query, {"a": ["alice"], "b": ["alice"]}, wallet.lookup)
        assert wallet.calls == [("dc+sd-jwt", "alice")]
        assert [item.query_id for item in result.queries] == ["a", "b"]


class TestCredentialChecks:
    def test_format_mismatch(self, wallet: FakeWallet) -> None:
        query = dcql(
            {"id": "pid", "format": "jwt_vc_json", "meta": {"type_values": [["VerifiableCredential"]]}}
        )
        error = failure(query, {"pid": ["alice"]}, wallet)
        assert (error.reason, error.descriptor_id) == ("dcql.format_mismatch", "pid")

    def test_vct_must_be_listed(self, wallet: FakeWallet) -> None:
        query = dcql(credential_query("pid", meta={"vct_values": ["https://other.example/vct"]}))
        assert failure(query, {"pid": ["alice"]}, wallet).reason == "dcql.meta_mismatch"

    def test_vct_alternatives(self, wallet: FakeWallet) -> None:
        query = dcql(
            credential_query("pid", claim("given_name"), meta={"vct_values": ["urn:x", sd_jwt({}).vct]})
        )
        assert evaluate_dcql(query, {"pid": ["alice-2"]}, wallet.lookup).get("pid") is not None

    def test_type_values_alternatives(self, wallet: FakeWallet) -> None:
        """One alternative must be fully contained in the credential's types; extra types are fine."""
        meta = {"type_values": [["Passport"], ["VerifiableCredential", "Diploma"]]}
        query = dcql({"id": "d", "format": "jwt_vc_json", "meta": meta})
        assert evaluate_dcql(query, {"d": ["diploma"]}, wallet.lookup).get("d") is not None

    def test_type_values_all_of_an_alternative(self, wallet: FakeWallet) -> None:
        meta = {"type_values": [["Diploma", "Transcript"]]}
        query = dcql({"id": "d", "format": "jwt_vc_json", "meta": meta})
        assert failure(query, {"d": ["diploma"]}, wallet).reason == "dcql.meta_mismatch"

    def test_expanded_base_type_matches_the_term(self, wallet: FakeWallet) -> None:
        """type_values are expanded IRIs; the VCDM base term expands into the credentials vocabulary."""
        meta = {"type_values": [["https://www.w3.org/2018/credentials#VerifiableCredential", "Diploma"]]}
        query = dcql({"id": "d", "format": "jwt_vc_json", "meta": meta})
        assert evaluate_dcql(query, {"d": ["diploma"]}, wallet.lookup).get("d") is not None

    def test_claims_run_against_the_credential_view(self, wallet: FakeWallet) -> None:
        """App. B.1.2: jwt_vc_json pointers start at the credential, so credentialSubject is at the top."""
        query = dcql(
            {
                "id": "d",
                "format": "jwt_vc_json",
                "meta": {"type_values": [["Diploma"]]},
                "claims": [{"path": ["credentialSubject", "degree"]}],
            }
        )
        (match,) = evaluate_dcql(query, {"d": ["diploma"]}, wallet.lookup).queries[0].matches
        assert match.claims[0].values == ("MSc",)


class TestClaims:
    def test_all_claims_without_claim_sets(self, wallet: FakeWallet) -> None:
        query = dcql(credential_query("pid", claim("given_name"), claim("birthdate")))
        error = failure(query, {"pid": ["alice"]}, wallet)
        assert (error.reason, error.descriptor_id) == ("dcql.claim_missing", "pid")
        assert "birthdate" in error.description

    def test_values_must_match(self, wallet: FakeWallet) -> None:
        query = dcql(credential_query("pid", claim("given_name", values=["Bob", "Carol"])))
        assert failure(query, {"pid": ["alice"]}, wallet).reason == "dcql.value_mismatch"

    def test_values_are_type_sensitive(self) -> None:
        """1 is not "1" is not true (§6.3)."""
        wallet = FakeWallet()
        wallet.add("w", sd_jwt({"n": 1, "s": "1", "b": True}))
        for path, wanted, ok in [
            ("n", [1], True),
            ("n", ["1"], False),
            ("n", [True], False),
            ("s", [1], False),
            ("b", [True], True),
            ("b", [1], False),
        ]:
            query = dcql(
                credential_query("q", claim(path, values=wanted)),
                credential_query("rest", claim("n"), claim("s"), claim("b")),
            )
            outcome = "ok"
            try:
                evaluate_dcql(query, {"q": ["w"], "rest": ["w"]}, wallet.lookup)
            except SubmissionMismatch as exc:
                outcome = exc.reason
            assert (outcome == "ok") is ok, (path, wanted, outcome)

    def test_wildcard_with_values_needs_one_match(self) -> None:
        wallet = FakeWallet()
        wallet.add(
            "w",
            sd_jwt(
                {"nationalities": ["FR", "DE"]},
                disclosed=(("nationalities",), ("nationalities", 0), ("nationalities", 1)),
            ),
        )
        query = dcql(credential_query("q", claim("nationalities", None, values=["DE", "IT"])))
        (match,) = evaluate_dcql(query, {"q": ["w"]}, wallet.lookup).queries[0].matches
        assert match.claims[0].values == ("DE",)

    def test_first_satisfiable_claim_set_is_used(self, wallet: FakeWallet) -> None:
        query = dcql(
            credential_query(
                "pid",
                claim("birthdate", id="b"),
                claim("given_name", id="g"),
                claim("family_name", id="f"),
                claim_sets=[["b", "g"], ["g", "f"], ["g"]],
            )
        )
        (match,) = evaluate_dcql(query, {"pid": ["alice"]}, wallet.lookup).queries[0].matches
        assert match.claim_set == ("g", "f")
        assert [item.claim_id for item in match.claims] == ["g", "f"]

    def test_no_satisfiable_claim_set(self, wallet: FakeWallet) -> None:
        query = dcql(
            credential_query(
                "pid", claim("birthdate", id="b"), claim("given_name", id="g"), claim_sets=[["b"], ["b", "g"]]
            )
        )
        assert failure(query, {"pid": ["alice"]}, wallet).reason == "dcql.claim_sets_unmet"

    def test_value_mismatch_makes_a_claim_set_unsatisfiable(self, wallet: FakeWallet) -> None:
        query = dcql(
            credential_query(
                "pid",
                claim("given_name", id="g", values=["Bob"]),
                claim("family_name", id="f"),
                claim_sets=[["g", "f"], ["f"]],
            ),
        )
        wallet.add("doe", sd_jwt({"family_name": "Doe"}))
        error = failure(query, {"pid": ["alice"]}, wallet)
        assert error.reason == "dcql.over_disclosure"  # set ["f"] is used, so given_name was not asked for
        (match,) = evaluate_dcql(query, {"pid": ["doe"]}, wallet.lookup).queries[0].matches
        assert match.claim_set == ("f",)


class TestOverDisclosure:
    def test_unrequested_disclosure(self, wallet: FakeWallet) -> None:
        """Alice disclosed family_name; only given_name was asked for."""
        query = dcql(credential_query("pid", claim("given_name")))
        error = failure(query, {"pid": ["alice"]}, wallet)
        assert (error.reason, error.descriptor_id) == ("dcql.over_disclosure", "pid")

    def test_no_claims_means_no_disclosures(self, wallet: FakeWallet) -> None:
        """§6.4.1: without claims only mandatory data may be presented."""
        assert (
            failure(dcql(credential_query("pid")), {"pid": ["alice"]}, wallet).reason
            == "dcql.over_disclosure"
        )
        wallet.add("bare", sd_jwt({"given_name": "A"}, disclosed=()))
        assert (
            evaluate_dcql(dcql(credential_query("pid")), {"pid": ["bare"]}, wallet.lookup).get("pid")
            is not None
        )

    def test_containers_and_contents_are_covered(self) -> None:
        """A parent disclosure on the way to a requested claim, and disclosures inside it, are fine."""
        wallet = FakeWallet()
        disclosed = (("address",), ("address", "locality"), ("address", "postal_code"))
        wallet.add("w", sd_jwt({"address": ALICE["address"]}, disclosed=disclosed))
        ok = dcql(credential_query("q", claim("address")))
        assert evaluate_dcql(ok, {"q": ["w"]}, wallet.lookup).get("q") is not None
        narrow = dcql(credential_query("q", claim("address", "locality")))
        assert failure(narrow, {"q": ["w"]}, wallet).reason == "dcql.over_disclosure"

    def test_null_covers_every_index(self) -> None:
        wallet = FakeWallet()
        disclosed = (("degrees", 0), ("degrees", 1), ("degrees", 1, "type"))
        wallet.add("w", sd_jwt({"degrees": [{"type": "BSc"}, {"type": "MSc"}]}, disclosed=disclosed))
        query = dcql(credential_query("q", claim("degrees", None, "type")))
        assert evaluate_dcql(query, {"q": ["w"]}, wallet.lookup).get("q") is not None

    def test_unused_claim_set_does_not_cover(self) -> None:
        """Disclosures are judged against the claim set used (the first satisfiable one)."""
        wallet = FakeWallet()
        wallet.add("w", sd_jwt({"postal_code": "1", "locality": "B", "region": "R"}))
        query = dcql(
            credential_query(
                "q",
                claim("postal_code", id="p"),
                claim("locality", id="l"),
                claim("region", id="r"),
                claim_sets=[["l", "r"], ["p"]],
            )
        )
        assert failure(query, {"q": ["w"]}, wallet).reason == "dcql.over_disclosure"

    def test_one_credential_answering_two_queries(self, wallet: FakeWallet) -> None:
        """§6.4.1: the same credential may disclose what any query it answers asks for."""
        query = dcql(credential_query("a", claim("given_name")), credential_query("b", claim("family_name")))
        assert len(evaluate_dcql(query, {"a": ["alice"], "b": ["alice"]}, wallet.lookup).queries) == 2

    def test_formats_without_disclosures_are_not_limited(self, wallet: FakeWallet) -> None:
        """A JWT VC discloses everything by design; there was nothing to withhold."""
        query = dcql({"id": "d", "format": "jwt_vc_json", "meta": {"type_values": [["Diploma"]]}})
        assert evaluate_dcql(query, {"d": ["diploma"]}, wallet.lookup).get("d") is not None


class TestSatisfaction:
    def test_all_queries_required_without_sets(self, wallet: FakeWallet) -> None:
        query = dcql(NAMES, {"id": "d", "format": "jwt_vc_json", "meta": {"type_values": [["Diploma"]]}})
        error = failure(query, {"pid": ["alice"]}, wallet)
        assert (error.reason, error.descriptor_id) == ("dcql.credential_missing", "d")

    def test_failing_required_query_reports_its_reason(self, wallet: FakeWallet) -> None:
        query = dcql(credential_query("pid", claim("birthdate")))
        assert failure(query, {"pid": ["alice"]}, wallet).reason == "dcql.claim_missing"

    def test_one_option_of_a_required_set(self, wallet: FakeWallet) -> None:
        diploma = {"id": "d", "format": "jwt_vc_json", "meta": {"type_values": [["Diploma"]]}}
        query = dcql(NAMES, diploma, credential_sets=[{"options": [["pid"], ["d"]]}])
        assert [
            item.query_id for item in evaluate_dcql(query, {"d": ["diploma"]}, wallet.lookup).queries
        ] == ["d"]
        both = evaluate_dcql(query, {"pid": ["alice"], "d": ["diploma"]}, wallet.lookup)
        assert [item.query_id for item in both.queries] == ["pid", "d"]

    def test_option_needs_all_its_queries(self, wallet: FakeWallet) -> None:
        diploma = {"id": "d", "format": "jwt_vc_json", "meta": {"type_values": [["Diploma"]]}}
        query = dcql(NAMES, diploma, credential_sets=[{"options": [["pid", "d"]]}])
        error = failure(query, {"pid": ["alice"]}, wallet)
        assert error.reason == "dcql.credential_missing"
        assert "credential set 0" in error.description

    def test_optional_set_may_be_unmet(self, wallet: FakeWallet) -> None:
        query = dcql(
            NAMES,
            credential_query("extra"),
            credential_sets=[{"options": [["pid"]]}, {"options": [["extra"]], "required": False}],
        )
        assert [
            item.query_id for item in evaluate_dcql(query, {"pid": ["alice"]}, wallet.lookup).queries
        ] == ["pid"]

    def test_failing_optional_presentation_is_discarded(self, wallet: FakeWallet) -> None:
        """1.0 §8.6: a presentation failing its query is discarded; the response still stands."""
        query = dcql(
            NAMES,
            credential_query("extra", claim("birthdate")),
            credential_sets=[{"options": [["pid"]]}, {"options": [["extra"]], "required": False}],
        )
        result = evaluate_dcql(query, {"pid": ["alice"], "extra": ["alice"]}, wallet.lookup)
        assert [item.query_id for item in result.queries] == ["pid"]
        ((discarded),) = result.discarded
        assert (discarded.query_id, discarded.reason) == ("extra", "dcql.claim_missing")

    def test_failing_option_reports_its_reason(self, wallet: FakeWallet) -> None:
        query = dcql(credential_query("pid", claim("birthdate")), credential_sets=[{"options": [["pid"]]}])
        assert failure(query, {"pid": ["alice"]}, wallet).reason == "dcql.claim_missing"

    def test_query_in_no_set_is_required(self, wallet: FakeWallet) -> None:
        query = dcql(
            NAMES, credential_query("extra"), credential_sets=[{"options": [["extra"]], "required": False}]
        )
        error = failure(query, {"extra": ["alice-2"]}, wallet)
        assert (error.reason, error.descriptor_id) == ("dcql.credential_missing", "pid")

    def test_multiple_discards_failing_presentations(self, wallet: FakeWallet) -> None:
        query = dcql(credential_query("pid", claim("given_name"), claim("family_name"), multiple=True))
        wallet.add("ok", sd_jwt({"given_name": "B", "family_name": "C"}))
        result = evaluate_dcql(query, {"pid": ["alice-2", "ok"]}, wallet.lookup)
        assert [match.credential for match in result.queries[0].matches] == [wallet.objects["ok"]]
        assert [item.reason for item in result.discarded] == ["dcql.claim_missing"]

    def test_multiple_all_failing(self, wallet: FakeWallet) -> None:
        query = dcql(credential_query("pid", claim("birthdate"), multiple=True))
        assert failure(query, {"pid": ["alice", "alice-2"]}, wallet).reason == "dcql.claim_missing"


def test_result_shape(wallet: FakeWallet) -> None:
    """Queries come back in query order with their credentials; get() finds them by id."""
    diploma = {"id": "d", "format": "jwt_vc_json", "meta": {"type_values": [["Diploma"]]}}
    query = dcql(diploma, NAMES)
    result = evaluate_dcql(query, {"pid": ["alice"], "d": ["diploma"]}, wallet.lookup)
    assert isinstance(result, DcqlResult)
    assert [item.query_id for item in result.queries] == ["d", "pid"]
    pid = result.get("pid")
    assert pid is not None
    assert pid.credentials == (wallet.objects["alice"],)
    assert [claim.path for claim in pid.matches[0].claims] == [("given_name",), ("family_name",)]
    assert result.get("nope") is None
    assert result.discarded == ()
