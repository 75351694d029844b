"""match_claims, value comparison and the over-disclosure rule, without a vp_token around them."""

from __future__ import annotations

from typing import Any

import pytest

from service.dcql import parse_dcql_query
from service.dcql.claims import first_undisclosed, match_claims, same_value
from service.dcql.model import CredentialQuery
from service.errors import SubmissionMismatch
from tests.unit.dcql.fakes import claim, credential_query


def cq(*claims: dict[str, Any], **extra: Any) -> CredentialQuery:
    return parse_dcql_query({"credentials": [credential_query("q", *claims, **extra)]}).credentials[0]


class TestSameValue:
    @pytest.mark.parametrize(
        ("value", "wanted"),
        [("a", "a"), (1, 1), (1.0, 1), (True, True), (False, False)],
    )
    def test_equal(self, value: Any, wanted: Any) -> None:
        assert same_value(value, wanted)

    @pytest.mark.parametrize(
        ("value", "wanted"),
        [
            ("1", 1),
            (1, "1"),
            (1, True),
            (True, 1),
            (0, False),
            ("true", True),
            (None, "null"),
            ([1], 1),
            ({"a": 1}, "a"),
        ],
    )
    def test_different_type_or_value(self, value: Any, wanted: Any) -> None:
        assert not same_value(value, wanted)


class TestMatchClaims:
    def test_no_claims(self) -> None:
        outcome = match_claims(cq(), [{"a": 1}])
        assert (outcome.claims, outcome.claim_set) == ((), None)

    def test_documents_are_tried_in_order(self) -> None:
        """The first document where the pointer selects something supplies the value."""
        outcome = match_claims(cq(claim("a")), [{"b": 1}, {"a": 2}, {"a": 3}])
        assert outcome.claims[0].values == (2,)

    def test_missing_everywhere(self) -> None:
        with pytest.raises(SubmissionMismatch) as caught:
            match_claims(cq(claim("a", "b")), [{"a": 1}, {}])
        assert (caught.value.reason, caught.value.descriptor_id) == ("dcql.claim_missing", "q")
        assert "a.b" in caught.value.description

    def test_claim_id_names_the_missing_claim(self) -> None:
        with pytest.raises(SubmissionMismatch) as caught:
            match_claims(cq(claim("a", id="age")), [{}])
        assert "age" in caught.value.description

    def test_only_matching_values_are_kept(self) -> None:
        outcome = match_claims(cq(claim("xs", None, values=[2, 3])), [{"xs": [1, 2, 3]}])
        (found,) = outcome.claims
        assert (found.values, found.asked) == ((2, 3), True)

    def test_null_value_is_present(self) -> None:
        """A claim whose value is null exists; it is selected (and fails any `values`)."""
        assert match_claims(cq(claim("a")), [{"a": None}]).claims[0].values == (None,)
        with pytest.raises(SubmissionMismatch):
            match_claims(cq(claim("a", values=["null"])), [{"a": None}])


class TestFirstUndisclosed:
    def test_all_covered(self) -> None:
        assert first_undisclosed([("a",), ("a", "b"), ("c", 0)], [("a", "b"), ("c", None)]) is None

    def test_reports_the_first_uncovered(self) -> None:
        assert first_undisclosed([("a",), ("x",), ("y",)], [("a",)]) == ("x",)

    def test_nothing_requested(self) -> None:
        assert first_undisclosed([("a",)], []) == ("a",)
        assert first_undisclosed([], []) is None
