"""Presentation Definitions (DIF PE v2): parse, validate and compile once, when the definition is created.

A bad definition is refused here — at the backend API or at start-up — never at response time. JSONPaths and
filters are compiled onto the Structs. Members PE does not define are ignored but kept in ``raw``, which is
what gets sent to wallets. Features we do not implement (``frame``, ``predicate``, ``statuses``,
``is_holder``, ``same_subject``, ``subject_is_issuer``) are refused by name rather than silently ignored,
since ignoring them would accept credentials the backend meant to exclude.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any, Final

import msgspec

from service.errors import BadBackendRequest, ConfigurationError
from service.presentation_exchange.filters import (
    FieldFilter,
    InvalidFilterError,
    compile_filter,
    exceeds_depth,
    materialize_filter,
)
from service.presentation_exchange.formats import AllowedFormats, InvalidFormatError, parse_formats
from service.presentation_exchange.jsonpath import InvalidPathError, JsonPath, compile_path
from service.presentation_exchange.model import Constraints, Field, InputDescriptor, PresentationDefinition
from service.presentation_exchange.requirements import (
    InvalidRequirementError,
    SubmissionRequirement,
    check_requirements,
)

__all__ = [
    "MAX_DEFINITION_DEPTH",
    "MAX_DESCRIPTORS",
    "MAX_FIELDS",
    "MAX_PATHS",
    "Constraints",
    "DefinitionErrorType",
    "Field",
    "InputDescriptor",
    "PresentationDefinition",
    "materialize_definition",
    "parse_definition",
]

MAX_DESCRIPTORS: Final = 64
MAX_FIELDS: Final = 64  # per input descriptor
MAX_PATHS: Final = 16  # per field
MAX_DEFINITION_DEPTH: Final = 32  # JSON nesting of the whole definition (filters add at most 16)
_UNSET: Final = msgspec.UNSET

DefinitionErrorType = type[BadBackendRequest] | type[ConfigurationError]


# --- Wire shapes (what msgspec checks before we look closer) --- #


class _WireField(msgspec.Struct, frozen=True):
    path: list[str]
    id: str | None = None
    name: str | None = None
    purpose: str | None = None
    filter: Any = None
    optional: bool = False
    intent_to_retain: bool = False
    predicate: Any = _UNSET


class _WireConstraints(msgspec.Struct, frozen=True):
    fields: list[_WireField] = msgspec.field(default_factory=list)
    limit_disclosure: str | None = None
    statuses: Any = _UNSET
    is_holder: Any = _UNSET
    same_subject: Any = _UNSET
    subject_is_issuer: Any = _UNSET


class _WireDescriptor(msgspec.Struct, frozen=True):
    id: str
    constraints: _WireConstraints
    name: str | None = None
    purpose: str | None = None
    group: list[str] | None = None
    format: dict[str, Any] | None = None


class _WireDefinition(msgspec.Struct, frozen=True):
    id: str
    input_descriptors: list[_WireDescriptor]
    name: str | None = None
    purpose: str | None = None
    format: dict[str, Any] | None = None
    submission_requirements: list[SubmissionRequirement] | None = None
    frame: Any = _UNSET


_CONSTRAINT_FEATURES: Final = ("statuses", "is_holder", "same_subject", "subject_is_issuer")


# --- Parsing --- #


def parse_definition(
    raw: object, *, error: DefinitionErrorType = BadBackendRequest
) -> PresentationDefinition:
    """Validate ``raw`` (the bare PD object, no envelope) and compile it; raise ``error`` on any problem."""
    try:
        return _parse(raw)
    except _RefusedError as refused:
        raise error(f"definition.{refused.check}", refused.message) from refused.__cause__


class _RefusedError(Exception):
    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check
        self.message = message


def _parse(raw: object) -> PresentationDefinition:
    if not isinstance(raw, dict):
        raise _RefusedError("malformed", "a presentation definition must be a JSON object")
    if exceeds_depth(raw, MAX_DEFINITION_DEPTH):
        raise _RefusedError(
            "too_large", f"the definition is nested deeper than {MAX_DEFINITION_DEPTH} levels"
        )
    try:
        wire = msgspec.convert(raw, _WireDefinition)
    except msgspec.ValidationError as exc:
        raise _RefusedError("malformed", f"the definition is malformed: {exc}") from exc
    _check_features(wire)
    _check_sizes(wire)
    _check_ids(wire)
    descriptors = tuple(
        _descriptor(item, f"input_descriptors[{i}]") for i, item in enumerate(wire.input_descriptors)
    )
    groups = _groups(descriptors)
    requirements = tuple(wire.submission_requirements) if wire.submission_requirements is not None else None
    if requirements is not None:
        _check_grouping(descriptors, requirements, groups)
    return PresentationDefinition(
        id=wire.id,
        input_descriptors=descriptors,
        raw=copy.deepcopy(raw),
        name=wire.name,
        purpose=wire.purpose,
        format=_formats(wire.format, "format"),
        submission_requirements=requirements,
        groups=groups,
        templated=any(
            f.filter is not None and f.filter.templated for d in descriptors for f in d.constraints.fields
        ),
    )


def _check_features(wire: _WireDefinition) -> None:
    if wire.frame is not _UNSET:
        raise _RefusedError("unsupported_feature", "the JSON-LD framing feature ('frame') is not supported")
    for i, descriptor in enumerate(wire.input_descriptors):
        for name in _CONSTRAINT_FEATURES:
            if getattr(descriptor.constraints, name) is not _UNSET:
                where = f"input_descriptors[{i}].constraints"
                raise _RefusedError("unsupported_feature", f"'{name}' ({where}) is not supported")
        for j, field in enumerate(descriptor.constraints.fields):
            if field.predicate is not _UNSET:
                where = f"input_descriptors[{i}].constraints.fields[{j}]"
                raise _RefusedError(
                    "unsupported_feature", f"the predicate feature ({where}) is not supported"
                )


def _check_sizes(wire: _WireDefinition) -> None:
    if not wire.input_descriptors:
        raise _RefusedError("malformed", "a definition needs at least one input descriptor")
    if len(wire.input_descriptors) > MAX_DESCRIPTORS:
        raise _RefusedError("too_large", f"more than {MAX_DESCRIPTORS} input descriptors")
    for i, descriptor in enumerate(wire.input_descriptors):
        if len(descriptor.constraints.fields) > MAX_FIELDS:
            raise _RefusedError("too_large", f"input_descriptors[{i}] has more than {MAX_FIELDS} fields")
        for j, field in enumerate(descriptor.constraints.fields):
            if not 1 <= len(field.path) <= MAX_PATHS:
                where = f"input_descriptors[{i}].constraints.fields[{j}].path"
                raise _RefusedError("too_large", f"{where} must hold 1 to {MAX_PATHS} paths")


def _check_ids(wire: _WireDefinition) -> None:
    if _duplicates(descriptor.id for descriptor in wire.input_descriptors):
        raise _RefusedError("duplicate_id", "input descriptor ids must be unique")
    field_ids = (f.id for d in wire.input_descriptors for f in d.constraints.fields if f.id is not None)
    if _duplicates(field_ids):
        raise _RefusedError("duplicate_id", "field ids must be unique across the definition")


def _descriptor(wire: _WireDescriptor, where: str) -> InputDescriptor:
    limit = wire.constraints.limit_disclosure
    if limit is not None and limit not in ("required", "preferred"):
        raise _RefusedError(
            "malformed", f"{where}.constraints.limit_disclosure must be 'required' or 'preferred'"
        )
    fields = tuple(
        _field(field, f"{where}.constraints.fields[{j}]") for j, field in enumerate(wire.constraints.fields)
    )
    return InputDescriptor(
        id=wire.id,
        constraints=Constraints(fields=fields, limit_disclosure=limit),
        name=wire.name,
        purpose=wire.purpose,
        group=tuple(wire.group or ()),
        format=_formats(wire.format, f"{where}.format"),
    )


def _field(wire: _WireField, where: str) -> Field:
    paths: list[JsonPath] = []
    for k, text in enumerate(wire.path):
        try:
            paths.append(compile_path(text))
        except InvalidPathError as exc:
            raise _RefusedError("invalid_path", f"{where}.path[{k}]: {exc}") from exc
    compiled: FieldFilter | None = None
    if wire.filter is not None:
        try:
            compiled = compile_filter(wire.filter)
        except InvalidFilterError as exc:
            raise _RefusedError("invalid_filter", f"{where}.filter: {exc}") from exc
    return Field(
        path=tuple(paths),
        id=wire.id,
        name=wire.name,
        purpose=wire.purpose,
        filter=compiled,
        optional=wire.optional,
        intent_to_retain=wire.intent_to_retain,
    )


def _formats(raw: dict[str, Any] | None, where: str) -> AllowedFormats | None:
    if raw is None:
        return None
    try:
        return parse_formats(raw)
    except InvalidFormatError as exc:
        raise _RefusedError("invalid_format", f"{where}: {exc}") from exc


def _groups(descriptors: tuple[InputDescriptor, ...]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {}
    for descriptor in descriptors:
        for group in dict.fromkeys(descriptor.group):  # a group listed twice counts the descriptor once
            groups.setdefault(group, []).append(descriptor.id)
    return {group: tuple(members) for group, members in groups.items()}


def _check_grouping(
    descriptors: tuple[InputDescriptor, ...],
    requirements: tuple[SubmissionRequirement, ...],
    groups: dict[str, tuple[str, ...]],
) -> None:
    # PE: with submission_requirements, every input descriptor MUST carry a group.
    for i, descriptor in enumerate(descriptors):
        if not descriptor.group:
            raise _RefusedError("invalid_requirement", f"input_descriptors[{i}] has no group")
    try:
        check_requirements(requirements, groups)
    except InvalidRequirementError as exc:
        raise _RefusedError("invalid_requirement", str(exc)) from exc


# --- Templates --- #


def materialize_definition(definition: PresentationDefinition, *, today: dt.date) -> PresentationDefinition:
    """The definition with every ``{{today-N<y|m|d>}}`` filter template replaced by a concrete ISO date.

    Both ``raw`` (sent to the wallet) and the compiled filters (checked against the response) change, so
    call this once per transaction and keep the result with it.
    """
    if not definition.templated:
        return definition
    raw = copy.deepcopy(definition.raw)
    for field in _raw_fields(raw):
        if "filter" in field:
            field["filter"] = materialize_filter(field["filter"], today=today)
    return parse_definition(raw)


def _raw_fields(raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # `raw` already passed parse_definition, so the shapes below are known to hold.
    for descriptor in raw["input_descriptors"]:
        yield from descriptor["constraints"].get("fields", [])


# --- Helpers --- #


def _duplicates(values: Iterator[str]) -> bool:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return True
        seen.add(value)
    return False
