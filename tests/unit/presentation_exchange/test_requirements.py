"""Unit tests for submission requirement validation and evaluation."""

from __future__ import annotations

import msgspec
import pytest

from service.presentation_exchange.requirements import (
    MAX_REQUIREMENT_DEPTH,
    InvalidRequirementError,
    SubmissionRequirement,
    check_requirements,
    requirement_met,
    requirements_met,
)

GROUPS = {"A": ("a1", "a2", "a3"), "B": ("b1", "b2")}


def req(raw: dict[str, object]) -> SubmissionRequirement:
    return msgspec.convert(raw, SubmissionRequirement)


class TestCheckRequirements:
    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ({"rule": "any", "from": "A"}, "'all' or 'pick'"),
            ({"rule": "all"}, "exactly one"),
            ({"rule": "all", "from": "A", "from_nested": [{"rule": "all", "from": "B"}]}, "exactly one"),
            ({"rule": "all", "from": "Z"}, "not used"),
            ({"rule": "pick", "from_nested": []}, "must not be empty"),
            ({"rule": "all", "from": "A", "count": 1}, "'pick' only"),
            ({"rule": "pick", "from": "A", "count": 0}, "count"),
            ({"rule": "pick", "from": "A", "count": 4}, "count"),
            ({"rule": "pick", "from": "A", "min": 4}, "min"),
            ({"rule": "pick", "from": "A", "max": 0}, "max"),
            ({"rule": "pick", "from": "A", "min": 3, "max": 2}, "exceed"),
            ({"rule": "pick", "from": "A", "count": 1, "min": 2}, "contradicts"),
        ],
    )
    def test_inconsistent_requirements_are_refused(self, raw: dict[str, object], message: str) -> None:
        """Unknown rules, from/from_nested misuse, unknown groups and impossible bounds are refused."""
        with pytest.raises(InvalidRequirementError, match=message):
            check_requirements((req(raw),), GROUPS)

    def test_nesting_depth_is_capped(self) -> None:
        """Requirements nested deeper than MAX_REQUIREMENT_DEPTH are refused."""
        raw: dict[str, object] = {"rule": "all", "from": "A"}
        for _ in range(MAX_REQUIREMENT_DEPTH):
            raw = {"rule": "all", "from_nested": [raw]}
        with pytest.raises(InvalidRequirementError, match="deeper"):
            check_requirements((req(raw),), GROUPS)

    def test_empty_list_is_refused(self) -> None:
        """submission_requirements: [] is refused rather than read as 'nothing required'."""
        with pytest.raises(InvalidRequirementError):
            check_requirements((), GROUPS)

    def test_valid_requirements_pass(self) -> None:
        """A well-formed nested requirement raises nothing."""
        check_requirements(
            (
                req(
                    {
                        "rule": "pick",
                        "count": 1,
                        "from_nested": [{"rule": "all", "from": "A"}, {"rule": "all", "from": "B"}],
                    }
                ),
            ),
            GROUPS,
        )


class TestRequirementMet:
    @pytest.mark.parametrize(
        ("raw", "satisfied", "met"),
        [
            ({"rule": "all", "from": "A"}, {"a1", "a2", "a3"}, True),
            ({"rule": "all", "from": "A"}, {"a1", "a2"}, False),
            ({"rule": "pick", "from": "A", "count": 2}, {"a1", "a2"}, True),
            ({"rule": "pick", "from": "A", "count": 2}, {"a1", "a2", "a3"}, False),
            ({"rule": "pick", "from": "A", "min": 2}, {"a1"}, False),
            ({"rule": "pick", "from": "A", "min": 2}, {"a1", "a3"}, True),
            ({"rule": "pick", "from": "A", "max": 1}, {"a1", "a3"}, False),
            ({"rule": "pick", "from": "A", "max": 1}, {"a2"}, True),
            ({"rule": "pick", "from": "A", "max": 1}, set(), False),
            ({"rule": "pick", "from": "A", "min": 0}, set(), True),
            ({"rule": "pick", "from": "A"}, set(), False),
            ({"rule": "pick", "from": "A"}, {"a3"}, True),
            ({"rule": "all", "from": "B"}, {"b1", "b2", "a1"}, True),
        ],
    )
    def test_rules_count_satisfied_members(
        self, raw: dict[str, object], satisfied: set[str], met: bool
    ) -> None:
        """all needs every member; pick checks count/min/max, with an implicit min of 1 when none is given."""
        assert requirement_met(req(raw), satisfied, GROUPS) is met

    def test_nested_rules_count_satisfied_children(self) -> None:
        """from_nested counts satisfied nested requirements."""
        nested = req(
            {
                "rule": "pick",
                "count": 1,
                "from_nested": [{"rule": "all", "from": "A"}, {"rule": "all", "from": "B"}],
            }
        )
        assert requirement_met(nested, {"b1", "b2"}, GROUPS)
        assert not requirement_met(nested, {"b1", "b2", "a1", "a2", "a3"}, GROUPS)
        assert not requirement_met(nested, {"b1", "a1"}, GROUPS)

    def test_every_top_level_requirement_must_hold(self) -> None:
        """requirements_met is the conjunction of the top-level requirements."""
        both = (req({"rule": "all", "from": "B"}), req({"rule": "pick", "count": 1, "from": "A"}))
        assert requirements_met(both, {"b1", "b2", "a2"}, GROUPS)
        assert not requirements_met(both, {"b1", "b2"}, GROUPS)
