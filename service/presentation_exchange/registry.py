"""The ``definitions/`` directory: named presentation definitions loaded and compiled at start-up.

Each ``<id>.json`` holds ``{"presentation_definition": {...}, "sign_in": {...}, "dcql_query": {...},
"description": "...", "trusted_issuers": [...]}``: at least one of ``presentation_definition`` (what to
present) and ``sign_in`` (authenticate the holder, SIOPv2), the rest optional, nothing else allowed. The file
stem is the entry's id and must equal the presentation definition's ``id``. Any problem raises
:class:`ConfigurationError` naming the file, so a bad deployment fails to boot.

``dcql_query`` is the OpenID4VP 1.0 form of the presentation definition, for definitions that
:func:`service.dcql.definition_to_dcql` cannot translate (a birth-date filter, an SD-JWT VC without a
``vct``); it needs the presentation definition beside it and must be a query this verifier can check.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from pathlib import Path
from typing import Any, Final

import msgspec

from service.dcql.model import DcqlQuery
from service.dcql.query import check_supported, parse_dcql_query
from service.errors import BadBackendRequest, ConfigurationError
from service.presentation_exchange.definition import parse_definition
from service.presentation_exchange.model import PresentationDefinition
from service.sign_in import SignInPolicy, parse_sign_in

__all__ = [
    "MAX_DEFINITION_FILE_BYTES",
    "DefinitionEntry",
    "DefinitionRegistry",
    "definition_digest",
    "load_definitions",
]

MAX_DEFINITION_FILE_BYTES: Final = 256 * 1024


class _DefinitionFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    presentation_definition: dict[str, Any] | None = None
    sign_in: dict[str, Any] | None = None
    dcql_query: dict[str, Any] | None = None
    description: str | None = None
    trusted_issuers: list[str] | None = None
    allow_unknown_status: bool = False


class DefinitionEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A loaded definition with its operator-facing metadata."""

    id: str
    definition: PresentationDefinition | None
    digest: str  # sha-256 (hex) of the canonical JSON of what the file asks for
    sign_in: SignInPolicy | None = None
    dcql: DcqlQuery | None = None  # the 1.0 form from the file; None: translate the definition
    description: str | None = None
    trusted_issuers: frozenset[str] | None = None  # None: any issuer the trust policy accepts
    allow_unknown_status: bool = False  # an unreachable status list leaves the credential "unknown"


class DefinitionRegistry:
    """Read-only lookup of the definitions loaded from disk."""

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[str, DefinitionEntry]) -> None:
        self._entries = dict(entries)

    def get(self, definition_id: str) -> DefinitionEntry | None:
        return self._entries.get(definition_id)

    def list(self) -> builtins.list[DefinitionEntry]:
        """All entries, sorted by id."""
        return [self._entries[key] for key in sorted(self._entries)]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, definition_id: object) -> bool:
        return definition_id in self._entries


def definition_digest(raw: dict[str, Any]) -> str:
    """A stable fingerprint of a raw definition: sha-256 over sorted-key, whitespace-free JSON."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_definitions(directory: Path) -> DefinitionRegistry:
    """Load every ``*.json`` in ``directory``; raise ConfigurationError on the first bad file."""
    if not directory.is_dir():
        raise ConfigurationError(
            "definition.unreadable", f"definitions directory {directory.name} does not exist"
        )
    entries: dict[str, DefinitionEntry] = {}
    for path in sorted(directory.glob("*.json")):
        entry = _load_file(path)
        entries[entry.id] = entry  # stems are unique within a directory, and stem == id
    return DefinitionRegistry(entries)


def _load_file(path: Path) -> DefinitionEntry:
    name = path.name
    wrapper = _read_file(path)
    if wrapper.presentation_definition is None and wrapper.sign_in is None:
        raise ConfigurationError("definition.malformed", f"{name}: needs presentation_definition or sign_in")
    if wrapper.dcql_query is not None and wrapper.presentation_definition is None:
        # The 1.0 form is used in place of a translation, so without a definition it would never be asked.
        raise ConfigurationError("definition.malformed", f"{name}: dcql_query needs presentation_definition")
    try:
        definition = (
            parse_definition(wrapper.presentation_definition, error=ConfigurationError)
            if wrapper.presentation_definition is not None
            else None
        )
        sign_in = (
            parse_sign_in(wrapper.sign_in, error=ConfigurationError) if wrapper.sign_in is not None else None
        )
    except ConfigurationError as exc:
        raise ConfigurationError(exc.reason, f"{name}: {exc.description}") from exc
    if definition is not None and definition.id != path.stem:
        raise ConfigurationError(
            "definition.id_mismatch", f"{name}: the file name must be the definition id + .json"
        )
    return DefinitionEntry(
        id=path.stem,
        definition=definition,
        sign_in=sign_in,
        dcql=_dcql(wrapper.dcql_query, name) if wrapper.dcql_query is not None else None,
        digest=_digest(wrapper),
        description=wrapper.description,
        trusted_issuers=_trusted_issuers(wrapper.trusted_issuers, name),
        allow_unknown_status=wrapper.allow_unknown_status,
    )


def _read_file(path: Path) -> _DefinitionFile:
    name = path.name
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_DEFINITION_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError("definition.unreadable", f"{name}: the file cannot be read") from exc
    if len(data) > MAX_DEFINITION_FILE_BYTES:
        raise ConfigurationError(
            "definition.too_large", f"{name}: larger than {MAX_DEFINITION_FILE_BYTES} bytes"
        )
    try:
        return msgspec.json.decode(data, type=_DefinitionFile)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigurationError("definition.malformed", f"{name}: {exc}") from exc


def _dcql(raw: dict[str, Any], name: str) -> DcqlQuery:
    """Parse and check the file's ``dcql_query``; the parser's ``dcql.*`` reason is kept (§6)."""
    try:
        query = parse_dcql_query(raw)
        check_supported(query)
    except BadBackendRequest as exc:
        where = f"dcql_query/{exc.description}".replace("dcql_query/(root)", "dcql_query")
        raise ConfigurationError(exc.reason, f"{name}: {where}") from exc
    return query


def _digest(wrapper: _DefinitionFile) -> str:
    """What the file asks for; ``dcql_query`` counts only when present, so older digests stay the same."""
    if wrapper.sign_in is None and wrapper.dcql_query is None:
        return definition_digest(wrapper.presentation_definition or {})
    asked: dict[str, Any] = {
        "presentation_definition": wrapper.presentation_definition,
        "sign_in": wrapper.sign_in,
    }
    if wrapper.dcql_query is not None:
        asked["dcql_query"] = wrapper.dcql_query
    return definition_digest(asked)


def _trusted_issuers(issuers: list[str] | None, name: str) -> frozenset[str] | None:
    if issuers is None:
        return None
    # An empty list would trust nobody, which is a mistake rather than a policy: omit the member instead.
    if not issuers or not all(issuer for issuer in issuers):
        raise ConfigurationError(
            "definition.malformed", f"{name}: trusted_issuers must be a non-empty list of issuer ids"
        )
    return frozenset(issuers)
