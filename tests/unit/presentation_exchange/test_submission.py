"""Unit tests for parsing presentation submissions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.errors import SubmissionMismatch
from service.presentation_exchange import parse_submission
from service.presentation_exchange.submission import MAX_MAP_ENTRIES, MAX_NESTING
from tests.unit.presentation_exchange.fakes import entry, submission


def nested_entry(levels: int) -> dict[str, Any]:
    item: dict[str, Any] = {"id": "d", "format": "jwt_vc_json", "path": "$.x"}
    for _ in range(levels - 1):
        item = {"id": "d", "format": "jwt_vp_json", "path": "$", "path_nested": item}
    return item


def malformed(raw: object) -> SubmissionMismatch:
    with pytest.raises(SubmissionMismatch) as caught:
        parse_submission(raw)
    return caught.value


class TestParseSubmission:
    def test_parses_nested_entries(self) -> None:
        """Top-level and nested entries become DescriptorMapEntry Structs with compiled paths."""
        parsed = parse_submission(submission("pd-1", entry("d")))
        (top,) = parsed.descriptor_map
        assert (parsed.id, parsed.definition_id) == ("sub-1", "pd-1")
        assert (top.id, top.format, top.path.text) == ("d", "jwt_vp_json", "$")
        assert top.path_nested is not None
        assert (top.path_nested.id, top.path_nested.format) == ("d", "jwt_vc_json")
        assert top.path_nested.path.text == "$.vp.verifiableCredential[0]"
        assert top.path_nested.path_nested is None

    def test_accepts_the_json_text_from_the_form(self) -> None:
        """The form parameter's JSON string (or bytes) is decoded first."""
        raw = submission("pd-1", entry("d"))
        assert parse_submission(json.dumps(raw)) == parse_submission(raw)
        assert parse_submission(json.dumps(raw).encode()) == parse_submission(raw)

    def test_nested_entry_inherits_a_missing_id(self) -> None:
        """OpenID4VP draft 23 examples omit path_nested.id; it is taken from the parent."""
        raw = submission(
            "pd-1",
            {
                "id": "d",
                "format": "jwt_vp_json",
                "path": "$",
                "path_nested": {"format": "jwt_vc_json", "path": "$.vp.verifiableCredential[0]"},
            },
        )
        nested = parse_submission(raw).descriptor_map[0].path_nested
        assert nested is not None
        assert nested.id == "d"

    def test_unknown_formats_parse(self) -> None:
        """Format support is judged at evaluation time, not while parsing."""
        raw = submission("pd-1", {"id": "d", "format": "mso_mdoc", "path": "$"})
        assert parse_submission(raw).descriptor_map[0].format == "mso_mdoc"

    def test_nested_id_must_match(self) -> None:
        """A path_nested naming another descriptor raises submission.nested_id_mismatch."""
        raw = submission("pd-1", entry("d"))
        raw["descriptor_map"][0]["path_nested"]["id"] = "other"
        with pytest.raises(SubmissionMismatch) as caught:
            parse_submission(raw)
        assert caught.value.reason == "submission.nested_id_mismatch"
        assert caught.value.descriptor_id is None  # the wallet's id, not yet known to be the definition's

    def test_nesting_up_to_the_limit_parses(self) -> None:
        """MAX_NESTING levels (top entry included) are accepted."""
        parse_submission(submission("pd-1", nested_entry(MAX_NESTING)))


class TestMalformed:
    @pytest.mark.parametrize(
        "raw",
        [
            "{not json",
            "[]",
            42,
            {"definition_id": "pd-1", "descriptor_map": []},
            {"id": "s", "definition_id": "pd-1"},
            {"id": "s", "definition_id": "pd-1", "descriptor_map": {}},
            submission("pd-1", {"id": "d", "path": "$"}),
            submission("pd-1", {"id": "d", "format": "jwt_vp_json", "path": 5}),
            submission("pd-1", {"format": "jwt_vp_json", "path": "$"}),
            submission("pd-1", {"id": "d", "format": "jwt_vp_json", "path": "$.a["}),
            submission("pd-1", entry("d", nested="$[(@.length-1)]")),
            submission("pd-1", *[entry(f"d{i}") for i in range(MAX_MAP_ENTRIES + 1)]),
            submission("pd-1", nested_entry(MAX_NESTING + 1)),
        ],
    )
    def test_malformed_submissions_are_refused(self, raw: object) -> None:
        """Bad JSON, wrong shapes, bad paths, over 64 entries or over-deep nesting: submission.malformed."""
        error = malformed(raw)
        assert error.reason == "submission.malformed"
        assert error.description.isascii()
