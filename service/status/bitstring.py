"""W3C Bitstring Status List v1.0 ("BSL") and the historic StatusList2021, for ``jwt_vc_json`` credentials.

A credential's ``credentialStatus`` entries point at a status list credential by URL and an index; that
credential carries a GZIP-compressed bitstring read from the most significant bit of the first byte
(BSL §3.1, opposite to the IETF Token Status List). Bitstring lists are multibase (``u``) base64url;
StatusList2021 lists are plain base64url. Pure functions: the list arrives fetched, its key resolved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from service.errors import MalformedResponse
from service.id_token import check_time_claims
from service.jose.encoding import b64url_decode
from service.jose.jwk import PublicJwk
from service.jose.jws import Jws, decode_jws, verify_jws
from service.status.token_status_list import MAX_LIST_TOKEN_LENGTH, STATUS, inflate_bounded

__all__ = [
    "BITSTRING_ENTRY",
    "CHECKED_PURPOSES",
    "MIN_LIST_BYTES",
    "STATUS_LIST_2021_ENTRY",
    "BitstringReference",
    "StatusListCredential",
    "bit_at",
    "decode_encoded_list",
    "decode_status_list_credential",
    "parse_credential_status",
    "read_status",
    "verify_status_list_credential",
]

BITSTRING_ENTRY: Final = "BitstringStatusListEntry"
STATUS_LIST_2021_ENTRY: Final = "StatusList2021Entry"
EntryType = Literal["BitstringStatusListEntry", "StatusList2021Entry"]
ListType = Literal["BitstringStatusList", "StatusList2021"]

# Entry type -> (subject type of the list, type of the list credential).
_LIST_TYPES: Final[Mapping[str, tuple[ListType, str]]] = {
    BITSTRING_ENTRY: ("BitstringStatusList", "BitstringStatusListCredential"),
    STATUS_LIST_2021_ENTRY: ("StatusList2021", "StatusList2021Credential"),
}
_ENTRY_BY_LIST: Final[Mapping[str, EntryType]] = {
    "BitstringStatusList": "BitstringStatusListEntry",
    "StatusList2021": "StatusList2021Entry",
}
# Purposes that decide acceptance; `refresh`, `message` and unknown ones are parsed and listed only.
CHECKED_PURPOSES: Final = frozenset({"revocation", "suspension"})
# BSL §3.1/§3.2: at least 131,072 entries (16 KiB of 1-bit entries) so a fetch hides its holder in a crowd.
MIN_LIST_ENTRIES: Final = 131_072
MIN_LIST_BYTES: Final = MIN_LIST_ENTRIES // 8
_DEFAULT_MAX_BYTES: Final = 2**21
# A statusSize of N needs 2^N messages; 8 bits is the most any implementation we know of accepts.
_MAX_STATUS_SIZE: Final = 8
# Each entry costs a fetch; a credential naming more than this is not one we check.
_MAX_ENTRIES: Final = 8
_DECIMAL: Final = re.compile(r"[0-9]{1,18}")
_HEX_STATUS: Final = re.compile(r"0x[0-9a-fA-F]{1,2}")
_ALLOWED_TYP: Final = frozenset({"jwt", "vc+jwt"})


@dataclass(frozen=True, slots=True)
class BitstringReference:
    """One ``credentialStatus`` entry (BSL §2.1 BitstringStatusListEntry, or StatusList2021Entry)."""

    entry_type: EntryType
    purpose: str
    index: int
    list_url: str
    size: int = 1
    messages: tuple[tuple[int, str], ...] = ()
    """``statusMessage`` as (value, message) pairs; present when ``size`` > 1 (BSL §2.1)."""

    @property
    def checked(self) -> bool:
        """True when the purpose decides acceptance (revocation, suspension)."""
        return self.purpose in CHECKED_PURPOSES

    def message_for(self, value: int) -> str | None:
        """The issuer's message for a status value, if it gave one."""
        return dict(self.messages).get(value)


@dataclass(frozen=True, slots=True)
class StatusListCredential:
    """A verified status list credential (BSL §2.2) with its expanded bitstring."""

    list_type: ListType
    purposes: tuple[str, ...]
    bitstring: bytes
    url: str
    issuer: str | None
    ttl_ms: int | None
    """BSL §2.2 ``ttl``: milliseconds the list may be cached."""
    valid_until: float | None

    @property
    def entry_type(self) -> EntryType:
        """The ``credentialStatus`` type that may point at this list."""
        return _ENTRY_BY_LIST[self.list_type]


# --- credentialStatus entries --- #


def parse_credential_status(vc: Mapping[str, Any]) -> list[BitstringReference]:
    """Read every ``credentialStatus`` entry (object or array) of a VC (VCDM 1.1 §4.9, BSL §2.1)."""
    status = vc.get("credentialStatus")
    if status is None:
        return []
    entries = [status] if isinstance(status, Mapping) else status
    if not isinstance(entries, list) or not entries:
        raise STATUS.fail("malformed", "credentialStatus is not an object or a non-empty array")
    if len(entries) > _MAX_ENTRIES:
        raise STATUS.fail("malformed", "credentialStatus has too many entries")
    return [_parse_entry(entry) for entry in entries]


def _parse_entry(entry: object) -> BitstringReference:
    if not isinstance(entry, Mapping):
        raise STATUS.fail("malformed", "A credentialStatus entry is not an object")
    entry_type = entry.get("type")
    if entry_type not in (BITSTRING_ENTRY, STATUS_LIST_2021_ENTRY):
        # An entry we cannot check is a status we cannot know: refuse rather than skip it (fail closed).
        raise STATUS.fail("unsupported_mechanism", "A credentialStatus entry type is not supported")
    purpose, url = entry.get("statusPurpose"), entry.get("statusListCredential")
    if not isinstance(purpose, str) or not purpose:
        raise STATUS.fail("malformed", "statusPurpose is not a string")
    if not isinstance(url, str) or not url:
        raise STATUS.fail("malformed", "statusListCredential is not a URL")
    if entry.get("id") == url:
        raise STATUS.fail("malformed", "A credentialStatus id must not be the status list URL")
    index = _status_index(entry.get("statusListIndex"), lenient=entry_type == STATUS_LIST_2021_ENTRY)
    size, messages = _status_size(entry) if entry_type == BITSTRING_ENTRY else (1, ())
    return BitstringReference(entry_type, purpose, index, url, size, messages)


def _status_index(value: object, *, lenient: bool) -> int:
    # BSL §2.1 says a string of a base-10 integer; early StatusList2021 issuers wrote a JSON number.
    if lenient and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if not isinstance(value, str) or _DECIMAL.fullmatch(value) is None:
        raise STATUS.fail("malformed", "statusListIndex is not a base-10 integer string")
    return int(value)


def _status_size(entry: Mapping[str, Any]) -> tuple[int, tuple[tuple[int, str], ...]]:
    size = entry.get("statusSize", 1)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= _MAX_STATUS_SIZE:
        raise STATUS.fail("malformed", "statusSize is not an integer from 1 to 8")
    if size == 1:
        return 1, ()
    return size, _status_messages(entry.get("statusMessage"), size)


def _status_messages(value: object, size: int) -> tuple[tuple[int, str], ...]:
    # BSL §2.1: statusSize > 1 needs one message per possible value, each {"status": "0x..", "message"}.
    if not isinstance(value, list) or len(value) != 1 << size:
        raise STATUS.fail("malformed", "statusMessage must list one message per status value")
    messages: dict[int, str] = {}
    for item in value:
        status = item.get("status") if isinstance(item, Mapping) else None
        message = item.get("message") if isinstance(item, Mapping) else None
        if (
            not isinstance(status, str)
            or _HEX_STATUS.fullmatch(status) is None
            or not isinstance(message, str)
        ):
            raise STATUS.fail("malformed", "A statusMessage item is not {status: hex, message}")
        messages[int(status, 16)] = message
    if len(messages) != len(value) or max(messages) >= 1 << size:
        raise STATUS.fail("malformed", "statusMessage values do not match statusSize")
    return tuple(sorted(messages.items()))


# --- The bitstring --- #


def decode_encoded_list(
    encoded: str, *, multibase: bool, max_bytes: int = _DEFAULT_MAX_BYTES, min_bytes: int = 0
) -> bytes:
    """Expand ``encodedList``: [multibase ``u``] base64url, then GZIP with the output bounded (BSL §3.4)."""
    if not isinstance(encoded, str):
        raise STATUS.fail("malformed", "encodedList is not a string")
    if multibase:
        if not encoded.startswith("u"):
            raise STATUS.fail("malformed", "encodedList is not multibase base64url (prefix u)")
        text = encoded[1:]
    else:
        # StatusList2021 predates the unpadded rule; some issuers still pad.
        text = encoded.rstrip("=")
    try:
        compressed = b64url_decode(text, reason="status.malformed")
    except MalformedResponse as exc:
        raise STATUS.fail("malformed", "encodedList is not base64url") from exc
    # wbits 16 + 15: a GZIP (RFC 1952) stream and nothing else.
    bitstring = inflate_bounded(compressed, wbits=31, max_length=max_bytes)
    if len(bitstring) < min_bytes:
        raise STATUS.fail("list_too_short", "The status list is shorter than the required minimum")
    return bitstring


def bit_at(bitstring: bytes, index: int, size: int = 1) -> int:
    """The ``size``-bit value of entry ``index``; bit 0 is the left-most bit of byte 0 (BSL §3.1)."""
    start = index * size
    if index < 0 or size < 1 or start + size > len(bitstring) * 8:
        raise STATUS.fail("index_out_of_range", "The status index is outside the status list")
    value = 0
    for position in range(start, start + size):
        value = (value << 1) | ((bitstring[position >> 3] >> (7 - (position & 7))) & 1)
    return value


def read_status(credential: StatusListCredential, reference: BitstringReference) -> int:
    """The status value a verified list holds for an entry (BSL §3.2 validate, steps 7-13)."""
    if reference.entry_type != credential.entry_type:
        raise STATUS.fail("type_mismatch", "The status entry and the status list are of different types")
    if reference.purpose not in credential.purposes:
        raise STATUS.fail("purpose_mismatch", "The status list is not for this status purpose")
    if credential.list_type == "BitstringStatusList" and (
        len(credential.bitstring) * 8 // reference.size < MIN_LIST_ENTRIES
    ):
        raise STATUS.fail("list_too_short", "The status list holds fewer entries than required")
    return bit_at(credential.bitstring, reference.index, reference.size)


# --- The status list credential --- #


def decode_status_list_credential(token: str, *, max_length: int = MAX_LIST_TOKEN_LENGTH) -> Jws:
    """Decode a JWT status list credential and check its ``typ`` (VCDM 1.1 §6.3.1; VC-JOSE-COSE §3.1.1)."""
    jws = decode_jws(token, kind=STATUS, max_length=max_length)
    _check_typ(jws)
    return jws


def _check_typ(jws: Jws) -> None:
    typ = jws.header.get("typ")
    if typ is not None and (
        not isinstance(typ, str) or typ.lower().removeprefix("application/") not in _ALLOWED_TYP
    ):
        raise STATUS.fail("wrong_typ", "The status list credential typ is not JWT or vc+jwt")


def verify_status_list_credential(
    token: str | Jws,
    *,
    key: PublicJwk,
    allowed_algs: frozenset[str],
    expected_url: str,
    purpose: str,
    now: float,
    clock_skew: int,
    max_bytes: int = _DEFAULT_MAX_BYTES,
) -> StatusListCredential:
    """Verify a JWT status list credential: typ, signature, id, validity, purpose (BSL §3.2 steps 1-6)."""
    jws = token if isinstance(token, Jws) else decode_status_list_credential(token)
    _check_typ(jws)
    verify_jws(jws, key, allowed_algs=allowed_algs, kind=STATUS)
    payload = jws.payload
    # VCDM 1.1 wraps the credential in `vc`; VC-JOSE-COSE makes the payload the credential itself.
    credential = payload.get("vc", payload)
    if not isinstance(credential, Mapping):
        raise STATUS.fail("malformed", "The status list credential has no vc object")
    _check_url(payload, credential, expected_url)
    _check_validity(payload, credential, now=now, skew=clock_skew)
    subject = _subject(credential)
    list_type = _list_type(credential, subject)
    purposes = _purposes(subject)
    if purpose not in purposes:
        raise STATUS.fail("purpose_mismatch", "The status list is not for this status purpose")
    bitstring = _bitstring(subject, list_type, max_bytes)
    return StatusListCredential(
        list_type=list_type,
        purposes=purposes,
        bitstring=bitstring,
        url=expected_url,
        issuer=_issuer(payload, credential),
        ttl_ms=_ttl_ms(subject),
        valid_until=_valid_until(payload, credential),
    )


def _subject(credential: Mapping[str, Any]) -> Mapping[str, Any]:
    subject = credential.get("credentialSubject")
    if not isinstance(subject, Mapping):
        raise STATUS.fail("malformed", "The status list credential has no credentialSubject object")
    return subject


def _bitstring(subject: Mapping[str, Any], list_type: ListType, max_bytes: int) -> bytes:
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str):
        raise STATUS.fail("malformed", "credentialSubject.encodedList is not a string")
    bitstring = list_type == "BitstringStatusList"
    return decode_encoded_list(
        encoded,
        multibase=bitstring,
        max_bytes=max_bytes,
        # 16 KiB is the BSL floor for any statusSize; StatusList2021 lists in the wild are sometimes smaller.
        min_bytes=MIN_LIST_BYTES if bitstring else 0,
    )


def _check_url(payload: Mapping[str, Any], credential: Mapping[str, Any], expected_url: str) -> None:
    # The list's own identifiers, where given, must be the URL the entry named: a validly signed list
    # published under another URL must not answer for this one. Neither is required by BSL.
    for value in (credential.get("id"), payload.get("jti")):
        if value is not None and value != expected_url:
            raise STATUS.fail("uri_mismatch", "The status list credential id is not the referenced URL")


def _list_type(credential: Mapping[str, Any], subject: Mapping[str, Any]) -> ListType:
    subject_type = subject.get("type")
    if subject_type not in _ENTRY_BY_LIST:
        raise STATUS.fail("malformed", "credentialSubject.type is not BitstringStatusList or StatusList2021")
    list_type: ListType = "BitstringStatusList" if subject_type == "BitstringStatusList" else "StatusList2021"
    types = credential.get("type")
    types = [types] if isinstance(types, str) else types
    expected_type = _LIST_TYPES[_ENTRY_BY_LIST[list_type]][1]
    if not isinstance(types, list) or expected_type not in types:
        raise STATUS.fail("malformed", f"The status list credential type does not include {expected_type}")
    return list_type


def _purposes(subject: Mapping[str, Any]) -> tuple[str, ...]:
    # BSL §2.2 lets one list serve several purposes, as an array.
    value = subject.get("statusPurpose")
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise STATUS.fail("malformed", "credentialSubject.statusPurpose is not a string or strings")
    return tuple(values)


def _issuer(payload: Mapping[str, Any], credential: Mapping[str, Any]) -> str | None:
    issuer = payload.get("iss", credential.get("issuer"))
    if isinstance(issuer, Mapping):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _ttl_ms(subject: Mapping[str, Any]) -> int | None:
    ttl = subject.get("ttl")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise STATUS.fail("malformed", "credentialSubject.ttl is not a positive integer")
    return ttl


# --- Validity window --- #


def _check_validity(
    payload: Mapping[str, Any], credential: Mapping[str, Any], *, now: float, skew: int
) -> None:
    """JWT ``nbf``/``exp`` and the VCDM 1.1 / 2.0 date members all bound the list (VCDM 1.1 §4.7-4.8)."""
    check_time_claims(
        payload, now=now, skew=skew, max_age=None, kind=STATUS, require_exp=False, require_iat=False
    )
    for member in ("expirationDate", "validUntil"):
        until = _vc_date(credential, member)
        if until is not None and now >= until + skew:
            raise STATUS.fail("expired", "The status list credential has expired")
    for member in ("issuanceDate", "validFrom"):
        since = _vc_date(credential, member)
        if since is not None and now + skew < since:
            raise STATUS.fail("not_yet_valid", "The status list credential is not valid yet")


def _valid_until(payload: Mapping[str, Any], credential: Mapping[str, Any]) -> float | None:
    candidates = [_vc_date(credential, "expirationDate"), _vc_date(credential, "validUntil")]
    exp = payload.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        candidates.append(float(exp))
    present = [value for value in candidates if value is not None]
    return min(present) if present else None


def _vc_date(credential: Mapping[str, Any], member: str) -> float | None:
    value = credential.get(member)
    if value is None:
        return None
    if not isinstance(value, str):
        raise STATUS.fail("malformed", f"The status list credential {member} is not a date-time string")
    try:
        parsed = datetime.fromisoformat(value)  # Python 3.11+ reads the "Z" suffix too
    except ValueError as exc:
        raise STATUS.fail("malformed", f"The status list credential {member} is not a date-time") from exc
    # xsd:dateTime without an offset: read as UTC.
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
