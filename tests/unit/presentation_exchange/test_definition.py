"""Unit tests for parsing, validating and materialising presentation definitions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from service.errors import BadBackendRequest, ConfigurationError
from service.presentation_exchange import materialize_definition, parse_definition
from service.presentation_exchange.definition import MAX_DESCRIPTORS, MAX_FIELDS, MAX_PATHS
from tests.unit.presentation_exchange.fakes import descriptor, raw_pd

FIELD = {"path": ["$.vc.type"], "filter": {"type": "array", "contains": {"const": "IDCredential"}}}


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def refused(raw: object) -> BadBackendRequest:
    with pytest.raises(BadBackendRequest) as caught:
        parse_definition(raw)
    return caught.value


class TestParseDefinition:
    def test_compiles_descriptors_fields_and_formats(self) -> None:
        """A valid definition becomes Structs with compiled paths, filters and normalised formats."""
        definition = parse_definition(
            raw_pd(
                descriptor(
                    "id_card",
                    {**FIELD, "id": "type", "optional": True, "intent_to_retain": True},
                    format={"jwt_vc": {"alg": ["ES256"]}},
                    name="ID",
                    purpose="why",
                ),
                name="PD",
                purpose="because",
                format={"jwt_vp_json": {"alg": ["EdDSA"]}},
            )
        )
        item = definition.input_descriptors[0]
        field = item.constraints.fields[0]
        assert (definition.id, definition.name, definition.purpose) == ("pd-1", "PD", "because")
        assert (item.id, item.name, item.purpose) == ("id_card", "ID", "why")
        assert field.path[0].text == "$.vc.type"
        assert field.filter is not None
        assert field.filter.accepts(["IDCredential"])
        assert (field.id, field.optional, field.intent_to_retain) == ("type", True, True)
        assert item.format is not None
        assert item.format.permits("jwt_vc_json", "ES256")
        assert definition.format is not None
        assert definition.format.permits("jwt_vp_json", "EdDSA")
        assert definition.submission_requirements is None
        assert not definition.templated

    def test_unknown_members_are_ignored_but_kept_in_raw(self) -> None:
        """Members PE does not define do not fail parsing and survive in raw, which is a private copy."""
        raw = raw_pd(descriptor("d", FIELD, x_extension=1), x_top={"a": [1]})
        definition = parse_definition(raw)
        assert definition.raw == raw
        raw["x_top"]["a"].append(2)
        assert definition.raw["x_top"] == {"a": [1]}

    def test_error_class_is_selectable(self) -> None:
        """error=ConfigurationError makes the same check raise the start-up error."""
        with pytest.raises(ConfigurationError) as caught:
            parse_definition([], error=ConfigurationError)
        assert caught.value.reason == "definition.malformed"

    def test_groups_index_descriptor_ids(self) -> None:
        """groups maps each group to its descriptors in definition order, once each."""
        definition = parse_definition(
            raw_pd(
                descriptor("a", FIELD, group=["A", "A"]),
                descriptor("b", FIELD, group=["A", "B"]),
                submission_requirements=[{"rule": "all", "from": "A"}],
            )
        )
        assert definition.groups == {"A": ("a", "b"), "B": ("b",)}


class TestRefusals:
    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("not an object", "definition.malformed"),
            ({"input_descriptors": []}, "definition.malformed"),
            (raw_pd(), "definition.malformed"),
            (raw_pd({"id": "d"}), "definition.malformed"),
            (raw_pd({"id": "d", "constraints": {"fields": [{"path": "$.a"}]}}), "definition.malformed"),
            (raw_pd(descriptor("d", {"path": ["$.a"], "optional": "yes"})), "definition.malformed"),
            (raw_pd({"id": "d", "constraints": {"limit_disclosure": "always"}}), "definition.malformed"),
            (raw_pd(descriptor("d", FIELD), descriptor("d", FIELD)), "definition.duplicate_id"),
            (
                raw_pd(descriptor("d", {**FIELD, "id": "f"}), descriptor("e", {**FIELD, "id": "f"})),
                "definition.duplicate_id",
            ),
            (raw_pd(descriptor("d", {"path": ["$.a["]})), "definition.invalid_path"),
            (raw_pd(descriptor("d", {"path": ["$[(@.length-1)]"]})), "definition.invalid_path"),
            (
                raw_pd(descriptor("d", {"path": ["$.a"], "filter": {"type": "nope"}})),
                "definition.invalid_filter",
            ),
            (
                raw_pd(descriptor("d", {"path": ["$.a"], "filter": {"$ref": "#"}})),
                "definition.invalid_filter",
            ),
            (
                raw_pd(descriptor("d", FIELD, format={"jwt_vc": {"alg": "ES256"}})),
                "definition.invalid_format",
            ),
            (raw_pd(descriptor("d", FIELD), format={"jwt_vc": []}), "definition.invalid_format"),
        ],
    )
    def test_bad_definitions_name_the_check(self, raw: object, reason: str) -> None:
        """Each broken rule raises BadBackendRequest with its definition.<check> reason."""
        assert refused(raw).reason == reason

    @pytest.mark.parametrize(
        ("raw", "construct"),
        [
            (raw_pd(descriptor("d", FIELD), frame={"@context": []}), "frame"),
            (raw_pd(descriptor("d", {**FIELD, "predicate": "required"})), "predicate"),
            (
                raw_pd({"id": "d", "constraints": {"statuses": {"active": {"directive": "required"}}}}),
                "statuses",
            ),
            (raw_pd({"id": "d", "constraints": {"is_holder": []}}), "is_holder"),
            (raw_pd({"id": "d", "constraints": {"same_subject": []}}), "same_subject"),
            (raw_pd({"id": "d", "constraints": {"subject_is_issuer": "required"}}), "subject_is_issuer"),
        ],
    )
    def test_unsupported_features_are_named(self, raw: object, construct: str) -> None:
        """frame, predicate, statuses and the relational features are refused with a message naming them."""
        error = refused(raw)
        assert error.reason == "definition.unsupported_feature"
        assert construct in error.description

    @pytest.mark.parametrize(
        "raw",
        [
            raw_pd(*(descriptor(f"d{i}", FIELD) for i in range(MAX_DESCRIPTORS + 1))),
            raw_pd(descriptor("d", *([FIELD] * (MAX_FIELDS + 1)))),
            raw_pd(descriptor("d", {"path": ["$.a"] * (MAX_PATHS + 1)})),
            raw_pd(descriptor("d", {"path": []})),
            raw_pd(descriptor("d", FIELD), x=nested(40)),
        ],
    )
    def test_limits_are_enforced(self, raw: object) -> None:
        """Over 64 descriptors, 64 fields, 16 paths (or none), or too deep: definition.too_large."""
        assert refused(raw).reason == "definition.too_large"

    @pytest.mark.parametrize(
        ("requirements", "groups", "message"),
        [
            ([{"rule": "all", "from": "A"}], [["A"], None], "has no group"),
            ([{"rule": "all", "from": "B"}], [["A"], ["A"]], "not used"),
            ([{"rule": "pick", "count": 3, "from": "A"}], [["A"], ["A"]], "count"),
            ([{"rule": "both", "from": "A"}], [["A"], ["A"]], "'all' or 'pick'"),
            ([], [["A"], ["A"]], "must not be empty"),
        ],
    )
    def test_requirement_problems(self, requirements: list[Any], groups: list[Any], message: str) -> None:
        """Missing groups, unknown from-groups and impossible counts raise definition.invalid_requirement."""
        descriptors = [
            descriptor(f"d{i}", FIELD, **({"group": g} if g else {})) for i, g in enumerate(groups)
        ]
        error = refused(raw_pd(*descriptors, submission_requirements=requirements))
        assert error.reason == "definition.invalid_requirement"
        assert message in error.description

    def test_descriptions_are_ascii_and_locate_the_problem(self) -> None:
        """Descriptions point at the member (by index) and stay ASCII."""
        error = refused(raw_pd(descriptor("d", FIELD, {"path": ["$.ok", "$.a["]})))
        assert "input_descriptors[0].constraints.fields[1].path[1]" in error.description
        assert error.description.isascii()


class TestMaterializeDefinition:
    AGE = {
        "path": ["$.vc.credentialSubject.birthDate"],
        "filter": {"type": "string", "format": "date", "formatMaximum": "{{today-18y}}"},
    }

    def test_templates_become_dates_in_raw_and_filters(self) -> None:
        """Both raw (for the wallet) and the compiled filter (for the response) get the concrete date."""
        templated = parse_definition(raw_pd(descriptor("d", self.AGE)))
        assert templated.templated
        concrete = materialize_definition(templated, today=dt.date(2025, 3, 1))
        raw_filter = concrete.raw["input_descriptors"][0]["constraints"]["fields"][0]["filter"]
        assert raw_filter["formatMaximum"] == "2007-03-01"
        compiled = concrete.input_descriptors[0].constraints.fields[0].filter
        assert compiled is not None
        assert compiled.accepts("2007-03-01")
        assert not compiled.accepts("2007-03-02")
        assert not concrete.templated

    def test_original_is_untouched(self) -> None:
        """Materialising leaves the templated definition as it was."""
        templated = parse_definition(raw_pd(descriptor("d", self.AGE)))
        materialize_definition(templated, today=dt.date(2025, 3, 1))
        raw_filter = templated.raw["input_descriptors"][0]["constraints"]["fields"][0]["filter"]
        assert raw_filter["formatMaximum"] == "{{today-18y}}"

    def test_definition_without_templates_is_returned_as_is(self) -> None:
        """No templates, no copy."""
        plain = parse_definition(raw_pd(descriptor("d", FIELD)))
        assert materialize_definition(plain, today=dt.date(2025, 3, 1)) is plain
