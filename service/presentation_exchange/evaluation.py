"""Re-evaluate a submission against its definition (PE v2 "Input Evaluation", OpenID4VP d20 §6.5 step 4).

Steps, each raising :class:`SubmissionMismatch` with a stable ``submission.*`` reason:

1. structure, before any cryptography: definition id, known and unique descriptor ids, known formats,
   OpenID4VP path shape (``$`` for a single presentation, ``$[n]`` for an array — d20 §6.1), and (without
   submission requirements) every descriptor mapped;
2. resolution: each entry's ``path`` must select exactly one node, which ``lookup`` verifies and decodes;
   ``path_nested`` is then followed inside the decoded object's first document; the innermost object is the
   descriptor's candidate credential;
3. constraints: the candidate's format/alg, then each field in order (:func:`match_fields`);
4. satisfaction: without requirements every descriptor must pass; with them, a mapped descriptor that fails
   its constraints is discarded (OpenID4VP 1.0 §8.6: discard a failing presentation) and the rules are
   evaluated over the descriptors that passed.

A descriptor is checked only against the credential the submission maps to it: an unmapped descriptor is
unsatisfied even when another submitted credential would fit. One credential may be mapped to several
descriptors; each is then checked against its own constraints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import msgspec

from service.errors import SubmissionMismatch
from service.presentation_exchange.fields import FieldMatch, match_fields
from service.presentation_exchange.jsonpath import JsonPath, find
from service.presentation_exchange.model import InputDescriptor, PresentationDefinition
from service.presentation_exchange.requirements import requirements_met
from service.presentation_exchange.submission import DescriptorMapEntry, PresentationSubmission
from service.vocabulary import FORMAT_DC_SD_JWT, FORMAT_JWT_VC_JSON, canonical_format

CREDENTIAL_FORMATS: Final = frozenset({FORMAT_JWT_VC_JSON, FORMAT_DC_SD_JWT})

__all__ = ["Decoded", "DescriptorResult", "Lookup", "SubmissionResult", "evaluate_submission"]

_ARRAY_ELEMENT: Final = re.compile(r"\$\[(0|[1-9][0-9]*)\]")


class Decoded(Protocol):
    """A verified, decoded presentation or credential, as returned by a format handler."""

    @property
    def format(self) -> str:
        """Canonical format id (``jwt_vp_json`` or ``jwt_vc_json``)."""

    @property
    def alg(self) -> str:
        """JOSE ``alg`` the object was signed with."""

    @property
    def documents(self) -> tuple[Mapping[str, Any], ...]:
        """JSON documents paths run against, in preference order (JWT claims set, then the decoded VC)."""


# (canonical format of the map entry, node the path selected) -> verified object; raises its own errors.
Lookup = Callable[[str, Any], Decoded]


class DescriptorResult(msgspec.Struct, frozen=True, kw_only=True):
    """A satisfied input descriptor: its candidate credential and the field values that satisfied it."""

    descriptor_id: str
    credential: Decoded
    presentations: tuple[Decoded, ...]  # the enclosing objects, outermost first (e.g. the VP)
    fields: tuple[FieldMatch, ...]


class SubmissionResult(msgspec.Struct, frozen=True):
    descriptors: tuple[DescriptorResult, ...]  # in definition order

    def get(self, descriptor_id: str) -> DescriptorResult | None:
        return next((item for item in self.descriptors if item.descriptor_id == descriptor_id), None)


def evaluate_submission(
    definition: PresentationDefinition,
    submission: PresentationSubmission,
    vp_token: Any,
    lookup: Lookup,
) -> SubmissionResult:
    """Check that ``submission`` maps ``vp_token`` onto ``definition`` and the credentials satisfy it."""
    _check_structure(definition, submission, vp_token)
    resolve = _memoized(lookup)
    passed: dict[str, DescriptorResult] = {}
    for entry in submission.descriptor_map:
        descriptor = definition.descriptor(entry.id)
        assert descriptor is not None  # guaranteed by _check_structure
        chain = _resolve(entry, vp_token, resolve)
        try:
            passed[entry.id] = _evaluate_descriptor(definition, descriptor, chain)
        except SubmissionMismatch:
            if definition.submission_requirements is None:
                raise
    if definition.submission_requirements is not None and not requirements_met(
        definition.submission_requirements, passed.keys(), definition.groups
    ):
        failed = len(submission.descriptor_map) - len(passed)
        raise SubmissionMismatch(
            "submission.requirements_unmet",
            f"the submission requirements are not met ({failed} mapped descriptor(s) failed)",
        )
    ordered = tuple(passed[item.id] for item in definition.input_descriptors if item.id in passed)
    return SubmissionResult(ordered)


# --- 1. Structure --- #


def _check_structure(
    definition: PresentationDefinition, submission: PresentationSubmission, vp_token: Any
) -> None:
    if submission.definition_id != definition.id:
        raise SubmissionMismatch(
            "submission.definition_mismatch", "definition_id does not name the requested definition"
        )
    seen: set[str] = set()
    for entry in submission.descriptor_map:
        if definition.descriptor(entry.id) is None:
            raise SubmissionMismatch(
                "submission.unknown_descriptor", "descriptor_map names an unknown input descriptor"
            )
        if entry.id in seen:
            raise SubmissionMismatch(
                "submission.duplicate_descriptor",
                "an input descriptor is mapped twice",
                descriptor_id=entry.id,
            )
        seen.add(entry.id)
        _check_formats(entry)
        _check_top_path(entry, vp_token)
    if definition.submission_requirements is None:
        for descriptor in definition.input_descriptors:
            if descriptor.id not in seen:
                raise SubmissionMismatch(
                    "submission.descriptor_missing",
                    "an input descriptor is not mapped",
                    descriptor_id=descriptor.id,
                )


def _check_formats(entry: DescriptorMapEntry) -> None:
    level: DescriptorMapEntry | None = entry
    while level is not None:
        if canonical_format(level.format) is None:
            raise SubmissionMismatch(
                "submission.unsupported_format",
                "a descriptor_map format is not supported",
                descriptor_id=entry.id,
            )
        level = level.path_nested


def _check_top_path(entry: DescriptorMapEntry, vp_token: Any) -> None:
    """OpenID4VP d20 §6.1: ``$`` for a single presentation, ``$[n]`` when vp_token is an array."""
    allowed = (
        _ARRAY_ELEMENT.fullmatch(entry.path.text) if isinstance(vp_token, list) else entry.path.text == "$"
    )
    if not allowed:
        shape = (
            "'$[n]' for an array vp_token" if isinstance(vp_token, list) else "'$' for a single presentation"
        )
        raise SubmissionMismatch(
            "submission.path_invalid", f"descriptor_map path must be {shape}", descriptor_id=entry.id
        )


# --- 2. Resolution --- #


def _resolve(entry: DescriptorMapEntry, vp_token: Any, resolve: Lookup) -> tuple[Decoded, ...]:
    """Follow ``path`` and every ``path_nested``; return the decoded objects, outermost first."""
    chain: list[Decoded] = []
    document: Any = vp_token
    level: DescriptorMapEntry | None = entry
    while level is not None:
        fmt = canonical_format(level.format)
        assert fmt is not None  # checked by _check_formats
        decoded = resolve(fmt, _select_one(level.path, document, entry.id))
        if decoded.format != fmt:
            raise SubmissionMismatch(
                "submission.format_mismatch",
                "an object is not in the format the map declares",
                descriptor_id=entry.id,
            )
        chain.append(decoded)
        level = level.path_nested
        if level is not None:
            if not decoded.documents:
                raise SubmissionMismatch(
                    "submission.path_unresolved",
                    "path_nested has no document to run on",
                    descriptor_id=entry.id,
                )
            document = decoded.documents[0]
    return tuple(chain)


def _select_one(path: JsonPath, document: Any, descriptor_id: str) -> Any:
    nodes = find(path, document)
    if not nodes:
        raise SubmissionMismatch(
            "submission.path_unresolved", "a descriptor_map path selects nothing", descriptor_id=descriptor_id
        )
    if len(nodes) > 1:
        raise SubmissionMismatch(
            "submission.path_ambiguous",
            "a descriptor_map path selects several objects",
            descriptor_id=descriptor_id,
        )
    return nodes[0]


def _memoized(lookup: Lookup) -> Lookup:
    """Verify each selected object once even when several entries point at it (e.g. two VCs in one VP)."""
    cache: dict[tuple[str, int], tuple[Any, Decoded]] = {}

    def resolve(fmt: str, node: Any) -> Decoded:
        key = (fmt, id(node))
        if key not in cache:
            cache[key] = (node, lookup(fmt, node))  # keeping `node` alive keeps its id unique
        return cache[key][1]

    return resolve


# --- 3. Constraints --- #


def _evaluate_descriptor(
    definition: PresentationDefinition, descriptor: InputDescriptor, chain: tuple[Decoded, ...]
) -> DescriptorResult:
    candidate = chain[-1]
    if candidate.format not in CREDENTIAL_FORMATS:
        # A presentation is the holder's own statement: its claims prove nothing. Only a credential (an
        # issuer's signature) may satisfy a descriptor, so the map must reach one (path_nested into a VP).
        raise SubmissionMismatch(
            "submission.not_a_credential",
            "the submission maps the descriptor to a presentation, not to a credential",
            descriptor_id=descriptor.id,
        )
    _check_format_allowed(definition, descriptor, chain)
    fields = match_fields(descriptor, candidate.documents)
    if descriptor.constraints.limit_disclosure == "required":
        _check_limited_disclosure(candidate, fields, descriptor.id)
    return DescriptorResult(
        descriptor_id=descriptor.id, credential=candidate, presentations=chain[:-1], fields=fields
    )


def _check_format_allowed(
    definition: PresentationDefinition, descriptor: InputDescriptor, chain: tuple[Decoded, ...]
) -> None:
    """The candidate's format must be listed, with its alg; an enclosing object's alg only if listed.

    OpenID4VP examples list only the credential format on a descriptor, so an unlisted presentation format is
    not a reason to refuse; when the definition does list it (as ours do), its ``alg`` list applies too.
    """
    allowed = descriptor.format if descriptor.format is not None else definition.format
    if allowed is None:
        return
    candidate = chain[-1]
    permitted = allowed.permits(candidate.format, candidate.alg, getattr(candidate, "kb_alg", None)) and all(
        allowed.permits(outer.format, outer.alg) for outer in chain[:-1] if allowed.lists(outer.format)
    )
    if not permitted:
        raise SubmissionMismatch(
            "submission.format_not_allowed",
            "the credential format or signing algorithm is not allowed for this descriptor",
            descriptor_id=descriptor.id,
        )


def _check_limited_disclosure(candidate: Decoded, fields: tuple[FieldMatch, ...], descriptor_id: str) -> None:
    """``limit_disclosure: required``: every selectively disclosed claim lies on a requested path.

    A disclosure is covered when it is a requested claim, inside one, or a container on the way to one
    (recursive disclosures need their parents). Formats without selective disclosure (JWT VCs) expose no
    ``disclosed_paths`` and have nothing a holder could have withheld, so there is nothing to limit.
    """
    disclosed: tuple[tuple[str | int, ...], ...] | None = getattr(candidate, "disclosed_paths", None)
    if not disclosed:
        return
    requested = [match.location for match in fields if match.location is not None]
    for path in disclosed:
        if not any(path[: len(location)] == location[: len(path)] for location in requested):
            raise SubmissionMismatch(
                "submission.over_disclosure",
                "the credential discloses claims the definition did not ask for",
                descriptor_id=descriptor_id,
            )
