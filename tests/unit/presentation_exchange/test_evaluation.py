"""End-to-end-style tests of evaluate_submission with a fake Lookup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from service.errors import CredentialInvalid, SubmissionMismatch
from service.presentation_exchange import (
    PresentationDefinition,
    SubmissionResult,
    evaluate_submission,
    parse_submission,
)
from tests.unit.presentation_exchange.fakes import FakeDecoded, FakeWallet, descriptor, entry, pd, submission

TYPE_FIELD = {
    "path": ["$.vc.type"],
    "filter": {"type": "array", "contains": {"const": "VerifiableCredential"}},
}
NAME_FIELD = {
    "id": "name",
    "path": ["$.vc.credentialSubject.name"],
    "filter": {"type": "string", "const": "Alice"},
}


@pytest.fixture
def wallet() -> FakeWallet:
    wallet = FakeWallet()
    wallet.add_vc("vc-alice", {"name": "Alice", "age": 30})
    wallet.add_vc("vc-bob", {"name": "Bob", "age": 12})
    wallet.add_vp("vp-1", ["vc-alice"])
    wallet.add_vp("vp-2", ["vc-alice", "vc-bob"])
    return wallet


def run(
    definition: PresentationDefinition, raw_submission: dict[str, Any], vp_token: Any, wallet: FakeWallet
) -> SubmissionResult:
    return evaluate_submission(definition, parse_submission(raw_submission), vp_token, wallet.lookup)


def reason_of(
    definition: PresentationDefinition, raw_submission: dict[str, Any], vp_token: Any, wallet: FakeWallet
) -> str:
    with pytest.raises(SubmissionMismatch) as caught:
        run(definition, raw_submission, vp_token, wallet)
    assert caught.value.description.isascii()
    return caught.value.reason


class TestResolution:
    def test_single_presentation_with_nested_credential(self, wallet: FakeWallet) -> None:
        """path $ plus path_nested yields the VC as candidate and the VP as its presentation."""
        result = run(pd(descriptor("d", NAME_FIELD)), submission("pd-1", entry("d")), "vp-1", wallet)
        (item,) = result.descriptors
        assert item.descriptor_id == "d"
        assert item.credential is wallet.objects["vc-alice"]
        assert item.presentations == (wallet.objects["vp-1"],)
        assert [(f.field_id, f.path, f.value) for f in item.fields] == [
            ("name", "$.vc.credentialSubject.name", "Alice")
        ]
        assert result.get("d") is item
        assert result.get("other") is None

    def test_array_vp_token_uses_indexed_paths(self, wallet: FakeWallet) -> None:
        """With an array vp_token, $[n] selects the n-th presentation."""
        wallet.add_vp("vp-bob", ["vc-bob"])
        definition = pd(
            descriptor("d", {"path": ["$.vc.credentialSubject.name"], "filter": {"const": "Bob"}})
        )
        result = run(definition, submission("pd-1", entry("d", path="$[1]")), ["vp-1", "vp-bob"], wallet)
        assert result.descriptors[0].credential is wallet.objects["vc-bob"]

    def test_top_level_credential_without_nesting(self, wallet: FakeWallet) -> None:
        """An entry without path_nested makes the top-level object the candidate."""
        raw = submission("pd-1", entry("d", fmt="jwt_vc", nested=None))
        result = run(pd(descriptor("d", NAME_FIELD)), raw, "vc-alice", wallet)
        assert result.descriptors[0].credential is wallet.objects["vc-alice"]
        assert result.descriptors[0].presentations == ()

    def test_lookup_receives_canonical_formats_and_nodes(self, wallet: FakeWallet) -> None:
        """Aliases in the map (jwt_vp, jwt_vc) reach the Lookup as canonical ids, with the selected node."""
        run(
            pd(descriptor("d", NAME_FIELD)),
            submission("pd-1", entry("d", fmt="jwt_vp", nested_fmt="jwt_vc")),
            "vp-1",
            wallet,
        )
        assert wallet.calls == [("jwt_vp_json", "vp-1"), ("jwt_vc_json", "vc-alice")]

    def test_shared_presentation_is_verified_once(self, wallet: FakeWallet) -> None:
        """Two entries pointing into the same VP call the Lookup for that VP once."""
        definition = pd(descriptor("a", TYPE_FIELD), descriptor("b", TYPE_FIELD))
        raw = submission("pd-1", entry("a"), entry("b", nested="$.vp.verifiableCredential[1]"))
        run(definition, raw, "vp-2", wallet)
        assert [call for call in wallet.calls if call[1] == "vp-2"] == [("jwt_vp_json", "vp-2")]

    def test_lookup_errors_propagate(self, wallet: FakeWallet) -> None:
        """A Lookup failure (bad signature, unknown token) is not rewritten."""
        wallet.add_vp("vp-x", ["unknown"])
        with pytest.raises(CredentialInvalid):
            run(pd(descriptor("d", TYPE_FIELD)), submission("pd-1", entry("d")), "vp-x", wallet)


class TestStructuralReasons:
    def test_definition_mismatch(self, wallet: FakeWallet) -> None:
        """definition_id must name the definition: submission.definition_mismatch."""
        assert reason_of(
            pd(descriptor("d", TYPE_FIELD)), submission("other", entry("d")), "vp-1", wallet
        ) == ("submission.definition_mismatch")

    def test_unknown_descriptor(self, wallet: FakeWallet) -> None:
        """A map entry for a descriptor the definition lacks: submission.unknown_descriptor."""
        raw = submission("pd-1", entry("d"), entry("zzz"))
        assert (
            reason_of(pd(descriptor("d", TYPE_FIELD)), raw, "vp-1", wallet) == "submission.unknown_descriptor"
        )

    def test_duplicate_descriptor(self, wallet: FakeWallet) -> None:
        """The same descriptor mapped twice: submission.duplicate_descriptor."""
        raw = submission("pd-1", entry("d"), entry("d"))
        assert (
            reason_of(pd(descriptor("d", TYPE_FIELD)), raw, "vp-1", wallet)
            == "submission.duplicate_descriptor"
        )

    @pytest.mark.parametrize(("fmt", "nested_fmt"), [("ldp_vp", "jwt_vc_json"), ("jwt_vp_json", "mso_mdoc")])
    def test_unsupported_format(self, wallet: FakeWallet, fmt: str, nested_fmt: str) -> None:
        """A map format we do not speak, at any level: submission.unsupported_format, before any lookup."""
        raw = submission("pd-1", entry("d", fmt=fmt, nested_fmt=nested_fmt))
        assert (
            reason_of(pd(descriptor("d", TYPE_FIELD)), raw, "vp-1", wallet) == "submission.unsupported_format"
        )
        assert wallet.calls == []

    @pytest.mark.parametrize(
        ("path", "vp_token"), [("$[0]", "vp-1"), ("$", ["vp-1"]), ("$.x", "vp-1"), ("$[00]", ["vp-1"])]
    )
    def test_top_level_path_shape(self, wallet: FakeWallet, path: str, vp_token: Any) -> None:
        """OpenID4VP: $ for one presentation, $[n] for an array; anything else is submission.path_invalid."""
        raw = submission("pd-1", entry("d", path=path))
        assert reason_of(pd(descriptor("d", TYPE_FIELD)), raw, vp_token, wallet) == "submission.path_invalid"

    def test_path_unresolved_at_the_top(self, wallet: FakeWallet) -> None:
        """$[n] past the end of the array selects nothing: submission.path_unresolved."""
        raw = submission("pd-1", entry("d", path="$[3]"))
        assert (
            reason_of(pd(descriptor("d", TYPE_FIELD)), raw, ["vp-1"], wallet) == "submission.path_unresolved"
        )

    def test_path_unresolved_when_nested(self, wallet: FakeWallet) -> None:
        """A path_nested that selects nothing in the VP: submission.path_unresolved."""
        raw = submission("pd-1", entry("d", nested="$.vp.verifiableCredential[5]"))
        assert reason_of(pd(descriptor("d", TYPE_FIELD)), raw, "vp-1", wallet) == "submission.path_unresolved"

    def test_path_nested_without_documents(self, wallet: FakeWallet) -> None:
        """A decoded object with no documents cannot host path_nested: submission.path_unresolved."""
        wallet.objects["vp-empty"] = FakeDecoded("jwt_vp_json", "ES256", ())
        raw = submission("pd-1", entry("d"))
        assert (
            reason_of(pd(descriptor("d", TYPE_FIELD)), raw, "vp-empty", wallet)
            == "submission.path_unresolved"
        )

    def test_path_ambiguous(self, wallet: FakeWallet) -> None:
        """A path selecting several nodes: submission.path_ambiguous."""
        raw = submission("pd-1", entry("d", nested="$.vp.verifiableCredential[*]"))
        assert reason_of(pd(descriptor("d", TYPE_FIELD)), raw, "vp-2", wallet) == "submission.path_ambiguous"

    def test_format_mismatch(self, wallet: FakeWallet) -> None:
        """The decoded object's format differs from the declared one: submission.format_mismatch."""
        raw = submission("pd-1", entry("d", fmt="jwt_vc_json", nested=None))
        assert reason_of(pd(descriptor("d", TYPE_FIELD)), raw, "vp-1", wallet) == "submission.format_mismatch"

    def test_descriptor_missing(self, wallet: FakeWallet) -> None:
        """Without submission requirements every descriptor must be mapped: submission.descriptor_missing."""
        definition = pd(descriptor("a", TYPE_FIELD), descriptor("b", TYPE_FIELD))
        assert (
            reason_of(definition, submission("pd-1", entry("a")), "vp-1", wallet)
            == "submission.descriptor_missing"
        )
        assert wallet.calls == []  # refused before any verification work


class TestFormatRestrictions:
    ALGS = {"alg": ["EdDSA"]}

    @pytest.mark.parametrize(
        "formats",
        [
            {"jwt_vc_json": {"alg": ["EdDSA"]}},  # candidate alg ES256 not listed
            {"jwt_vp_json": {"alg": ["ES256"]}},  # candidate format not listed
            {"ldp_vc": {"proof_type": ["Ed25519Signature2018"]}},
            {"jwt_vc_json": {"alg": ["ES256"]}, "jwt_vp_json": {"alg": ["EdDSA"]}},  # listed VP alg differs
        ],
    )
    def test_descriptor_format_refuses(self, wallet: FakeWallet, formats: dict[str, Any]) -> None:
        """Candidate format/alg not allowed, or a listed VP format with another alg: format_not_allowed."""
        definition = pd(descriptor("d", TYPE_FIELD, format=formats))
        assert (
            reason_of(definition, submission("pd-1", entry("d")), "vp-1", wallet)
            == "submission.format_not_allowed"
        )

    @pytest.mark.parametrize(
        "formats",
        [
            {"jwt_vc": {"alg": ["ES256"]}},  # presentation format unlisted: not a reason to refuse
            {"jwt_vc_json": {"alg": ["ES256"]}, "jwt_vp_json": {"alg": ["ES256"]}},
            {"jwt_vc_json": {"proof_type": ["JsonWebSignature2020"]}},  # no alg list: any alg
        ],
    )
    def test_descriptor_format_allows(self, wallet: FakeWallet, formats: dict[str, Any]) -> None:
        """A listed candidate format with an allowed (or unrestricted) alg passes."""
        run(pd(descriptor("d", TYPE_FIELD, format=formats)), submission("pd-1", entry("d")), "vp-1", wallet)

    def test_definition_level_format_applies_when_descriptor_has_none(self, wallet: FakeWallet) -> None:
        """The PD-level format restricts descriptors that do not carry their own."""
        definition = pd(descriptor("d", TYPE_FIELD), format={"jwt_vc_json": self.ALGS})
        assert (
            reason_of(definition, submission("pd-1", entry("d")), "vp-1", wallet)
            == "submission.format_not_allowed"
        )

    def test_descriptor_format_overrides_definition_format(self, wallet: FakeWallet) -> None:
        """A descriptor's own format replaces the PD-level one."""
        definition = pd(
            descriptor("d", TYPE_FIELD, format={"jwt_vc_json": {"alg": ["ES256"]}}),
            format={"jwt_vc_json": self.ALGS},
        )
        run(definition, submission("pd-1", entry("d")), "vp-1", wallet)


class TestFields:
    def test_field_missing(self, wallet: FakeWallet) -> None:
        """No path matched anything: submission.field_missing."""
        definition = pd(descriptor("d", {"path": ["$.vc.credentialSubject.email"]}))
        assert (
            reason_of(definition, submission("pd-1", entry("d")), "vp-1", wallet)
            == "submission.field_missing"
        )

    def test_filter_failed(self, wallet: FakeWallet) -> None:
        """A value existed but failed the filter: submission.filter_failed."""
        definition = pd(
            descriptor("d", {"path": ["$.vc.credentialSubject.name"], "filter": {"const": "Bob"}})
        )
        assert (
            reason_of(definition, submission("pd-1", entry("d")), "vp-1", wallet)
            == "submission.filter_failed"
        )

    def test_optional_absent_field_is_skipped(self, wallet: FakeWallet) -> None:
        """An optional field nobody matched is satisfied and left out of the result."""
        definition = pd(
            descriptor("d", {"path": ["$.vc.credentialSubject.email"], "optional": True}, NAME_FIELD)
        )
        result = run(definition, submission("pd-1", entry("d")), "vp-1", wallet)
        assert [f.field_id for f in result.descriptors[0].fields] == ["name"]

    def test_optional_present_field_must_pass_its_filter(self, wallet: FakeWallet) -> None:
        """An optional field whose value fails its filter is submission.filter_failed."""
        field = {"path": ["$.vc.credentialSubject.age"], "optional": True, "filter": {"minimum": 40}}
        definition = pd(descriptor("d", field))
        assert (
            reason_of(definition, submission("pd-1", entry("d")), "vp-1", wallet)
            == "submission.filter_failed"
        )

    def test_next_path_is_tried_after_a_filter_failure(self, wallet: FakeWallet) -> None:
        """A value that fails the filter sends evaluation to the next path."""
        field = {
            "path": ["$.vc.credentialSubject.name", "$.vc.credentialSubject.age"],
            "filter": {"type": "integer"},
        }
        result = run(pd(descriptor("d", field)), submission("pd-1", entry("d")), "vp-1", wallet)
        assert (result.descriptors[0].fields[0].path, result.descriptors[0].fields[0].value) == (
            "$.vc.credentialSubject.age",
            30,
        )

    def test_next_path_is_tried_when_nothing_matched(self, wallet: FakeWallet) -> None:
        """A path that selects nothing is skipped."""
        field = {"path": ["$.credentialSubject.nope", "$.vc.credentialSubject.name"]}
        result = run(pd(descriptor("d", field)), submission("pd-1", entry("d")), "vp-1", wallet)
        assert result.descriptors[0].fields[0].value == "Alice"

    def test_later_documents_are_searched(self, wallet: FakeWallet) -> None:
        """A VCDM-style path ($.credentialSubject.x) matches the decoded-VC document."""
        field = {"path": ["$.credentialSubject.name"]}
        result = run(pd(descriptor("d", field)), submission("pd-1", entry("d")), "vp-1", wallet)
        assert result.descriptors[0].fields[0].value == "Alice"

    def test_first_match_is_used(self, wallet: FakeWallet) -> None:
        """With several matches the first, in document order, is the value."""
        wallet.add_vc("vc-list", {"tags": ["x", "y"]})
        wallet.add_vp("vp-list", ["vc-list"])
        field = {"path": ["$.vc.credentialSubject.tags[*]"], "filter": {"const": "x"}}
        run(pd(descriptor("d", field)), submission("pd-1", entry("d")), "vp-list", wallet)
        field = {"path": ["$.vc.credentialSubject.tags[*]"], "filter": {"const": "y"}}
        assert reason_of(pd(descriptor("d", field)), submission("pd-1", entry("d")), "vp-list", wallet) == (
            "submission.filter_failed"
        )


class TestMappingDecision:
    """A descriptor is judged only on the credential mapped to it; one credential may serve several."""

    def test_unmapped_descriptor_is_unsatisfied_even_if_a_credential_fits(self, wallet: FakeWallet) -> None:
        """With pick count 2, mapping one of two fitting descriptors leaves the other unsatisfied."""
        definition = pd(
            descriptor("a", TYPE_FIELD, group=["A"]),
            descriptor("b", TYPE_FIELD, group=["A"]),
            submission_requirements=[{"rule": "pick", "count": 2, "from": "A"}],
        )
        assert (
            reason_of(definition, submission("pd-1", entry("a")), "vp-1", wallet)
            == "submission.requirements_unmet"
        )

    def test_one_credential_may_satisfy_two_descriptors(self, wallet: FakeWallet) -> None:
        """The same VC mapped to two descriptors satisfies both, each with its own fields."""
        definition = pd(descriptor("a", TYPE_FIELD), descriptor("b", NAME_FIELD))
        result = run(definition, submission("pd-1", entry("a"), entry("b")), "vp-1", wallet)
        assert [item.descriptor_id for item in result.descriptors] == ["a", "b"]
        assert result.descriptors[0].credential is result.descriptors[1].credential
        assert [f.path for f in result.descriptors[1].fields] == ["$.vc.credentialSubject.name"]

    def test_shared_credential_is_checked_against_each_descriptor(self, wallet: FakeWallet) -> None:
        """Sharing a credential does not let one descriptor's success cover another's failure."""
        other = {"path": ["$.vc.credentialSubject.name"], "filter": {"const": "Bob"}}
        definition = pd(descriptor("a", NAME_FIELD), descriptor("b", other))
        assert reason_of(definition, submission("pd-1", entry("a"), entry("b")), "vp-1", wallet) == (
            "submission.filter_failed"
        )


class TestSubmissionRequirements:
    def definition(self) -> PresentationDefinition:
        alice = {"path": ["$.vc.credentialSubject.name"], "filter": {"const": "Alice"}}
        bob = {"path": ["$.vc.credentialSubject.name"], "filter": {"const": "Bob"}}
        return pd(
            descriptor("alice", alice, group=["A"]),
            descriptor("bob", bob, group=["A"]),
            descriptor("extra", TYPE_FIELD, group=["X"]),
            submission_requirements=[{"rule": "pick", "count": 1, "from": "A"}],
        )

    def test_pick_is_met_and_unneeded_descriptors_are_ignored(self, wallet: FakeWallet) -> None:
        """Mapping one of group A is enough; group X, not required, may stay unmapped."""
        result = run(
            self.definition(),
            submission("pd-1", entry("bob", nested="$.vp.verifiableCredential[1]")),
            "vp-2",
            wallet,
        )
        assert [item.descriptor_id for item in result.descriptors] == ["bob"]

    def test_failing_descriptor_is_discarded(self, wallet: FakeWallet) -> None:
        """A mapped descriptor that fails its constraints is dropped; the rules decide the outcome."""
        raw = submission("pd-1", entry("alice"), entry("bob"))  # both map vc-alice; 'bob' fails its filter
        result = run(self.definition(), raw, "vp-2", wallet)
        assert [item.descriptor_id for item in result.descriptors] == ["alice"]

    def test_requirements_unmet(self, wallet: FakeWallet) -> None:
        """When the satisfied set does not meet the rules: submission.requirements_unmet."""
        raw = submission("pd-1", entry("bob"))  # vc-alice mapped to 'bob' fails
        assert reason_of(self.definition(), raw, "vp-2", wallet) == "submission.requirements_unmet"

    def test_pick_count_is_an_upper_bound_too(self, wallet: FakeWallet) -> None:
        """pick count 1 with two satisfied members is not met."""
        raw = submission("pd-1", entry("alice"), entry("bob", nested="$.vp.verifiableCredential[1]"))
        assert reason_of(self.definition(), raw, "vp-2", wallet) == "submission.requirements_unmet"

    def test_structural_errors_still_raise(self, wallet: FakeWallet) -> None:
        """Requirements do not soften structural problems such as an unresolvable path."""
        raw = submission("pd-1", entry("alice", nested="$.vp.verifiableCredential[9]"))
        assert reason_of(self.definition(), raw, "vp-2", wallet) == "submission.path_unresolved"


@dataclass(frozen=True)
class _SdJwtDecoded:
    format: str
    alg: str
    documents: tuple[Mapping[str, Any], ...]
    disclosed_paths: tuple[tuple[str | int, ...], ...]


class TestLimitDisclosure:
    """`limit_disclosure: required` against what an SD-JWT disclosed."""

    CLAIMS: ClassVar[dict[str, Any]] = {
        "vct": "urn:eudi:pid:1",
        "age_equal_or_over": {"18": True, "21": True},
        "given_name": "Erika",
        "address": {"country": "DE", "street": "Hauptstr. 1"},
    }

    def _evaluate(self, disclosed: tuple[tuple[str | int, ...], ...], fields: list[dict[str, Any]]) -> Any:
        definition = pd({"id": "pid", "constraints": {"fields": fields, "limit_disclosure": "required"}})
        token = "sd-jwt-1"
        decoded = _SdJwtDecoded("dc+sd-jwt", "ES256", (self.CLAIMS,), disclosed)

        def lookup(fmt: str, node: Any) -> _SdJwtDecoded:
            assert node == token
            return decoded

        sub = parse_submission(submission("pd-1", {"id": "pid", "format": "dc+sd-jwt", "path": "$"}))
        return evaluate_submission(definition, sub, token, lookup)

    def test_only_requested_claims_disclosed_passes(self) -> None:
        """Disclosing exactly the requested nested claim (and its container) is accepted."""
        result = self._evaluate(
            (("age_equal_or_over",), ("age_equal_or_over", "18")),
            [{"path": ["$.age_equal_or_over.18"], "filter": {"const": True}}],
        )
        assert result.descriptors[0].fields[0].location == ("age_equal_or_over", "18")

    def test_extra_disclosed_claim_is_over_disclosure(self) -> None:
        """A disclosed given_name nobody asked for is refused as over-disclosure."""
        with pytest.raises(SubmissionMismatch) as caught:
            self._evaluate(
                (("age_equal_or_over", "18"), ("given_name",)),
                [{"path": ["$.age_equal_or_over.18"], "filter": {"const": True}}],
            )
        assert caught.value.reason == "submission.over_disclosure"

    def test_claims_inside_a_requested_object_are_covered(self) -> None:
        """Requesting the whole address covers its disclosed members."""
        self._evaluate((("address",), ("address", "street")), [{"path": ["$.address"]}])

    def test_sibling_of_a_requested_member_is_not_covered(self) -> None:
        """Requesting address.country does not cover a disclosed address.street."""
        with pytest.raises(SubmissionMismatch) as caught:
            self._evaluate((("address", "country"), ("address", "street")), [{"path": ["$.address.country"]}])
        assert caught.value.reason == "submission.over_disclosure"

    def test_without_limit_disclosure_extra_claims_pass(self) -> None:
        """Without limit_disclosure the same over-disclosure is accepted."""
        definition = pd(descriptor("pid", {"path": ["$.vct"]}))
        decoded = _SdJwtDecoded("dc+sd-jwt", "ES256", (self.CLAIMS,), (("given_name",),))
        sub = parse_submission(submission("pd-1", {"id": "pid", "format": "vc+sd-jwt", "path": "$"}))
        evaluate_submission(definition, sub, "t", lambda fmt, node: decoded)


def test_descriptor_mapped_to_a_presentation_is_not_a_credential() -> None:
    """A map entry ending at a VP (no path_nested) cannot satisfy a descriptor: a VP is the holder's word."""
    wallet = FakeWallet()
    vp = wallet.add_vp("vp-1", [])
    wallet.objects[vp] = FakeDecoded("jwt_vp_json", "ES256", ({"vc": {"credentialSubject": {"age": 30}}},))
    definition = pd(descriptor("d", {"path": ["$.vc.credentialSubject.age"]}))
    sub = parse_submission(submission("pd-1", entry("d", nested=None)))
    with pytest.raises(SubmissionMismatch) as caught:
        evaluate_submission(definition, sub, vp, wallet.lookup)
    assert caught.value.reason == "submission.not_a_credential"
