"""DIF Presentation Exchange v2.1.1 and OpenID4VP draft 23 examples (../shared/vectors/presentation-exchange).

The examples are valid inputs, not input/output pairs (see SOURCE.md), so each test states what we expect
of them: every definition parses unless listed in REFUSED with the reason; every submission parses; the
submission-requirement examples give the outcomes worked out by hand below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from service.errors import BadBackendRequest, SubmissionMismatch
from service.presentation_exchange import evaluate_submission, parse_definition, parse_submission
from service.presentation_exchange.requirements import (
    SubmissionRequirement,
    check_requirements,
    requirements_met,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "presentation-exchange"

# Definitions we refuse, and why. format_example.json has no input descriptors: a definition that asks for
# nothing would let any submission through, so we refuse it (our choice; the DIF schema allows it).
REFUSED = {"presentation-definition/format_example.json": "definition.malformed"}
# Examples whose files are bare input descriptors (no definition around them); we wrap them in one.
BARE_DESCRIPTORS = {
    "presentation-definition/VC_expiration_example.json",
    "presentation-definition/VC_revocation_example.json",
}
# Files in the submission folders that carry no presentation_submission (a VP payload, a DIDComm shell).
NO_SUBMISSION = {
    "presentation-submission/appendix_DIDComm_example.json",
    "oid4vp-draft23/response-jwt_vp.json",
}


def load(relative: str) -> Any:
    return json.loads((VECTORS / relative).read_text())


def names(pattern: str) -> list[str]:
    return sorted(str(path.relative_to(VECTORS)) for path in VECTORS.glob(pattern))


DEFINITIONS = names("presentation-definition/*.json") + names("oid4vp-draft23/request-*.json")
SUBMISSIONS = names("presentation-submission/*.json") + names("oid4vp-draft23/response-*.json")
REQUIREMENTS = names("submission-requirements/*.json")


def unwrap_definition(relative: str) -> Any:
    data = load(relative)
    if relative in BARE_DESCRIPTORS:
        return {"id": "wrapper", "input_descriptors": [data]}
    return data.get("presentation_definition", data)


def unwrap_submission(data: dict[str, Any]) -> Any:
    if "presentation_submission" in data:
        return data["presentation_submission"]
    if isinstance(data.get("vp"), dict) and "presentation_submission" in data["vp"]:
        return data["vp"]["presentation_submission"]  # the DIF JWT appendix embeds it in the VP claims
    return data if "descriptor_map" in data else None


def test_vector_folders_are_present() -> None:
    """The vector corpus is where the tests expect it (a missing folder must not pass silently)."""
    assert len(DEFINITIONS) >= 15
    assert len(SUBMISSIONS) >= 10
    assert len(REQUIREMENTS) == 4


@pytest.mark.parametrize("relative", DEFINITIONS)
def test_definition_parses_or_is_refused_for_a_listed_reason(relative: str) -> None:
    """Every example definition parses, except those in REFUSED, which fail with exactly that reason."""
    raw = unwrap_definition(relative)
    if relative in REFUSED:
        with pytest.raises(BadBackendRequest) as caught:
            parse_definition(raw)
        assert caught.value.reason == REFUSED[relative]
        return
    definition = parse_definition(raw)
    assert definition.id == raw["id"]
    assert [item.id for item in definition.input_descriptors] == [
        item["id"] for item in raw["input_descriptors"]
    ]
    assert definition.raw == raw


@pytest.mark.parametrize("relative", SUBMISSIONS)
def test_submission_parses(relative: str) -> None:
    """Every example submission parses, keeping its definition id and map entries in order."""
    raw = unwrap_submission(load(relative))
    if relative in NO_SUBMISSION:
        assert raw is None
        return
    parsed = parse_submission(raw)
    assert parsed.definition_id == raw["definition_id"]
    assert [item.id for item in parsed.descriptor_map] == [item["id"] for item in raw["descriptor_map"]]


GROUPS = {"A": ("a1", "a2"), "B": ("b1", "b2", "b3"), "C": ("c1",), "D": ("d1", "d2")}
REQUIREMENT_CASES = [
    ("all_example.json", {"a1", "a2"}, True),
    ("all_example.json", {"a1"}, False),
    ("pick_2_example.json", {"b1", "b3"}, True),  # min 2 from B
    ("pick_2_example.json", {"b1", "b2", "b3"}, True),
    ("pick_2_example.json", {"b2"}, False),
    ("pick_3_example.json", {"a1", "a2"}, True),  # count 1 of [all A, pick 2 of B]
    ("pick_3_example.json", {"b1", "b2"}, True),
    ("pick_3_example.json", {"a1", "a2", "b1", "b2"}, False),  # both nested rules hold: count 1 is exceeded
    ("pick_3_example.json", {"b1", "b2", "b3"}, False),  # pick count 2 from B is exceeded
    ("example.json", {"a1", "b1", "b2", "b3", "c1"}, True),  # one bank, all employment, US citizenship
    ("example.json", {"a2", "b1", "b2", "b3", "d1", "d2"}, True),
    ("example.json", {"a1", "a2", "b1", "b2", "b3", "c1"}, False),  # two banking proofs
    ("example.json", {"a1", "b1", "b2", "b3", "c1", "d1", "d2"}, False),  # both citizenships
    ("example.json", {"a1", "b1", "b2", "c1"}, False),  # employment incomplete
]


@pytest.mark.parametrize(("name", "satisfied", "met"), REQUIREMENT_CASES)
def test_submission_requirement_examples(name: str, satisfied: set[str], met: bool) -> None:
    """The DIF requirement examples validate and give the hand-worked outcome for each satisfied set."""
    requirements = tuple(
        msgspec.convert(
            load(f"submission-requirements/{name}")["submission_requirements"], list[SubmissionRequirement]
        )
    )
    check_requirements(requirements, GROUPS)
    assert requirements_met(requirements, satisfied, GROUPS) is met


@pytest.mark.parametrize("name", [name.split("/")[-1] for name in REQUIREMENTS])
def test_requirement_examples_validate_inside_a_definition(name: str) -> None:
    """Each requirements example is accepted by parse_definition over descriptors in groups A-D."""
    descriptors = [
        {"id": member, "group": [group], "constraints": {"fields": [{"path": ["$.vc.type"]}]}}
        for group, members in GROUPS.items()
        for member in members
    ]
    raw = {"id": "sr", "input_descriptors": descriptors, **load(f"submission-requirements/{name}")}
    assert parse_definition(raw).submission_requirements is not None


@dataclass(frozen=True)
class Decoded:
    format: str
    alg: str
    documents: tuple[dict[str, Any], ...]


def test_oid4vp_draft23_jwt_vc_pair_evaluates() -> None:
    """request-pd_jwt_vc with response-ps_jwt_vc: the JWT VC inside the JWT VP satisfies id_credential."""
    definition = parse_definition(load("oid4vp-draft23/request-pd_jwt_vc.json"))
    submission = parse_submission(load("oid4vp-draft23/response-ps_jwt_vc.json"))
    vc_claims = {"vc": {"type": ["VerifiableCredential", "IDCredential"], "credentialSubject": {}}}
    objects = {
        "vp-jwt": Decoded("jwt_vp_json", "ES256", ({"vp": {"verifiableCredential": ["vc-jwt"]}},)),
        "vc-jwt": Decoded("jwt_vc_json", "ES256", (vc_claims, vc_claims["vc"])),
    }
    result = evaluate_submission(definition, submission, "vp-jwt", lambda fmt, node: objects[node])
    assert [item.descriptor_id for item in result.descriptors] == ["id_credential"]
    assert result.descriptors[0].fields[0].value == ["VerifiableCredential", "IDCredential"]


def test_dif_oidc_appendix_uses_formats_we_do_not_speak() -> None:
    """The DIF OIDC appendix maps 'jwt' and 'ldp_vc' objects: refused as submission.unsupported_format."""
    definition = parse_definition(unwrap_definition("presentation-definition/multi_group_example.json"))
    submission = parse_submission(
        unwrap_submission(load("presentation-submission/appendix_OIDC_example.json"))
    )

    def lookup(fmt: str, node: Any) -> Decoded:
        raise AssertionError("no lookup happens before the formats are checked")

    with pytest.raises(SubmissionMismatch) as caught:
        evaluate_submission(definition, submission, "unused", lookup)
    assert caught.value.reason == "submission.unsupported_format"
