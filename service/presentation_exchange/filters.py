"""Field filters: JSON Schema Draft 7 plus the ajv-formats comparison keywords, and date templates.

PE 2.1 makes Draft 7 the filter language. Wallets built on Sphereon PEX (ajv + ajv-formats) also evaluate
``formatMaximum``/``formatMinimum``/``formatExclusiveMaximum``/``formatExclusiveMinimum`` for ``format: date``
and ``date-time``, which is the natural way to say "born on or before". We implement those four keywords so
the verifier checks what the wallet was asked; everything else is plain ``jsonschema.Draft7Validator``.

Formats asserted: ``date`` (RFC 3339 full-date) and ``date-time`` (RFC 3339 date-time, offset required);
other ``format`` values are annotations, as Draft 7 allows. ``$ref`` is refused: filters must be
self-contained (no remote retrieval, and a local self-reference would recurse without bound).

Templates: a filter string that is exactly ``{{today-Ny}}``, ``{{today-Nm}}`` or ``{{today-Nd}}`` is replaced
by :func:`materialize_filter` with the ISO date N years/months/days before ``today``. A day that does not
exist in the target month is clamped to the month's last day, so Feb 29 minus one year is Feb 28.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import referencing
from jsonschema import Draft7Validator, FormatChecker, validators  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError, ValidationError  # type: ignore[import-untyped]

__all__ = [
    "MAX_FILTER_DEPTH",
    "FieldFilter",
    "InvalidFilterError",
    "compile_filter",
    "exceeds_depth",
    "has_template",
    "materialize_filter",
    "subtract",
]

MAX_FILTER_DEPTH: Final = 16
# Bounds keep every template inside the calendar for any plausible `today` (150 years back).
_TEMPLATE_LIMITS: Final = {"y": 150, "m": 150 * 12, "d": 150 * 366}
_TEMPLATE: Final = re.compile(r"\{\{today-([0-9]{1,6})([ymd])\}\}")
_LOOKS_LIKE_TEMPLATE: Final = re.compile(r"\{\{.*\}\}", re.DOTALL)
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_LIMIT_KEYWORDS: Final = (
    "formatMaximum",
    "formatMinimum",
    "formatExclusiveMaximum",
    "formatExclusiveMinimum",
)
# Members whose values are data, not subschemas: a template or keyword name there is not ours to read.
_DATA_KEYWORDS: Final = frozenset({"const", "enum", "default", "examples"})


class InvalidFilterError(ValueError):
    """A filter is not a usable Draft 7 schema; the message says why without echoing values."""


# --- RFC 3339 values --- #


def _parse_date(value: str) -> dt.date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _parse_date_time(value: str) -> dt.datetime | None:
    if not _DATE_TIME.fullmatch(value):
        return None
    try:
        return dt.datetime.fromisoformat(value.upper())
    except ValueError:
        return None


_COMPARABLE: Final[Mapping[str, Callable[[str], Any]]] = {"date": _parse_date, "date-time": _parse_date_time}

_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date")(lambda value: not isinstance(value, str) or _parse_date(value) is not None)
_FORMATS.checks("date-time")(lambda value: not isinstance(value, str) or _parse_date_time(value) is not None)


# --- ajv-formats comparison keywords --- #

_Keyword = Callable[[Any, Any, Any, Mapping[str, Any]], Iterator[ValidationError]]


def _format_limit(keyword: str, accepts: Callable[[Any, Any], bool]) -> _Keyword:
    def check(
        _validator: Any, limit: Any, instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[ValidationError]:
        if not isinstance(instance, str):
            return  # like ajv-formats, the keyword only constrains strings
        parse = _COMPARABLE.get(schema.get("format", ""))
        value = parse(instance) if parse else None
        bound = parse(limit) if parse and isinstance(limit, str) else None
        # Fail closed when either side does not parse (e.g. an unmaterialised {{today-...}} template).
        if value is None or bound is None or not accepts(value, bound):
            yield ValidationError(f"{keyword} not satisfied")

    return check


_FilterValidator = validators.extend(
    Draft7Validator,
    {
        "formatMaximum": _format_limit("formatMaximum", lambda value, bound: value <= bound),
        "formatMinimum": _format_limit("formatMinimum", lambda value, bound: value >= bound),
        "formatExclusiveMaximum": _format_limit("formatExclusiveMaximum", lambda value, bound: value < bound),
        "formatExclusiveMinimum": _format_limit("formatExclusiveMinimum", lambda value, bound: value > bound),
    },
)
_NO_REMOTE: Final = referencing.Registry()


_MEMO_SIZE: Final = 256
_MEMO_TEXT_LENGTH: Final = 64
_INT64: Final = range(-(2**63), 2**63)


@dataclass(frozen=True, slots=True)
class FieldFilter:
    """A checked filter schema and its validator."""

    schema: Mapping[str, Any]
    validator: Any  # a jsonschema validator instance (the library's classes are built dynamically)
    templated: bool
    answers: dict[tuple[type, Any], bool] = field(default_factory=dict, compare=False, repr=False)
    """Answers for small scalars: the values filters ask about repeat (``true``, a vct, a type name),
    and jsonschema takes microseconds for each. A pure function of the value, so a memo changes nothing."""

    def accepts(self, value: Any) -> bool:
        """True when ``value`` satisfies the filter (PE "Input Evaluation", step 4.b)."""
        key = _memo_key(value)
        if key is None:
            return self._validate(value)
        answer = self.answers.get(key)
        if answer is None:
            answer = self._validate(value)
            if len(self.answers) >= _MEMO_SIZE:
                self.answers.clear()  # bounded; a full memo just starts over
            self.answers[key] = answer
        return answer

    def _validate(self, value: Any) -> bool:
        try:
            return bool(self.validator.is_valid(value))
        except (OverflowError, RecursionError):
            # e.g. a float `multipleOf` against a 400-digit integer: no answer, so no satisfied filter.
            return False


def _memo_key(value: Any) -> tuple[type, Any] | None:
    """A key under which every Draft 7 keyword answers alike, or None (not worth or not safe to keep).

    The type is part of the key: ``true``, ``1`` and ``1.0`` are equal in Python, not in JSON Schema.
    Floats are left out (``0.0`` and ``-0.0`` would share a key), as are long strings and big integers.
    """
    kind = type(value)
    if value is None or kind is bool:
        return kind, value
    if (kind is str and len(value) <= _MEMO_TEXT_LENGTH) or (kind is int and value in _INT64):
        return kind, value
    return None


def compile_filter(schema: object) -> FieldFilter:
    """Check ``schema`` (Draft 7 + our keywords + templates, depth ≤ 16) and build its validator."""
    if not isinstance(schema, dict):
        raise InvalidFilterError("a filter must be a JSON object")
    if exceeds_depth(schema, MAX_FILTER_DEPTH):
        raise InvalidFilterError(f"a filter is nested deeper than {MAX_FILTER_DEPTH} levels")
    try:
        Draft7Validator.check_schema(schema)  # also compiles every `pattern` (metaschema format "regex")
    except SchemaError as exc:
        raise InvalidFilterError(f"a filter is not a valid JSON Schema draft 7 (at {_where(exc)})") from exc
    for node in _subschemas(schema):
        _check_node(node)
    templated = has_template(schema)
    validator = _FilterValidator(schema, format_checker=_FORMATS, registry=_NO_REMOTE)
    return FieldFilter(schema=schema, validator=validator, templated=templated)


# A group that repeats or alternates, itself repeated without bound — `(a+)+`, `(a|aa)*`, `(\w*)+` — is
# what makes a backtracking engine take exponential time (PE 2.1 Security Considerations): refused.
# Bounded repetition such as `([0-9]{4}\s?){4}` (the DIF IBAN example) stays allowed.
_NESTED_QUANTIFIER = re.compile(
    # a group holding an unbounded quantifier or an alternation, itself repeated without bound
    r"\((?:[^()\\]|\\.)*(?:[+*|]|\{\d+,\})(?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d+,\d*\})"
)
_MAX_PATTERN_LENGTH = 256


def _check_pattern(pattern: object) -> None:
    if not isinstance(pattern, str):
        return
    if len(pattern) > _MAX_PATTERN_LENGTH:
        raise InvalidFilterError(f"a filter pattern is longer than {_MAX_PATTERN_LENGTH} characters")
    if _NESTED_QUANTIFIER.search(pattern):
        raise InvalidFilterError("a filter pattern repeats a quantified group (catastrophic backtracking)")


def _check_node(node: Mapping[str, Any]) -> None:
    if "$ref" in node:
        raise InvalidFilterError("filters may not use $ref")
    _check_pattern(node.get("pattern"))
    properties = node.get("patternProperties")
    if isinstance(properties, dict):
        for pattern in properties:
            _check_pattern(pattern)
    for keyword in _LIMIT_KEYWORDS:
        if keyword in node:
            _check_limit(keyword, node[keyword], node.get("format"))


def _check_limit(keyword: str, limit: Any, fmt: Any) -> None:
    parse = _COMPARABLE.get(fmt) if isinstance(fmt, str) else None
    if parse is None:
        raise InvalidFilterError(f"{keyword} needs format 'date' or 'date-time' beside it")
    if not isinstance(limit, str):
        raise InvalidFilterError(f"{keyword} must be a string")
    if _is_template(limit):
        if fmt != "date":
            raise InvalidFilterError(f"{keyword} may use a date template only with format 'date'")
    elif parse(limit) is None:
        raise InvalidFilterError(f"{keyword} is not a valid {fmt}")


# --- Templates --- #


def _is_template(value: object) -> bool:
    """True for a well-formed ``{{today-N<unit>}}``; raise for anything else shaped like ``{{...}}``."""
    if not isinstance(value, str) or not _LOOKS_LIKE_TEMPLATE.fullmatch(value):
        return False
    match = _TEMPLATE.fullmatch(value)
    if match is None:
        raise InvalidFilterError("unknown template; only {{today-Ny}}, {{today-Nm}} and {{today-Nd}} exist")
    if int(match.group(1)) > _TEMPLATE_LIMITS[match.group(2)]:
        raise InvalidFilterError("a date template reaches back more than 150 years")
    return True


def has_template(value: object) -> bool:
    """True when a template string occurs anywhere in ``value``."""
    if isinstance(value, dict):
        return any(has_template(item) for item in value.values())
    if isinstance(value, list):
        return any(has_template(item) for item in value)
    return _is_template(value)


def materialize_filter(value: Any, *, today: dt.date) -> Any:
    """A copy of ``value`` with every template string replaced by its ISO date relative to ``today``."""
    if isinstance(value, dict):
        return {key: materialize_filter(item, today=today) for key, item in value.items()}
    if isinstance(value, list):
        return [materialize_filter(item, today=today) for item in value]
    if isinstance(value, str) and (match := _TEMPLATE.fullmatch(value)):
        return subtract(today, int(match.group(1)), match.group(2)).isoformat()
    return value


def subtract(today: dt.date, amount: int, unit: str) -> dt.date:
    """``today`` minus ``amount`` years (``y``), months (``m``) or days (``d``), clamped to date.min."""
    if unit == "d":
        return today - dt.timedelta(days=amount) if today.toordinal() > amount else dt.date.min
    months = amount * 12 if unit == "y" else amount
    index = today.year * 12 + (today.month - 1) - months
    if index < 12:  # before year 1: only reachable for a `today` in antiquity
        return dt.date.min
    year, month = divmod(index, 12)
    # The day is clamped to the target month: Feb 29 minus one year is Feb 28.
    last_day = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(today.day, last_day))


# --- Walking schemas --- #


def _subschemas(schema: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every object in ``schema`` that sits in a schema position (data members such as const skipped)."""
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(value for key, value in node.items() if key not in _DATA_KEYWORDS)
        elif isinstance(node, list):
            stack.extend(node)


def exceeds_depth(value: object, limit: int) -> bool:
    """True when ``value`` nests objects/arrays more than ``limit`` levels (iterative: no recursion risk)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            if level > limit:
                return True
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def _where(error: SchemaError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "top level"
