"""Property tests: PE parsing never fails with anything but our errors; templates always give past dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import BadBackendRequest, SubmissionMismatch
from service.presentation_exchange import materialize_definition, parse_definition, parse_submission
from service.presentation_exchange.filters import materialize_filter
from service.presentation_exchange.jsonpath import InvalidPathError, compile_path, find

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

# Fragments that steer random input into the deeper parts of the parsers.
PATHS = ["$", "$.a", "$.vc.type", "$..x", "$[0]", "$.a[?(@.b == 1)]", "$[(@.length)]", "$.a[", "a", "$.`len`"]
path_texts = st.sampled_from(PATHS) | st.text(alphabet="$.[]()?@*,:'\"`-_ab01=<>!&| ", max_size=16)
filters = json_values | st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["string", "boolean", "array", 5]),
        "format": st.sampled_from(["date", "date-time", "email", 1]),
        "formatMaximum": st.sampled_from(["2000-01-01", "{{today-21y}}", "{{today-9999y}}", "{{x}}", 3]),
        "pattern": st.sampled_from(["^a", "(", "[0-9]{2}"]),
        "$ref": st.just("#"),
        "anyOf": st.lists(json_values, max_size=2),
    },
)
fields = st.fixed_dictionaries(
    {"path": st.lists(path_texts, max_size=3) | json_values},
    optional={
        "id": st.text(max_size=3) | json_values,
        "filter": filters,
        "optional": st.booleans() | json_values,
        "predicate": st.just("required"),
        "intent_to_retain": st.booleans(),
    },
)
descriptors = st.fixed_dictionaries(
    {"id": st.text(max_size=3) | json_values},
    optional={
        "constraints": st.fixed_dictionaries(
            {},
            optional={
                "fields": st.lists(fields, max_size=3),
                "limit_disclosure": st.sampled_from(["required", "x"]),
            },
        )
        | json_values,
        "group": st.lists(st.sampled_from(["A", "B"]), max_size=2) | json_values,
        "format": st.dictionaries(
            st.sampled_from(["jwt_vc", "jwt_vp_json", "ldp_vc"]), json_values, max_size=2
        ),
    },
)
requirement = st.fixed_dictionaries(
    {"rule": st.sampled_from(["all", "pick", "any"])},
    optional={
        "from": st.sampled_from(["A", "B", "C"]),
        "count": st.integers(-1, 3),
        "min": st.integers(-1, 3),
        "max": st.integers(-1, 3),
        "from_nested": st.lists(json_values, max_size=2),
    },
)
definitions = st.fixed_dictionaries(
    {
        "id": st.text(max_size=3) | json_values,
        "input_descriptors": st.lists(descriptors, max_size=3) | json_values,
    },
    optional={
        "submission_requirements": st.lists(requirement, max_size=2),
        "format": json_values,
        "frame": json_values,
    },
)
entries = st.recursive(
    st.fixed_dictionaries(
        {
            "format": st.sampled_from(["jwt_vp_json", "ldp_vc"]) | json_values,
            "path": path_texts | json_values,
        },
        optional={"id": st.text(max_size=3) | json_values},
    ),
    lambda inner: st.fixed_dictionaries(
        {"id": st.just("d"), "format": st.just("jwt_vp_json"), "path": st.just("$"), "path_nested": inner}
    ),
    max_leaves=6,
)
submissions = st.fixed_dictionaries(
    {
        "id": st.text(max_size=3) | json_values,
        "definition_id": st.text(max_size=3),
        "descriptor_map": st.lists(entries, max_size=3),
    }
)


@settings(max_examples=300)
@given(definitions | json_values)
def test_parse_definition_raises_only_bad_backend_request(raw: Any) -> None:
    """Any JSON value either parses or raises BadBackendRequest with a definition.* reason."""
    try:
        parse_definition(raw)
    except BadBackendRequest as exc:
        error = exc
    else:
        return
    assert error.reason.startswith("definition.")
    assert error.description.isascii()


@settings(max_examples=300)
@given(submissions | json_values | st.text())
def test_parse_submission_raises_only_submission_mismatch(raw: Any) -> None:
    """Any JSON value (or text) either parses or raises SubmissionMismatch with a submission.* reason."""
    try:
        parse_submission(raw)
    except SubmissionMismatch as exc:
        error = exc
    else:
        return
    assert error.reason.startswith("submission.")
    assert error.description.isascii()


@given(st.text(max_size=40), json_values)
def test_compile_path_raises_only_invalid_path(text: str, document: Any) -> None:
    """Arbitrary text compiles or raises InvalidPathError; a compiled path evaluates without error."""
    try:
        path = compile_path(text)
    except InvalidPathError:
        return
    find(path, document)


@given(
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
    st.integers(min_value=0, max_value=150),
    st.sampled_from("ymd"),
)
def test_templates_give_iso_dates_not_after_today(today: dt.date, amount: int, unit: str) -> None:
    """{{today-N<unit>}} always becomes a valid ISO date on or before today."""
    value = materialize_filter(f"{{{{today-{amount}{unit}}}}}", today=today)
    parsed = dt.date.fromisoformat(value)
    assert parsed.isoformat() == value
    assert parsed <= today


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)), st.integers(0, 150))
def test_materialized_definition_holds_the_date(today: dt.date, years: int) -> None:
    """materialize_definition writes the same concrete date into raw and into the compiled filter."""
    field = {
        "path": ["$.d"],
        "filter": {"type": "string", "format": "date", "formatMaximum": f"{{{{today-{years}y}}}}"},
    }
    definition = parse_definition(
        {"id": "p", "input_descriptors": [{"id": "d", "constraints": {"fields": [field]}}]}
    )
    concrete = materialize_definition(definition, today=today)
    bound = concrete.raw["input_descriptors"][0]["constraints"]["fields"][0]["filter"]["formatMaximum"]
    assert dt.date.fromisoformat(bound) <= today
    compiled = concrete.input_descriptors[0].constraints.fields[0].filter
    assert compiled is not None
    assert compiled.accepts(bound)
    assert not compiled.accepts((dt.date.fromisoformat(bound) + dt.timedelta(days=1)).isoformat())
