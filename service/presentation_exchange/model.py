"""The compiled form of a Presentation Definition (what :func:`parse_definition` returns).

These Structs hold compiled JSONPaths and filter validators, so they are not meant to be encoded; send
``PresentationDefinition.raw`` to wallets instead.
"""

from __future__ import annotations

from typing import Any

import msgspec

from service.presentation_exchange.filters import FieldFilter
from service.presentation_exchange.formats import AllowedFormats
from service.presentation_exchange.jsonpath import JsonPath
from service.presentation_exchange.requirements import SubmissionRequirement

__all__ = ["Constraints", "Field", "InputDescriptor", "PresentationDefinition"]


class Field(msgspec.Struct, frozen=True, kw_only=True):
    """A field constraint: paths tried in order, an optional filter on the first value found."""

    path: tuple[JsonPath, ...]
    id: str | None = None
    name: str | None = None
    purpose: str | None = None
    filter: FieldFilter | None = None
    optional: bool = False
    intent_to_retain: bool = False


class Constraints(msgspec.Struct, frozen=True, kw_only=True):
    fields: tuple[Field, ...] = ()
    limit_disclosure: str | None = None  # "required" | "preferred"; enforcement is the format handler's


class InputDescriptor(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    constraints: Constraints
    name: str | None = None
    purpose: str | None = None
    group: tuple[str, ...] = ()
    format: AllowedFormats | None = None


class PresentationDefinition(msgspec.Struct, frozen=True, kw_only=True):
    """A validated definition. ``raw`` is the JSON to send to wallets (treat it as read-only)."""

    id: str
    input_descriptors: tuple[InputDescriptor, ...]
    raw: dict[str, Any]
    name: str | None = None
    purpose: str | None = None
    format: AllowedFormats | None = None
    submission_requirements: tuple[SubmissionRequirement, ...] | None = None
    groups: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)  # group → descriptor ids
    templated: bool = False  # filters still hold {{today-...}}; see materialize_definition

    def descriptor(self, descriptor_id: str) -> InputDescriptor | None:
        # A loop, not next(genexpr): called per map entry on every response, and a generator costs more
        # than the one or two descriptors a definition has.
        for item in self.input_descriptors:
            if item.id == descriptor_id:
                return item
        return None
