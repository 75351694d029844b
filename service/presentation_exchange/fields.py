"""Field matching for one candidate credential, and the data-minimised view of what matched.

For each field, in order: each path in order is run against each document in order and the first value
found is taken; with a filter, a value that fails it sends us to the next path. A field nobody matched is
``submission.field_missing`` (unless optional); a field whose values all failed the filter is
``submission.filter_failed`` — also when the field is optional, as PE 2.1 requires a present value to pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from service.errors import SubmissionMismatch
from service.presentation_exchange.jsonpath import JsonPath, Location, compile_path, locate

if TYPE_CHECKING:
    from service.presentation_exchange.evaluation import DescriptorResult
    from service.presentation_exchange.model import Field, InputDescriptor

__all__ = ["FieldMatch", "disclosed_claims", "match_fields"]


class FieldMatch(msgspec.Struct, frozen=True, kw_only=True):
    """The value that satisfied a field, and how it may be used."""

    field_id: str | None
    path: str  # the path (as written in the definition) that produced ``value``
    value: Any
    filtered: bool  # the field has a filter, so ``value`` answered a question
    retain: bool  # the definition declared intent_to_retain
    location: tuple[str | int, ...] | None = (
        None  # where ``value`` sits in the first document (None: elsewhere)
    )


def match_fields(
    descriptor: InputDescriptor, documents: Sequence[Mapping[str, Any]]
) -> tuple[FieldMatch, ...]:
    """Match every field of ``descriptor``; raise SubmissionMismatch for the first one that fails."""
    matches: list[FieldMatch] = []
    for field in descriptor.constraints.fields:
        match = _match_field(field, documents, descriptor.id)
        if match is not None:
            matches.append(match)
    return tuple(matches)


def _match_field(
    field: Field, documents: Sequence[Mapping[str, Any]], descriptor_id: str
) -> FieldMatch | None:
    found_value = False
    for path in field.path:
        hit = _first_hit(path, documents)
        if hit is None:
            continue
        found_value = True
        location, value = hit
        if field.filter is None or field.filter.accepts(value):
            return FieldMatch(
                field_id=field.id,
                path=path.text,
                value=value,
                filtered=field.filter is not None,
                retain=field.intent_to_retain,
                location=location,
            )
    if found_value:
        raise SubmissionMismatch(
            "submission.filter_failed",
            f"{_label(field)} does not satisfy its filter",
            descriptor_id=descriptor_id,
        )
    if field.optional:
        return None
    raise SubmissionMismatch(
        "submission.field_missing", f"{_label(field)} is missing", descriptor_id=descriptor_id
    )


def _first_hit(path: JsonPath, documents: Sequence[Mapping[str, Any]]) -> tuple[Location | None, Any] | None:
    """The first value ``path`` finds in the documents, in order, with its location in the first document."""
    for index, document in enumerate(documents):
        hits = locate(path, document)
        if hits:
            location, value = hits[0]
            return (location if index == 0 else None), value
    return None


def _label(field: Field) -> str:
    return f"field '{field.id}'" if field.id is not None else "a field"


def disclosed_claims(result: DescriptorResult) -> dict[str, Any]:
    """What a verdict may carry for one descriptor: values only where no filter asked a question.

    - A field without a filter asks for a value: the verdict carries it (key: the field ``id``, else the
      last member name of the matched path; the first field wins on a clash).
    - A field with a filter and an ``id`` is a named question: the verdict carries its answer, ``True``
      (the value itself only with ``intent_to_retain``), so e.g. a birth date never reaches the verdict.
    - A field with a filter and no ``id`` is a constraint (a type, a ``vct``): a verified verdict already
      says it held, so nothing is added.
    """
    claims: dict[str, Any] = {}
    for match in result.fields:
        if match.filtered and match.field_id is None and not match.retain:
            continue
        key = match.field_id or compile_path(match.path).last_name or match.path
        if key not in claims:
            claims[key] = match.value if match.retain or not match.filtered else True
    return claims
