"""What a transaction asks of the wallet: a presentation definition, a sign-in, or both.

A backend names a definition file (``definition_id``) or gives the parts inline. The answer is sealed into
the transaction by reference (a named entry's id and digest prefix) or by value (inline JSON), and rebuilt
at every step exactly as the wallet saw it — templates filled in at the transaction's creation day.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

import msgspec

from service.dcql import DcqlQuery, check_supported, definition_to_dcql, parse_dcql_query
from service.errors import BadBackendRequest, InvalidRequest, NotFound, TransactionError
from service.jose.jws import TokenKind, decode_jws
from service.presentation_exchange import (
    DefinitionRegistry,
    PresentationDefinition,
    materialize_definition,
    parse_definition,
)
from service.sign_in import SignInPolicy, parse_sign_in
from service.transaction.state import PROFILE_V1, TransactionState

__all__ = [
    "INLINE_DCQL_ID",
    "INLINE_SIGN_IN_ID",
    "Ask",
    "AskReference",
    "ask_for",
    "hinted_subject",
    "reference_for",
]

INLINE_SIGN_IN_ID = "inline-sign-in"
INLINE_DCQL_ID = "inline-dcql"
_MAX_INLINE = 64 * 1024
_HINT = TokenKind("sign_in_hint", InvalidRequest)


@dataclass(frozen=True, slots=True)
class Ask:
    """The transaction's demands, as the wallet saw them."""

    definition: PresentationDefinition | None
    sign_in: SignInPolicy | None
    trusted_issuers: frozenset[str] | None
    id_token_hint: str | None
    allow_unknown_status: bool = False
    dcql: DcqlQuery | None = None
    """OpenID4VP 1.0: the DCQL query the wallet saw (given, shipped beside the definition, or translated)."""


@dataclass(frozen=True, slots=True)
class AskReference:
    """How a new transaction seals what it asks."""

    definition_id: str
    digest: bytes | None = None
    inline_definition: bytes | None = None
    inline_sign_in: bytes | None = None
    inline_dcql: bytes | None = None


def reference_for(
    registry: DefinitionRegistry,
    *,
    definition_id: str | None,
    presentation_definition: Mapping[str, Any] | None,
    sign_in: Mapping[str, Any] | None,
    dcql_query: Mapping[str, Any] | None = None,
    profile: str = "",
) -> AskReference:
    """Check a backend's choice (a named entry, or inline parts) and make its sealed reference.

    A 1.0 transaction must also be expressible in DCQL: the caller rebuilds the ask with ``ask_for`` right
    after sealing, so an untranslatable definition is refused before any wallet sees it.
    """
    if dcql_query is not None:
        if profile != PROFILE_V1:
            raise BadBackendRequest("api.protocol", "dcql_query needs protocol 1.0")
        if definition_id is not None or presentation_definition is not None:
            raise BadBackendRequest(
                "api.definition_choice", "Give dcql_query or a presentation definition, not both"
            )
        return _dcql_reference(dcql_query, sign_in)
    inline = presentation_definition is not None or sign_in is not None
    if (definition_id is None) == (not inline):
        raise BadBackendRequest(
            "api.definition_choice",
            "Give definition_id, or presentation_definition and/or sign_in (or dcql_query)",
        )
    if definition_id is not None:
        entry = registry.get(definition_id)
        if entry is None:
            raise NotFound("definition.unknown", "No definition has that id")
        return AskReference(definition_id=entry.id, digest=_digest_prefix(entry.digest))
    return _inline_reference(registry, presentation_definition, sign_in)


def _dcql_reference(dcql_query: Mapping[str, Any], sign_in: Mapping[str, Any] | None) -> AskReference:
    raw = _encode(dcql_query, "DCQL query")
    check_supported(parse_dcql_query(dcql_query))
    if sign_in is not None:
        parse_sign_in(sign_in)
    return AskReference(
        definition_id=INLINE_DCQL_ID, inline_dcql=raw, inline_sign_in=_encode(sign_in, "sign_in")
    )


def _inline_reference(
    registry: DefinitionRegistry,
    presentation_definition: Mapping[str, Any] | None,
    sign_in: Mapping[str, Any] | None,
) -> AskReference:
    raw_definition = _encode(presentation_definition, "presentation definition")
    raw_sign_in = _encode(sign_in, "sign_in")
    ask_id = INLINE_SIGN_IN_ID
    if presentation_definition is not None:
        ask_id = parse_definition(presentation_definition, error=BadBackendRequest).id
        if ask_id in registry:
            # The verdict names the definition by id: an inline one must not pass itself off as a named one.
            raise BadBackendRequest(
                "definition.id_taken", "An inline definition may not reuse a named definition id"
            )
    if sign_in is not None:
        parse_sign_in(sign_in)
    return AskReference(definition_id=ask_id, inline_definition=raw_definition, inline_sign_in=raw_sign_in)


def _encode(value: Mapping[str, Any] | None, what: str) -> bytes | None:
    if value is None:
        return None
    raw = msgspec.json.encode(value)
    if len(raw) > _MAX_INLINE:
        raise BadBackendRequest("definition.too_large", f"The {what} is too large")
    return raw


_CACHE_SIZE = 256
T = TypeVar("T")


class _DailyCache(Generic[T]):
    """Parsing, translating and filling in templates is pure: once per definition and day, not per request."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[bytes, date], T] = OrderedDict()

    def get(self, key: bytes, day: date, build: Callable[[], T]) -> T:
        cached = self._entries.get((key, day))
        if cached is None:
            cached = build()
            self._entries[(key, day)] = cached
            while len(self._entries) > _CACHE_SIZE:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end((key, day))
        return cached


_definitions: _DailyCache[PresentationDefinition] = _DailyCache()
_queries: _DailyCache[DcqlQuery] = _DailyCache()


def _materialized_for(
    key: bytes, day: date, build: Callable[[], PresentationDefinition]
) -> PresentationDefinition:
    return _definitions.get(key, day, lambda: materialize_definition(build(), today=day))


def _query_for(key: bytes, day: date, build: Callable[[], DcqlQuery]) -> DcqlQuery:
    return _queries.get(key, day, build)


def ask_for(state: TransactionState, registry: DefinitionRegistry) -> Ask:
    """Rebuild what the transaction asks, from its sealed reference (1.0: with its DCQL query)."""
    ask = _ask_for(state, registry)
    if state.profile != PROFILE_V1:
        return ask
    day = _day_of(state.created_at)
    dcql: DcqlQuery | None = None
    if state.inline_dcql is not None:
        inline = state.inline_dcql
        dcql = _query_for(
            b"dcql:" + hashlib.sha256(inline).digest(),
            day,
            lambda: parse_dcql_query(msgspec.json.decode(inline)),
        )
    elif ask.definition is not None:
        entry = registry.get(state.definition_id) if state.inline_definition is None else None
        named = entry.dcql if entry is not None else None
        definition = ask.definition
        dcql = (
            named
            if named is not None
            else _query_for(
                b"translated:" + hashlib.sha256(msgspec.json.encode(definition.raw)).digest(),
                day,
                lambda: definition_to_dcql(definition),
            )
        )
    # Under 1.0 the query is what the wallet answers; the definition only served to derive it.
    return Ask(
        definition=None,
        sign_in=ask.sign_in,
        trusted_issuers=ask.trusted_issuers,
        id_token_hint=ask.id_token_hint,
        allow_unknown_status=ask.allow_unknown_status,
        dcql=dcql,
    )


def _ask_for(state: TransactionState, registry: DefinitionRegistry) -> Ask:
    trusted: frozenset[str] | None = None
    allow_unknown = False
    day = _day_of(state.created_at)
    if state.inline_dcql is not None:
        sign_in = (
            parse_sign_in(msgspec.json.decode(state.inline_sign_in))
            if state.inline_sign_in is not None
            else None
        )
        return Ask(definition=None, sign_in=sign_in, trusted_issuers=None, id_token_hint=state.id_token_hint)
    if state.inline_definition is not None or state.inline_sign_in is not None:
        inline = state.inline_definition
        definition = (
            _materialized_for(
                b"inline:" + hashlib.sha256(inline).digest(),
                day,
                lambda: parse_definition(msgspec.json.decode(inline), error=BadBackendRequest),
            )
            if inline is not None
            else None
        )
        sign_in = (
            parse_sign_in(msgspec.json.decode(state.inline_sign_in))
            if state.inline_sign_in is not None
            else None
        )
    else:
        entry = registry.get(state.definition_id)
        if entry is None or _digest_prefix(entry.digest) != state.definition_digest:
            raise TransactionError(
                "transaction.definition_changed", "The definition changed after the request"
            )
        named = entry.definition
        definition = (
            _materialized_for(f"named:{entry.id}:{entry.digest}".encode(), day, lambda: named)
            if named is not None
            else None
        )
        sign_in, trusted = entry.sign_in, entry.trusted_issuers
        allow_unknown = entry.allow_unknown_status
    return Ask(
        definition=definition,
        sign_in=sign_in,
        trusted_issuers=trusted,
        id_token_hint=state.id_token_hint,
        allow_unknown_status=allow_unknown,
    )


def hinted_subject(id_token_hint: str | None) -> str | None:
    """The ``sub`` of an ID Token hint (the backend's earlier sign-in) for re-authentication."""
    if id_token_hint is None:
        return None
    try:
        sub = decode_jws(id_token_hint, kind=_HINT, max_length=16 * 1024).payload.get("sub")
    except InvalidRequest as exc:
        raise BadBackendRequest("sign_in.bad_id_token_hint", "id_token_hint is not a JWT") from exc
    if not isinstance(sub, str) or not sub:
        raise BadBackendRequest("sign_in.bad_id_token_hint", "id_token_hint has no subject")
    return sub


def _digest_prefix(digest: str) -> bytes:
    # 64 bits tell a changed definition file apart; the handle need not carry the whole digest.
    return bytes.fromhex(digest[:16])


def _day_of(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, tz=UTC).date()
