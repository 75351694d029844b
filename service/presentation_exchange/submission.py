"""Presentation Submissions (DIF PE v2 "Presentation Submission"): parse and bound the wallet's map.

The submission is wallet input, so it is capped (64 map entries, 4 levels counting the top entry) and its
paths are compiled with the same checked JSONPath subset as definitions. A ``path_nested`` without an ``id``
inherits its parent's (OpenID4VP draft 23 examples omit it); one that names a different id is refused,
since PE requires the same id at every level.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from service.errors import SubmissionMismatch
from service.presentation_exchange.jsonpath import InvalidPathError, JsonPath, compile_path

__all__ = [
    "MAX_MAP_ENTRIES",
    "MAX_NESTING",
    "DescriptorMapEntry",
    "PresentationSubmission",
    "parse_submission",
]

MAX_MAP_ENTRIES: Final = 64
MAX_NESTING: Final = 4  # levels in one map entry: the top entry and up to three path_nested below it


class DescriptorMapEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Where the object for input descriptor ``id`` sits and in which claim format."""

    id: str
    format: str  # as sent; normalise with service.vocabulary.canonical_format
    path: JsonPath
    path_nested: DescriptorMapEntry | None = None


class PresentationSubmission(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    definition_id: str
    descriptor_map: tuple[DescriptorMapEntry, ...]


class _WireEntry(msgspec.Struct, frozen=True):
    format: str
    path: str
    id: str | None = None
    path_nested: _WireEntry | None = None


class _WireSubmission(msgspec.Struct, frozen=True):
    id: str
    definition_id: str
    descriptor_map: list[_WireEntry]


def parse_submission(raw: object) -> PresentationSubmission:
    """Parse ``presentation_submission`` (a decoded object, or its JSON text as sent in the form)."""
    if isinstance(raw, str | bytes):
        try:
            raw = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise _malformed("presentation_submission is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise _malformed("presentation_submission must be a JSON object")
    _check_bounds(raw)
    try:
        wire = msgspec.convert(raw, _WireSubmission)
    except msgspec.ValidationError as exc:
        raise _malformed(f"presentation_submission is malformed: {exc}") from exc
    entries = tuple(_entry(item, None, f"descriptor_map[{i}]") for i, item in enumerate(wire.descriptor_map))
    return PresentationSubmission(id=wire.id, definition_id=wire.definition_id, descriptor_map=entries)


def _check_bounds(raw: dict[Any, Any]) -> None:
    """Refuse oversized maps before msgspec walks them (nesting is recursive in the wire shape)."""
    entries = raw.get("descriptor_map")
    if not isinstance(entries, list):
        return  # msgspec reports the type error
    if len(entries) > MAX_MAP_ENTRIES:
        raise _malformed(f"descriptor_map has more than {MAX_MAP_ENTRIES} entries")
    for i, top in enumerate(entries):
        level, entry = 1, top
        while isinstance(entry, dict) and "path_nested" in entry:
            entry = entry["path_nested"]
            level += 1
            if level > MAX_NESTING:
                raise _malformed(f"descriptor_map[{i}] nests path_nested deeper than {MAX_NESTING} levels")


def _entry(wire: _WireEntry, parent_id: str | None, where: str) -> DescriptorMapEntry:
    entry_id = wire.id if wire.id is not None else parent_id
    if entry_id is None:
        raise _malformed(f"{where}.id is required")
    if parent_id is not None and entry_id != parent_id:
        # No descriptor_id: the id is the wallet's, not yet known to belong to the definition.
        raise SubmissionMismatch(
            "submission.nested_id_mismatch", f"{where}.id differs from the id of its enclosing entry"
        )
    try:
        path = compile_path(wire.path)
    except InvalidPathError as exc:
        raise _malformed(f"{where}.path: {exc}") from exc
    nested = _entry(wire.path_nested, entry_id, f"{where}.path_nested") if wire.path_nested else None
    return DescriptorMapEntry(id=entry_id, format=wire.format, path=path, path_nested=nested)


def _malformed(description: str) -> SubmissionMismatch:
    return SubmissionMismatch("submission.malformed", description)
