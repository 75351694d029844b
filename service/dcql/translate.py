"""Translate a Presentation Exchange v2 definition into the equivalent DCQL query (OpenID4VP 1.0 §6).

So a 1.0 wallet can answer a backend that sent a presentation definition. Only what DCQL says exactly is
translated; anything else raises :class:`BadBackendRequest` with reason ``dcql.untranslatable`` and a
description that starts with the JSON pointer of the construct in the definition, e.g.
``input_descriptors/0/constraints/fields/1/filter: anyOf cannot be expressed in DCQL``. The query is built as
JSON and validated by :func:`parse_dcql_query`, so ``DcqlQuery.raw`` is what the wallet receives.

=============================================  ==========================================================
Presentation Exchange                          DCQL
=============================================  ==========================================================
input descriptor                               Credential Query with the same ``id`` (never renamed)
``format`` (descriptor, else definition)       one ``format``: ``jwt_vc_json`` for jwt_vc_json, jwt_vp_json,
                                               jwt_vc, jwt_vp; ``dc+sd-jwt`` for dc+sd-jwt, vc+sd-jwt
path ``$.a.b``, ``$['a']``, ``$.a[0]``         claims path ``["a", "b"]``, ``["a"]``, ``["a", 0]``
path ``$.a[*]``                                claims path ``["a", null]`` (no filter allowed then)
field with several paths                       a claim per path and ``claim_sets`` (at most 16 in all)
filter ``const`` / ``enum`` (+ ``type``)       ``values`` (strings, integers, booleans)
filter ``{"type": "string"}``                  a claim without ``values``
``$.vct`` const / enum (dc+sd-jwt)             ``meta.vct_values``; without one the definition is refused
``$.vc.type`` ``contains: {const: T}``         ``meta.type_values`` ``[[T, ...]]``; none: the VC base type
field ``id``                                   claim ``id``; a field's further paths get ``<id>_alt<k>``
``limit_disclosure``                           nothing: DCQL evaluation always refuses extra disclosures
``all`` / ``pick`` count 1 from a group        required queries / a ``credential_sets`` entry
=============================================  ==========================================================

Rooting: SD-JWT VC pointers run on the processed payload, like PE paths. ``jwt_vc_json`` pointers start at
the credential (App. B.1.2): ``$.vc.credentialSubject.x`` becomes ``["credentialSubject", "x"]``. JWT claims
(``$.iss`` …) lie outside the credential, and the ``$.vc`` members VCDM 1.1 §6.3.1 also decodes from a JWT
claim (``$.vc.issuer`` …) would be found by DCQL where PE finds nothing: both are refused.

What still differs. DCQL is stricter: ``[*]`` on an object selects nothing (PE: its members), and
over-disclosure is always refused. DCQL is looser, deliberately: ``{"type": "string"}`` alone is not checked;
``pick`` count 1 accepts a wallet that answers two options; and ``alg`` lists are not per query in 1.0
(``vp_formats_supported`` names the verifier's algorithms), so a definition narrower than the service's
algorithms must be enforced by the caller.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from service.dcql.claims import same_value
from service.dcql.model import ClaimValue, DcqlQuery
from service.dcql.pointer import ClaimsPath
from service.dcql.query import MAX_CLAIMS, MAX_LIST, MAX_PATH_LENGTH, MAX_VALUES, parse_dcql_query
from service.errors import BadBackendRequest
from service.presentation_exchange.formats import AllowedFormats

# The compiled step types are private to jsonpath.py; reading them translates exactly what PE evaluates.
from service.presentation_exchange.jsonpath import (
    JsonPath,
    _Descend,
    _Filter,
    _Indices,
    _Names,
    _Slice,
    _Wildcard,
)
from service.presentation_exchange.model import Field, InputDescriptor, PresentationDefinition
from service.vocabulary import FORMAT_DC_SD_JWT, FORMAT_JWT_VC_JSON, FORMAT_JWT_VP_JSON

__all__ = ["MAX_CLAIM_SETS", "definition_to_dcql"]

MAX_CLAIM_SETS: Final = 16  # alternatives of all fields combined, per credential query

_IDENTIFIER: Final = re.compile(r"[A-Za-z0-9_-]+")  # §6.1 / §6.3 ids
_CREDENTIAL_FORMATS: Final = {
    FORMAT_JWT_VC_JSON: FORMAT_JWT_VC_JSON,
    FORMAT_JWT_VP_JSON: FORMAT_JWT_VC_JSON,  # a VC in a VP: the credential is what DCQL asks for
    FORMAT_DC_SD_JWT: FORMAT_DC_SD_JWT,
}
# App. B.1.1: type_values are expanded IRIs; the VCDM contexts expand the base type into this vocabulary.
_VC_TYPE_IRI: Final = "https://www.w3.org/2018/credentials#VerifiableCredential"
# JWT claims of a VC JWT, outside the credential where jwt_vc_json pointers start (App. B.1.2).
_JWT_CLAIMS: Final = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "nonce", "cnf", "vp"})
# `vc` members the VCDM view also fills from a JWT claim (VCDM 1.1 §6.3.1.3), and the spelling to use instead.
_DECODED_MEMBERS: Final[Mapping[ClaimsPath, str]] = {
    ("id",): "$.id",
    ("issuer",): "$.issuer",
    ("issuanceDate",): "$.issuanceDate",
    ("expirationDate",): "$.expirationDate",
    ("credentialSubject", "id"): "$.credentialSubject.id",
}
_ANNOTATIONS: Final = frozenset({"title", "description", "$comment", "$schema", "default", "examples"})
_VALUE_KEYWORDS: Final = frozenset({"type", "const", "enum"})


class _RefusedError(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


class _Form(msgspec.Struct, frozen=True, kw_only=True):
    """One field in DCQL terms: claim alternatives (none for a pure meta constraint) and meta it adds."""

    where: str
    index: int  # of the field in its descriptor, naming generated claim ids
    field_id: str | None
    paths: tuple[ClaimsPath, ...] = ()
    values: tuple[ClaimValue, ...] | None = None
    vct_values: tuple[str, ...] | None = None
    type_value: str | None = None


def definition_to_dcql(definition: PresentationDefinition) -> DcqlQuery:
    """The DCQL query asking what ``definition`` asks; BadBackendRequest ``dcql.untranslatable`` otherwise."""
    try:
        raw = _query(definition)
    except _RefusedError as refused:
        raise BadBackendRequest("dcql.untranslatable", f"{refused.where}: {refused.message}") from None
    try:
        return parse_dcql_query(raw)
    except BadBackendRequest as exc:  # a limit of the DCQL parser not checked above
        raise BadBackendRequest("dcql.untranslatable", f"translated query: {exc.description}") from exc


def _query(definition: PresentationDefinition) -> dict[str, Any]:
    credentials = [
        _credential(item, definition, f"input_descriptors/{i}")
        for i, item in enumerate(definition.input_descriptors)
    ]
    query: dict[str, Any] = {"credentials": credentials}
    sets = _credential_sets(definition)
    if sets:
        query["credential_sets"] = sets
    return query


# --- Credential Query --- #


def _credential(
    descriptor: InputDescriptor, definition: PresentationDefinition, where: str
) -> dict[str, Any]:
    _check_identifier(descriptor.id, f"{where}/id")
    fmt = _format(descriptor, definition, where)
    forms = [
        _field(item, j, fmt, f"{where}/constraints/fields/{j}")
        for j, item in enumerate(descriptor.constraints.fields)
    ]
    query: dict[str, Any] = {"id": descriptor.id, "format": fmt, "meta": _meta(forms, fmt, where)}
    claims, claim_sets = _claims([form for form in forms if form.paths], where)
    if claims:
        query["claims"] = claims
    if claim_sets is not None:
        query["claim_sets"] = claim_sets
    return query


def _format(descriptor: InputDescriptor, definition: PresentationDefinition, where: str) -> str:
    allowed: AllowedFormats | None = descriptor.format
    at = f"{where}/format"
    if allowed is None:
        allowed, at = definition.format, "format"
    if allowed is None:
        raise _RefusedError(where, "names no format, and a DCQL credential query needs exactly one")
    formats = {_CREDENTIAL_FORMATS[fmt] for fmt in allowed.algs if fmt in _CREDENTIAL_FORMATS}
    if not formats:
        raise _RefusedError(at, "lists no format this verifier can verify (jwt_vc_json, dc+sd-jwt)")
    if len(formats) > 1:
        raise _RefusedError(at, "lists jwt_vc_json and dc+sd-jwt, but a DCQL credential query has one format")
    return formats.pop()


def _meta(forms: list[_Form], fmt: str, where: str) -> dict[str, Any]:
    if fmt == FORMAT_DC_SD_JWT:
        vct = [form for form in forms if form.vct_values is not None]
        if not vct:
            raise _RefusedError(where, "has no $.vct const or enum, and DCQL requires vct_values")
        if len(vct) > 1:
            raise _RefusedError(vct[1].where, "a second vct constraint cannot be expressed in DCQL")
        return {"vct_values": list(vct[0].vct_values or ())}
    types = [form.type_value for form in forms if form.type_value is not None]
    return {"type_values": [list(dict.fromkeys(types)) or [_VC_TYPE_IRI]]}


def _claims(forms: list[_Form], where: str) -> tuple[list[dict[str, Any]], list[list[str]] | None]:
    """One claim per path; with alternatives, ids for all and ``claim_sets`` over their product."""
    if sum(len(form.paths) for form in forms) > MAX_CLAIMS:
        raise _RefusedError(f"{where}/constraints/fields", f"asks for more than {MAX_CLAIMS} claims")
    sets_needed = any(len(form.paths) > 1 for form in forms)
    claims: list[dict[str, Any]] = []
    alternatives: list[list[str]] = []
    seen: dict[ClaimsPath, str] = {}
    for form in forms:
        ids = _claim_ids(form, sets_needed, taken={claim["id"] for claim in claims if "id" in claim})
        for k, path in enumerate(form.paths):
            if path in seen:
                raise _RefusedError(form.where, f"asks for the same claim as {seen[path]}")
            seen[path] = form.where
            claim: dict[str, Any] = {"id": ids[k]} if ids else {}
            claim["path"] = list(path)
            if form.values is not None:
                claim["values"] = list(form.values)
            claims.append(claim)
        alternatives.append(ids)
    if not sets_needed:
        return claims, None
    count = math.prod(len(ids) for ids in alternatives)
    if count > MAX_CLAIM_SETS:
        raise _RefusedError(
            f"{where}/constraints/fields",
            f"the alternative paths combine into {count} claim sets, more than {MAX_CLAIM_SETS}",
        )
    return claims, [list(option) for option in itertools.product(*alternatives)]


def _claim_ids(form: _Form, sets_needed: bool, *, taken: set[str]) -> list[str]:
    """The field ``id`` for its first path, ``<id>_alt<k>`` for the others; ``field<j>`` without an id."""
    base = form.field_id
    if base is None:
        if not sets_needed:
            return []
        base = f"field{form.index}"  # claim_sets need an id on every claim (§6.3)
    ids = [base if k == 0 else f"{base}_alt{k}" for k in range(len(form.paths))]
    for claim_id in ids:
        if claim_id in taken:
            raise _RefusedError(form.where, f"the claim id {claim_id} is already used by another field")
    return ids


# --- Fields --- #


def _field(item: Field, index: int, fmt: str, where: str) -> _Form:
    if item.optional:
        raise _RefusedError(f"{where}/optional", "an optional field cannot be expressed in DCQL")
    if item.intent_to_retain:
        raise _RefusedError(
            f"{where}/intent_to_retain", f"DCQL has intent_to_retain for mso_mdoc only, not for {fmt}"
        )
    if item.id is not None:
        _check_identifier(item.id, f"{where}/id")
    # Two spellings of one path ($.vc.type and $.type) are one claim.
    paths = tuple(dict.fromkeys(_pointer(path, fmt, f"{where}/path/{k}") for k, path in enumerate(item.path)))
    form = _Form(where=where, index=index, field_id=item.id, paths=paths)
    schema = item.filter.schema if item.filter is not None else {}
    if fmt == FORMAT_JWT_VC_JSON and ("type",) in paths and "contains" in schema:
        return _type_form(form, schema)
    values = _values(schema, f"{where}/filter")
    if values is None:
        return form
    if fmt == FORMAT_DC_SD_JWT and ("vct",) in paths:
        return _vct_form(form, values)
    if any(None in path for path in paths):
        # PE tests the first value a path selects, DCQL any of them.
        raise _RefusedError(f"{where}/filter", "a filter on a [*] path cannot be expressed in DCQL")
    return msgspec.structs.replace(form, values=values)


def _vct_form(form: _Form, values: tuple[ClaimValue, ...]) -> _Form:
    """``$.vct`` with const or enum is ``meta.vct_values``; with an ``id`` also a claim, for the verdict."""
    if len(form.paths) > 1:
        raise _RefusedError(
            f"{form.where}/path", "a vct constraint with alternative paths cannot be expressed"
        )
    if not all(isinstance(value, str) for value in values):
        raise _RefusedError(f"{form.where}/filter", "a vct is a string, so other values cannot be expressed")
    if len(values) > MAX_LIST:
        raise _RefusedError(f"{form.where}/filter", f"DCQL takes at most {MAX_LIST} vct_values")
    return msgspec.structs.replace(
        form,
        paths=form.paths if form.field_id is not None else (),
        values=values,
        vct_values=tuple(str(value) for value in values),
    )


def _type_form(form: _Form, schema: Mapping[str, Any]) -> _Form:
    """``contains: {const: T}`` on the VC type is ``meta.type_values``; with an ``id`` also a claim."""
    at = f"{form.where}/filter"
    if len(form.paths) > 1:
        raise _RefusedError(
            f"{form.where}/path", "a type constraint with alternative paths cannot be expressed"
        )
    _check_keywords(schema, frozenset({"type", "contains"}), at)
    contains = schema["contains"]
    if schema.get("type", "array") != "array" or not isinstance(contains, dict):
        raise _RefusedError(at, "only an array of types containing a const can be expressed in DCQL")
    _check_keywords(contains, frozenset({"type", "const"}), f"{at}/contains")
    wanted = contains.get("const")
    if not isinstance(wanted, str) or contains.get("type", "string") != "string":
        raise _RefusedError(f"{at}/contains", "only a const string can be expressed in DCQL")
    return msgspec.structs.replace(
        form,
        paths=(("type", None),) if form.field_id is not None else (),
        values=(wanted,),
        type_value=_VC_TYPE_IRI if wanted == "VerifiableCredential" else wanted,
    )


def _values(schema: Mapping[str, Any], where: str) -> tuple[ClaimValue, ...] | None:
    """``const`` / ``enum`` (narrowed by ``type``) as DCQL ``values``; None when the filter asks no value."""
    _check_keywords(schema, _VALUE_KEYWORDS, where)
    types = schema.get("type")
    if "const" not in schema and "enum" not in schema:
        if types is None or types == "string":
            return None
        raise _RefusedError(where, "type without const or enum cannot be expressed in DCQL (except string)")
    enum = schema.get("enum")
    for value in ([schema["const"]] if "const" in schema else []) + (enum or []):
        if not isinstance(value, str | int):  # bool is an int; floats, null and containers are out
            raise _RefusedError(where, "DCQL values are strings, integers or booleans only")
    candidates = [schema["const"]] if "const" in schema else list(enum or [])
    if "const" in schema and enum is not None:
        candidates = [value for value in candidates if any(same_value(value, item) for item in enum)]
    if types is not None:
        candidates = [value for value in candidates if _has_type(value, types)]
    values: list[ClaimValue] = []
    for value in candidates:
        if not any(same_value(value, kept) for kept in values):
            values.append(value)
    if not values:
        raise _RefusedError(where, "no value satisfies the filter")
    if len(values) > MAX_VALUES:
        raise _RefusedError(where, f"DCQL takes at most {MAX_VALUES} values")
    return tuple(values)


def _check_keywords(schema: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = [keyword for keyword in schema if keyword not in allowed and keyword not in _ANNOTATIONS]
    if unknown:
        raise _RefusedError(where, f"{', '.join(unknown)} cannot be expressed in DCQL")


def _has_type(value: ClaimValue, types: str | list[str]) -> bool:
    """JSON Schema ``type`` for the scalars DCQL compares (a bool is neither integer nor number)."""
    names = {types} if isinstance(types, str) else set(types)
    if isinstance(value, bool):
        return "boolean" in names
    if isinstance(value, int):
        return bool(names & {"integer", "number"})
    return "string" in names


# --- Paths --- #


def _pointer(path: JsonPath, fmt: str, where: str) -> ClaimsPath:
    """A claims path pointer selecting what ``path`` selects in the same credential (§7)."""
    components: list[str | int | None] = []
    for step in path.steps:
        if isinstance(step, _Names) and len(step.names) == 1:
            components.append(step.names[0])
        elif isinstance(step, _Indices) and len(step.indices) == 1 and step.indices[0] >= 0:
            components.append(step.indices[0])
        elif isinstance(step, _Wildcard):
            components.append(None)
        else:
            raise _RefusedError(where, f"{_construct(step)} cannot be expressed in DCQL")
    if fmt == FORMAT_JWT_VC_JSON:
        components = _credential_rooted(components, where)
    if not components or not isinstance(components[0], str):
        raise _RefusedError(where, "a DCQL claims path starts with a member name")
    if len(components) > MAX_PATH_LENGTH:
        raise _RefusedError(where, f"a DCQL claims path has at most {MAX_PATH_LENGTH} components")
    return tuple(components)


def _credential_rooted(components: list[str | int | None], where: str) -> list[str | int | None]:
    """``jwt_vc_json`` pointers start at the credential (App. B.1.2), i.e. inside the JWT's ``vc``."""
    head = components[0] if components else None
    if head == "vc":
        rest = components[1:]
        replacement = _DECODED_MEMBERS.get(tuple(rest))
        if replacement is not None:
            raise _RefusedError(where, f"DCQL also finds this member in a JWT claim; write {replacement}")
        return rest
    if isinstance(head, str) and head in _JWT_CLAIMS:
        raise _RefusedError(where, f"the JWT claim {head} is outside the credential, where DCQL paths start")
    return components


def _construct(step: object) -> str:
    if isinstance(step, _Names):
        return "a union of member names"
    if isinstance(step, _Indices):
        return "a negative index" if len(step.indices) == 1 else "a union of indices"
    if isinstance(step, _Slice):
        return "an array slice"
    if isinstance(step, _Descend):
        return "recursive descent (..)"
    if isinstance(step, _Filter):
        return "a filter expression"
    return "this JSONPath step"


# --- Submission requirements --- #


def _credential_sets(definition: PresentationDefinition) -> list[dict[str, Any]]:
    """``all`` and ``pick`` count 1 over disjoint groups; every descriptor in exactly one of them (§6.2)."""
    requirements = definition.submission_requirements
    if requirements is None:
        return []
    index = {item.id: i for i, item in enumerate(definition.input_descriptors)}
    owner: dict[str, int] = {}
    sets: list[dict[str, Any]] = []
    for i, requirement in enumerate(requirements):
        where = f"submission_requirements/{i}"
        if requirement.from_nested is not None:
            raise _RefusedError(f"{where}/from_nested", "nested requirements cannot be expressed in DCQL")
        if requirement.rule == "pick" and (requirement.count, requirement.min, requirement.max) != (
            1,
            None,
            None,
        ):
            raise _RefusedError(where, "only pick with count 1 (and no min or max) can be expressed in DCQL")
        members = definition.groups[requirement.from_group or ""]
        for member in members:
            if member in owner:
                earlier = f"submission_requirements/{owner[member]}"
                raise _RefusedError(where, f"input_descriptors/{index[member]} is already in {earlier}")
            owner[member] = i
        options = [list(members)] if requirement.rule == "all" else [[member] for member in members]
        sets.append({"options": options})
    for item in definition.input_descriptors:
        if item.id not in owner:
            raise _RefusedError(
                f"input_descriptors/{index[item.id]}/group", "no submission requirement uses it"
            )
    # Without a pick every query is required, which needs no credential_sets at all (§6.4.2).
    has_pick = any(requirement.rule == "pick" for requirement in requirements)
    return sets if has_pick else []


def _check_identifier(value: str, where: str) -> None:
    if not _IDENTIFIER.fullmatch(value):
        raise _RefusedError(where, "a DCQL id uses only A-Z, a-z, 0-9, _ and - (and is never renamed)")
