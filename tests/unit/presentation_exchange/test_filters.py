"""Unit tests for filters: Draft 7, date formats, ajv-formats comparison keywords and date templates."""

from __future__ import annotations

import datetime as dt

import pytest

from service.presentation_exchange.filters import (
    MAX_FILTER_DEPTH,
    InvalidFilterError,
    compile_filter,
    has_template,
    materialize_filter,
    subtract,
)

AGE_21 = {
    "anyOf": [
        {"type": "boolean", "const": True},
        {"type": "string", "format": "date", "formatMaximum": "{{today-21y}}"},
    ]
}


class TestMemo:
    def test_true_one_and_one_point_zero_are_answered_apart(self) -> None:
        """JSON Schema tells true, 1 and 1.0 apart, so the memo does too, whichever came first."""
        const_true = compile_filter({"const": True})
        assert [const_true.accepts(value) for value in (1, True, 1.0, True, 1)] == [
            False,
            True,
            False,
            True,
            False,
        ]
        integer = compile_filter({"type": "integer"})
        assert [integer.accepts(value) for value in (True, 1, 1.0, 1)] == [False, True, True, True]

    def test_repeated_values_are_answered_from_the_memo(self) -> None:
        """A repeated small scalar is validated once; floats, long strings and containers every time."""
        filter_ = compile_filter({"type": "string", "enum": ["urn:eudi:pid:1"]})
        for value in ("urn:eudi:pid:1", "urn:eudi:pid:1", "x" * 65, 2.5, ["urn:eudi:pid:1"], None, 2**70):
            filter_.accepts(value)
        assert set(filter_.answers) == {(str, "urn:eudi:pid:1"), (type(None), None)}

    def test_memo_is_bounded(self) -> None:
        """However many distinct values arrive, the memo keeps at most 256 answers."""
        filter_ = compile_filter({"type": "integer", "minimum": 100})
        assert [filter_.accepts(value) for value in range(1000)] == [value >= 100 for value in range(1000)]
        assert len(filter_.answers) <= 256


class TestDraft7:
    def test_plain_keywords_are_enforced(self) -> None:
        """const/contains/pattern behave as Draft 7 says."""
        contains = compile_filter({"type": "array", "contains": {"const": "IDCredential"}})
        assert contains.accepts(["VerifiableCredential", "IDCredential"])
        assert not contains.accepts(["VerifiableCredential"])
        pattern = compile_filter({"type": "string", "pattern": "^did:example:"})
        assert pattern.accepts("did:example:123")
        assert not pattern.accepts("did:web:x")

    @pytest.mark.parametrize(
        ("value", "ok"),
        [("2000-02-29", True), ("2001-02-29", False), ("2000-1-01", False), ("20000101", False), (5, True)],
    )
    def test_date_format_is_asserted(self, value: object, ok: bool) -> None:
        """format: date accepts only real RFC 3339 full-dates (non-strings are not a format's business)."""
        assert compile_filter({"format": "date"}).accepts(value) is ok

    @pytest.mark.parametrize(
        ("value", "ok"),
        [
            ("2020-01-01T10:00:00Z", True),
            ("2020-01-01t10:00:00.5+02:00", True),
            ("2020-01-01T10:00:00", False),
            ("2020-01-01 10:00:00Z", False),
            ("2020-13-01T10:00:00Z", False),
        ],
    )
    def test_date_time_format_requires_an_offset(self, value: str, ok: bool) -> None:
        """format: date-time needs RFC 3339 syntax including the offset."""
        assert compile_filter({"format": "date-time"}).accepts(value) is ok

    def test_other_formats_are_annotations(self) -> None:
        """Formats other than date/date-time are not asserted (Draft 7 leaves that optional)."""
        assert compile_filter({"format": "email"}).accepts("not an email")


class TestFormatLimits:
    @pytest.mark.parametrize(
        ("keyword", "value", "ok"),
        [
            ("formatMaximum", "2000-01-01", True),
            ("formatMaximum", "2000-01-02", False),
            ("formatExclusiveMaximum", "2000-01-01", False),
            ("formatExclusiveMaximum", "1999-12-31", True),
            ("formatMinimum", "2000-01-01", True),
            ("formatMinimum", "1999-12-31", False),
            ("formatExclusiveMinimum", "2000-01-01", False),
            ("formatExclusiveMinimum", "2000-01-02", True),
        ],
    )
    def test_date_bounds(self, keyword: str, value: str, ok: bool) -> None:
        """The four ajv-formats keywords compare dates inclusively or exclusively."""
        schema = {"type": "string", "format": "date", keyword: "2000-01-01"}
        assert compile_filter(schema).accepts(value) is ok

    def test_date_time_bounds_compare_instants(self) -> None:
        """date-time limits compare points in time across offsets."""
        schema = {"type": "string", "format": "date-time", "formatMaximum": "2020-01-01T00:00:00Z"}
        assert compile_filter(schema).accepts("2020-01-01T01:00:00+01:00")
        assert not compile_filter(schema).accepts("2020-01-01T00:00:01Z")

    def test_unparseable_value_fails(self) -> None:
        """A string that is not a date fails the bound (fail closed)."""
        assert not compile_filter({"format": "date", "formatMaximum": "2000-01-01"}).accepts("yesterday")

    def test_non_strings_are_not_constrained(self) -> None:
        """Like ajv-formats, the keywords apply to strings only."""
        assert compile_filter({"format": "date", "formatMaximum": "2000-01-01"}).accepts(True)

    def test_unmaterialised_template_fails_closed(self) -> None:
        """A filter still holding {{today-21y}} rejects every date."""
        templated = compile_filter(AGE_21)
        assert templated.templated
        assert not templated.accepts("1950-01-01")
        assert templated.accepts(True)


class TestCompileRefusals:
    @pytest.mark.parametrize(
        ("schema", "message"),
        [
            ([1], "JSON object"),
            ({"type": 3}, "draft 7"),
            ({"pattern": "("}, "draft 7"),
            ({"$ref": "#/definitions/a", "definitions": {"a": {}}}, r"\$ref"),
            ({"anyOf": [{"$ref": "https://example.com/schema"}]}, r"\$ref"),
            ({"formatMaximum": "2000-01-01"}, "needs format"),
            ({"format": "email", "formatMinimum": "a"}, "needs format"),
            ({"format": "date", "formatMaximum": 5}, "must be a string"),
            ({"format": "date", "formatMaximum": "2000-02-30"}, "not a valid date"),
            ({"format": "date-time", "formatMaximum": "{{today-1y}}"}, "only with format 'date'"),
            ({"const": "{{today+1y}}"}, "unknown template"),
            ({"const": "{{now}}"}, "unknown template"),
            ({"format": "date", "formatMaximum": "{{today-151y}}"}, "150 years"),
        ],
    )
    def test_bad_filters_are_refused(self, schema: object, message: str) -> None:
        """Invalid schemas, $ref, misused comparison keywords and bad templates raise InvalidFilterError."""
        with pytest.raises(InvalidFilterError, match=message):
            compile_filter(schema)

    def test_depth_is_capped(self) -> None:
        """A filter nested deeper than MAX_FILTER_DEPTH is refused."""
        schema: dict[str, object] = {}
        for _ in range(MAX_FILTER_DEPTH):
            schema = {"not": schema}
        with pytest.raises(InvalidFilterError, match="nested deeper"):
            compile_filter(schema)

    def test_keywords_inside_const_are_data(self) -> None:
        """A formatMaximum key inside const is a value to compare, not a keyword to check."""
        assert compile_filter({"const": {"formatMaximum": 1}}).accepts({"formatMaximum": 1})


class TestTemplates:
    def test_materialize_replaces_every_template(self) -> None:
        """Each {{today-N<unit>}} becomes the ISO date N units before today; other values are untouched."""
        raw = {"a": "{{today-21y}}", "b": ["{{today-2m}}", "{{today-10d}}", "x"], "c": 1}
        out = materialize_filter(raw, today=dt.date(2025, 11, 22))
        assert out == {"a": "2004-11-22", "b": ["2025-09-22", "2025-11-12", "x"], "c": 1}
        assert raw["a"] == "{{today-21y}}"  # the input is not mutated

    def test_materialized_age_filter_checks_birthdays(self) -> None:
        """Born exactly 21 years ago passes; a day later fails."""
        schema = materialize_filter(AGE_21, today=dt.date(2025, 11, 22))
        compiled = compile_filter(schema)
        assert not compiled.templated
        assert compiled.accepts("2004-11-22")
        assert not compiled.accepts("2004-11-23")

    @pytest.mark.parametrize(
        ("today", "amount", "unit", "expected"),
        [
            (dt.date(2024, 2, 29), 1, "y", dt.date(2023, 2, 28)),
            (dt.date(2024, 2, 29), 4, "y", dt.date(2020, 2, 29)),
            (dt.date(2024, 3, 31), 1, "m", dt.date(2024, 2, 29)),
            (dt.date(2024, 1, 31), 13, "m", dt.date(2022, 12, 31)),
            (dt.date(2024, 3, 1), 1, "d", dt.date(2024, 2, 29)),
            (dt.date(100, 6, 1), 150, "y", dt.date.min),
            (dt.date(1, 1, 5), 10, "d", dt.date.min),
        ],
    )
    def test_subtract_clamps_to_the_month_and_the_calendar(
        self, today: dt.date, amount: int, unit: str, expected: dt.date
    ) -> None:
        """Feb 29 minus a year is Feb 28; month ends clamp; results never fall before date.min."""
        assert subtract(today, amount, unit) == expected

    def test_has_template_finds_nested_templates(self) -> None:
        """has_template looks through objects and arrays."""
        assert has_template({"x": [{"y": "{{today-1d}}"}]})
        assert not has_template({"x": ["2020-01-01"]})
