"""Submission Requirements (PE v2 "Submission Requirement Feature"): validation and evaluation.

Evaluation runs over the set of descriptor ids that were mapped *and* satisfied. ``pick`` counts the
satisfied members of its group (or the satisfied nested requirements) and checks ``count``, ``min`` and
``max``. The spec sets no lower bound when none of them is given; we require at least one (an implicit
``min: 1``), because a rule that any empty submission satisfies is never what a verifier means.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

import msgspec

__all__ = [
    "MAX_REQUIREMENTS",
    "MAX_REQUIREMENT_DEPTH",
    "InvalidRequirementError",
    "SubmissionRequirement",
    "check_requirements",
    "requirement_met",
    "requirements_met",
]

MAX_REQUIREMENTS: Final = 64  # across all nesting levels
MAX_REQUIREMENT_DEPTH: Final = 4
_RULES: Final = frozenset({"all", "pick"})


class InvalidRequirementError(ValueError):
    """A submission requirement is inconsistent; the message names the rule it breaks."""


class SubmissionRequirement(msgspec.Struct, frozen=True, kw_only=True):
    """One ``submission_requirements`` entry; exactly one of ``from_group``/``from_nested`` is set."""

    rule: str
    from_group: str | None = msgspec.field(default=None, name="from")
    from_nested: tuple[SubmissionRequirement, ...] | None = None
    count: int | None = None
    min: int | None = None
    max: int | None = None
    name: str | None = None
    purpose: str | None = None


def check_requirements(
    requirements: tuple[SubmissionRequirement, ...], groups: Mapping[str, Collection[str]]
) -> None:
    """Raise InvalidRequirementError unless every requirement is well formed and satisfiable in principle."""
    if not requirements:
        raise InvalidRequirementError("submission_requirements must not be empty when present")
    total = 0
    pending = [(requirement, 1) for requirement in requirements]
    while pending:
        requirement, depth = pending.pop()
        total += 1
        if total > MAX_REQUIREMENTS:
            raise InvalidRequirementError(f"more than {MAX_REQUIREMENTS} submission requirements")
        if depth > MAX_REQUIREMENT_DEPTH:
            raise InvalidRequirementError(f"submission requirements nest deeper than {MAX_REQUIREMENT_DEPTH}")
        _check_one(requirement, groups)
        pending.extend((nested, depth + 1) for nested in requirement.from_nested or ())


def _check_one(requirement: SubmissionRequirement, groups: Mapping[str, Collection[str]]) -> None:
    if requirement.rule not in _RULES:
        raise InvalidRequirementError("a submission requirement rule must be 'all' or 'pick'")
    if (requirement.from_group is None) == (requirement.from_nested is None):
        raise InvalidRequirementError(
            "a submission requirement needs exactly one of 'from' and 'from_nested'"
        )
    if requirement.from_group is not None and requirement.from_group not in groups:
        raise InvalidRequirementError(f"group '{requirement.from_group}' is not used by any input descriptor")
    if requirement.from_nested is not None and not requirement.from_nested:
        raise InvalidRequirementError("from_nested must not be empty")
    _check_bounds(requirement, _size(requirement, groups))


def _check_bounds(requirement: SubmissionRequirement, size: int) -> None:
    count, low, high = requirement.count, requirement.min, requirement.max
    if requirement.rule == "all":
        if (count, low, high) != (None, None, None):
            raise InvalidRequirementError("count, min and max apply to rule 'pick' only")
        return
    if count is not None and not 1 <= count <= size:
        raise InvalidRequirementError(f"count must be between 1 and the {size} candidates")
    if low is not None and not 0 <= low <= size:
        raise InvalidRequirementError(f"min must be between 0 and the {size} candidates")
    if high is not None and high < 1:
        raise InvalidRequirementError("max must be at least 1")
    if low is not None and high is not None and low > high:
        raise InvalidRequirementError("min must not exceed max")
    if count is not None and ((low is not None and count < low) or (high is not None and count > high)):
        raise InvalidRequirementError("count contradicts min or max")


def _size(requirement: SubmissionRequirement, groups: Mapping[str, Collection[str]]) -> int:
    if requirement.from_nested is not None:
        return len(requirement.from_nested)
    return len(groups.get(requirement.from_group or "", ()))


def requirements_met(
    requirements: tuple[SubmissionRequirement, ...],
    satisfied: Collection[str],
    groups: Mapping[str, Collection[str]],
) -> bool:
    """True when every requirement holds for the ``satisfied`` descriptor ids (all of them MUST hold)."""
    return all(requirement_met(requirement, satisfied, groups) for requirement in requirements)


def requirement_met(
    requirement: SubmissionRequirement,
    satisfied: Collection[str],
    groups: Mapping[str, Collection[str]],
) -> bool:
    """Evaluate one ``all``/``pick`` rule over its group members or nested requirements."""
    if requirement.from_nested is not None:
        outcomes = [requirement_met(nested, satisfied, groups) for nested in requirement.from_nested]
    else:
        outcomes = [member in satisfied for member in groups.get(requirement.from_group or "", ())]
    chosen = sum(outcomes)
    if requirement.rule == "all":
        return chosen == len(outcomes)
    if requirement.count is not None and chosen != requirement.count:
        return False
    low = requirement.min
    if low is None and requirement.count is None:
        low = 1  # our reading: `pick` with no bounds still needs one member (see module docstring)
    if low is not None and chosen < low:
        return False
    return requirement.max is None or chosen <= requirement.max
