"""Parse and validate a DCQL query sent by a backend (OpenID4VP 1.0 §6, §7, App. B).

A bad query is refused here, when the transaction is created, never at response time: every refusal is a
:class:`BadBackendRequest` with reason ``dcql.<check>`` and a description that starts with the JSON
pointer of the offending member (``credentials/0/claims/1/path: ...``; ``(root)`` for the query itself).

Unknown members are ignored at every level, as §6 requires for forward compatibility; they stay in
``raw`` and so reach the wallet unchanged. Members we do interpret are checked strictly: a wrong type is
refused rather than read as absent, so a typo in a value never widens what a response may contain.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Hashable, Iterable
from typing import Any, Final

from service.dcql.model import (
    FORMAT_MSO_MDOC,
    QUERY_FORMATS,
    SUPPORTED_FORMATS,
    ClaimsQuery,
    ClaimValue,
    CredentialMeta,
    CredentialQuery,
    CredentialSetQuery,
    DcqlQuery,
    TrustedAuthority,
)
from service.dcql.pointer import ClaimsPath, is_component
from service.errors import BadBackendRequest
from service.presentation_exchange.filters import exceeds_depth
from service.vocabulary import FORMAT_DC_SD_JWT

__all__ = [
    "MAX_CLAIMS",
    "MAX_CREDENTIALS",
    "MAX_LIST",
    "MAX_PATH_LENGTH",
    "MAX_QUERY_DEPTH",
    "MAX_VALUES",
    "check_supported",
    "parse_dcql_query",
]

MAX_CREDENTIALS: Final = 64  # credential queries per query
MAX_CLAIMS: Final = 64  # claims queries per credential query
MAX_PATH_LENGTH: Final = 32  # components per claims path pointer
MAX_VALUES: Final = 64  # entries of a claim's `values`
MAX_LIST: Final = 64  # any other array: sets, options, vct/type values, trusted authorities
MAX_QUERY_DEPTH: Final = 32  # JSON nesting of the whole query, unknown members included (raw is copied)

_IDENTIFIER: Final = re.compile(r"[A-Za-z0-9_-]+")


class _RefusedError(Exception):
    def __init__(self, check: str, where: str, message: str) -> None:
        super().__init__(message)
        self.check = check
        self.where = where or "(root)"
        self.message = message


def parse_dcql_query(raw: object) -> DcqlQuery:
    """Validate ``raw`` (the bare ``dcql_query`` object); raise BadBackendRequest on any problem (§6)."""
    try:
        return _query(raw)
    except _RefusedError as refused:
        raise BadBackendRequest(f"dcql.{refused.check}", f"{refused.where}: {refused.message}") from None


def check_supported(query: DcqlQuery) -> None:
    """Refuse a query naming a format that parses but cannot be verified yet (mso_mdoc, ldp_vc)."""
    for i, credential in enumerate(query.credentials):
        if credential.format not in SUPPORTED_FORMATS:
            raise BadBackendRequest(
                "dcql.unsupported_format",
                f"credentials/{i}/format: {credential.format} is not supported by this verifier yet",
            )


# --- Top level (§6) --- #


def _query(raw: object) -> DcqlQuery:
    root = _object(raw, "")
    if exceeds_depth(root, MAX_QUERY_DEPTH):
        raise _RefusedError("too_large", "", f"the query nests deeper than {MAX_QUERY_DEPTH} levels")
    items = _array(_required(root, "credentials", ""), "credentials", limit=MAX_CREDENTIALS)
    credentials = tuple(_credential(item, f"credentials/{i}") for i, item in enumerate(items))
    _check_unique([item.id for item in credentials], "credentials/{}/id", "duplicate_id")
    sets = None
    if "credential_sets" in root:
        sets = _credential_sets(root["credential_sets"], {item.id for item in credentials})
    return DcqlQuery(credentials=credentials, credential_sets=sets, raw=copy.deepcopy(root))


def _credential_sets(value: object, known: set[str]) -> tuple[CredentialSetQuery, ...]:
    """§6.2: ``options`` lists alternatives, each a list of credential query ids; ``required`` is a bool."""
    sets: list[CredentialSetQuery] = []
    for i, item in enumerate(_array(value, "credential_sets", limit=MAX_LIST)):
        where = f"credential_sets/{i}"
        member = _object(item, where)
        options = _options(
            _required(member, "options", where),
            f"{where}/options",
            known=known,
            unknown="unknown_credential_id",
            noun="credential query",
        )
        sets.append(CredentialSetQuery(options=options, required=_flag(member, "required", where, True)))
    return tuple(sets)


# --- Credential Query (§6.1) --- #


def _credential(value: object, where: str) -> CredentialQuery:
    member = _object(value, where)
    query_id = _identifier(_required(member, "id", where), f"{where}/id")
    fmt = _format(_required(member, "format", where), f"{where}/format")
    claims = _claims(member["claims"], fmt, f"{where}/claims") if "claims" in member else None
    authorities = None
    if "trusted_authorities" in member:
        authorities = _trusted_authorities(member["trusted_authorities"], f"{where}/trusted_authorities")
    return CredentialQuery(
        id=query_id,
        format=fmt,
        meta=_meta(_required(member, "meta", where), fmt, f"{where}/meta"),
        multiple=_flag(member, "multiple", where, False),
        require_cryptographic_holder_binding=_flag(
            member, "require_cryptographic_holder_binding", where, True
        ),
        trusted_authorities=authorities,
        claims=claims,
        claim_sets=_claim_sets(member, claims, where) if "claim_sets" in member else None,
    )


def _format(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _RefusedError("malformed", where, "must be a string")
    canonical = QUERY_FORMATS.get(value)
    if canonical is None:
        known = ", ".join(sorted(set(QUERY_FORMATS.values())))
        raise _RefusedError("unknown_format", where, f"is not a known format ({known})")
    return canonical


def _meta(value: object, fmt: str, where: str) -> CredentialMeta:
    """App. B: the member defined for the format is REQUIRED, so ``{}`` is refused (dcql.md §9.4)."""
    member = _object(value, where)
    if fmt == FORMAT_DC_SD_JWT:
        values = _required(member, "vct_values", where, check="invalid_meta")
        return CredentialMeta(vct_values=_texts(values, f"{where}/vct_values"))
    if fmt == FORMAT_MSO_MDOC:
        doctype = _required(member, "doctype_value", where, check="invalid_meta")
        return CredentialMeta(doctype_value=_text(doctype, f"{where}/doctype_value"))
    alternatives = _array(
        _required(member, "type_values", where, check="invalid_meta"), f"{where}/type_values", limit=MAX_LIST
    )
    return CredentialMeta(
        type_values=tuple(_texts(item, f"{where}/type_values/{i}") for i, item in enumerate(alternatives))
    )


def _trusted_authorities(value: object, where: str) -> tuple[TrustedAuthority, ...]:
    authorities: list[TrustedAuthority] = []
    for i, item in enumerate(_array(value, where, limit=MAX_LIST)):
        at = f"{where}/{i}"
        member = _object(item, at)
        authorities.append(
            TrustedAuthority(
                type=_text(_required(member, "type", at), f"{at}/type"),
                values=_texts(_required(member, "values", at), f"{at}/values"),
            )
        )
    return tuple(authorities)


# --- Claims Query (§6.3) and claim sets --- #


def _claims(value: object, fmt: str, where: str) -> tuple[ClaimsQuery, ...]:
    claims = tuple(
        _claim(item, fmt, f"{where}/{j}") for j, item in enumerate(_array(value, where, limit=MAX_CLAIMS))
    )
    _check_unique([item.id for item in claims], where + "/{}/id", "duplicate_id")
    # §6.1: a query must not point at the same claim twice.
    _check_unique([item.path for item in claims], where + "/{}/path", "duplicate_claim")
    return claims


def _claim(value: object, fmt: str, where: str) -> ClaimsQuery:
    member = _object(value, where)
    retain = None
    if fmt == FORMAT_MSO_MDOC and "intent_to_retain" in member:
        retain = _flag(member, "intent_to_retain", where, False)
    return ClaimsQuery(
        path=_path(_required(member, "path", where), fmt, f"{where}/path"),
        id=_identifier(member["id"], f"{where}/id") if "id" in member else None,
        values=_values(member["values"], f"{where}/values") if "values" in member else None,
        intent_to_retain=retain,
    )


def _path(value: object, fmt: str, where: str) -> ClaimsPath:
    """§7: a non-empty array of strings, nulls and non-negative integers; mdoc: exactly two strings."""
    items = _array(value, where, limit=MAX_PATH_LENGTH, check="invalid_path")
    for k, component in enumerate(items):
        if not is_component(component):
            raise _RefusedError("invalid_path", f"{where}/{k}", "must be a string, null or an integer >= 0")
    if fmt == FORMAT_MSO_MDOC and (len(items) != 2 or not all(isinstance(part, str) for part in items)):
        raise _RefusedError("invalid_path", where, "an mso_mdoc path is [namespace, element identifier]")
    return tuple(items)


def _values(value: object, where: str) -> tuple[ClaimValue, ...]:
    items = _array(value, where, limit=MAX_VALUES)
    for k, item in enumerate(items):
        # §6.3 allows strings, integers and booleans only; a float cannot be compared exactly.
        if not isinstance(item, str | int):
            raise _RefusedError("malformed", f"{where}/{k}", "must be a string, an integer or a boolean")
    return tuple(items)


def _claim_sets(
    member: dict[str, Any], claims: tuple[ClaimsQuery, ...] | None, where: str
) -> tuple[tuple[str, ...], ...]:
    """§6.1: only with ``claims``; every claim then needs an ``id``, and every set names existing ones."""
    if claims is None:
        raise _RefusedError("malformed", f"{where}/claim_sets", "is only allowed together with claims")
    for j, claim in enumerate(claims):
        if claim.id is None:
            raise _RefusedError(
                "malformed", f"{where}/claims/{j}/id", "is required when claim_sets is present"
            )
    known = {claim.id for claim in claims if claim.id is not None}
    return _options(
        member["claim_sets"], f"{where}/claim_sets", known=known, unknown="unknown_claim_id", noun="claim"
    )


def _options(
    value: object, where: str, *, known: set[str], unknown: str, noun: str
) -> tuple[tuple[str, ...], ...]:
    """A non-empty array of non-empty arrays of ids, each naming an existing ``noun``."""
    options: list[tuple[str, ...]] = []
    for i, option in enumerate(_array(value, where, limit=MAX_LIST)):
        ids = _array(option, f"{where}/{i}", limit=MAX_LIST)
        for k, item in enumerate(ids):
            if not isinstance(item, str):
                raise _RefusedError("malformed", f"{where}/{i}/{k}", "must be a string")
            if item not in known:
                raise _RefusedError(unknown, f"{where}/{i}/{k}", f"names no {noun} of this query")
        options.append(tuple(ids))
    return tuple(options)


# --- Helpers --- #


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _RefusedError("malformed", where, "must be a JSON object")
    return value


def _array(value: object, where: str, *, limit: int, check: str = "malformed") -> list[Any]:
    if not isinstance(value, list):
        raise _RefusedError(check, where, "must be a JSON array")
    if not value:
        raise _RefusedError(check, where, "must not be empty")
    if len(value) > limit:
        raise _RefusedError("too_large", where, f"must hold at most {limit} elements")
    return value


def _required(member: dict[str, Any], name: str, where: str, *, check: str = "malformed") -> Any:
    if name not in member:
        raise _RefusedError(check, f"{where}/{name}" if where else name, "is required")
    return member[name]


def _flag(member: dict[str, Any], name: str, where: str, default: bool) -> bool:
    value = member.get(name, default)
    if not isinstance(value, bool):
        raise _RefusedError("malformed", f"{where}/{name}" if where else name, "must be true or false")
    return value


def _identifier(value: object, where: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise _RefusedError("invalid_id", where, "must be a non-empty string of A-Z, a-z, 0-9, '_' and '-'")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _RefusedError("malformed", where, "must be a non-empty string")
    return value


def _texts(value: object, where: str) -> tuple[str, ...]:
    return tuple(_text(item, f"{where}/{i}") for i, item in enumerate(_array(value, where, limit=MAX_LIST)))


def _check_unique(keys: Iterable[Hashable | None], where: str, check: str) -> None:
    """Refuse the first repeated key (None keys are absent ids); ``where`` has a ``{}`` for its index."""
    seen: dict[Hashable, int] = {}
    for index, key in enumerate(keys):
        if key is None:
            continue
        if key in seen:
            raise _RefusedError(check, where.format(index), f"repeats element {seen[key]}")
        seen[key] = index
