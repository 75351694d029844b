"""IETF Token Status List (draft-ietf-oauth-status-list-20, "TSL"): references, lists and list tokens.

A Referenced Token (an SD-JWT VC) names a Status List Token by ``uri`` and an index ``idx`` (TSL §6.2).
The list token is a signed JWT whose ``status_list`` holds ``bits`` per entry, ZLIB-compressed and packed
from the least significant bit of each byte (TSL §4.1). Pure functions: the token arrives fetched and
its key arrives resolved. The bounded inflater and the ``status.*`` token kind are shared with
:mod:`service.status.bitstring`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlsplit

from service.errors import CredentialInvalid, MalformedResponse
from service.id_token import check_time_claims
from service.jose.encoding import b64url_decode
from service.jose.jwk import PublicJwk
from service.jose.jws import Jws, TokenKind, decode_jws, verify_jws

__all__ = [
    "MAX_LIST_TOKEN_LENGTH",
    "STATUS",
    "STATUS_INVALID",
    "STATUS_LIST_MEDIA_TYPE",
    "STATUS_LIST_TYP",
    "STATUS_SUSPENDED",
    "STATUS_VALID",
    "StatusList",
    "StatusReference",
    "decode_status_list",
    "decode_status_list_token",
    "inflate_bounded",
    "is_application_specific",
    "parse_status_reference",
    "status_at",
    "verify_status_list_token",
]

STATUS = TokenKind("status", CredentialInvalid)

STATUS_LIST_TYP: Final = "statuslist+jwt"
STATUS_LIST_MEDIA_TYPE: Final = "application/statuslist+jwt"
# TSL §7.1 status types.
STATUS_VALID: Final = 0x00
STATUS_INVALID: Final = 0x01
STATUS_SUSPENDED: Final = 0x02
_APPLICATION_SPECIFIC: Final = frozenset({0x03, 0x0C, 0x0D, 0x0E, 0x0F})
_ALLOWED_BITS: Final = frozenset({1, 2, 4, 8})
# A 2^24-entry list of 1-bit statuses is 2 MiB raw; base64url and incompressible content stay below this.
MAX_LIST_TOKEN_LENGTH: Final = 4 * 1024 * 1024
_DEFAULT_MAX_ENTRIES: Final = 2**24


@dataclass(frozen=True, slots=True)
class StatusReference:
    """The ``status.status_list`` member of a Referenced Token (TSL §6.1)."""

    idx: int
    uri: str


@dataclass(frozen=True, slots=True)
class StatusList:
    """An inflated Status List (TSL §4.1) and, once taken from a verified token, its caching hints."""

    bits: int
    raw: bytes
    aggregation_uri: str | None = None
    ttl: int | None = None
    """Seconds the list may be cached (TSL §5.1 ``ttl``), from the token."""
    expires_at: float | None = None
    """The token's ``exp``, if it has one."""

    def __len__(self) -> int:
        return len(self.raw) * 8 // self.bits


# --- Referenced Token --- #


def parse_status_reference(claims: Mapping[str, Any]) -> StatusReference | None:
    """Read ``status.status_list`` {idx, uri} from a Referenced Token's claims (TSL §6.1-6.2)."""
    if "status" not in claims:
        return None
    status = claims["status"]
    if not isinstance(status, Mapping):
        raise STATUS.fail("malformed", "The status claim is not an object")
    if "status_list" not in status:
        # Another status mechanism we do not implement: checking nothing would fail open.
        raise STATUS.fail("unsupported_mechanism", "The status claim names no supported mechanism")
    reference = status["status_list"]
    if not isinstance(reference, Mapping):
        raise STATUS.fail("malformed", "status.status_list is not an object")
    idx, uri = reference.get("idx"), reference.get("uri")
    # bool is an int subclass; `true` is not an index.
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise STATUS.fail("malformed", "status.status_list.idx is not a non-negative integer")
    if not isinstance(uri, str) or not _is_absolute_uri(uri):
        raise STATUS.fail("malformed", "status.status_list.uri is not an absolute URI")
    return StatusReference(idx=idx, uri=uri)


def _is_absolute_uri(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc) and value.isprintable() and " " not in value


# --- Status List --- #


def inflate_bounded(data: bytes, *, wbits: int, max_length: int, kind: TokenKind = STATUS) -> bytes:
    """Inflate one complete ZLIB/GZIP stream, refusing output beyond ``max_length`` (TSL §11.1)."""
    inflater = zlib.decompressobj(wbits)
    try:
        # One byte over the cap is enough to know it is over: a bomb stops costing us right there.
        output = inflater.decompress(data, max_length + 1)
    except zlib.error as exc:
        raise kind.fail("malformed", "The status list is not valid compressed data") from exc
    if len(output) > max_length:
        raise kind.fail("too_large", "The status list inflates beyond the size limit")
    if not inflater.eof or inflater.unused_data:
        # Truncated streams and trailing bytes are not the list the issuer signed; refuse both.
        raise kind.fail("malformed", "The status list is not exactly one compressed stream")
    return output


def decode_status_list(
    status_list: Mapping[str, Any], *, max_entries: int = _DEFAULT_MAX_ENTRIES
) -> StatusList:
    """Decode ``{"bits", "lst"}``: base64url, then ZLIB with the output bounded (TSL §4.1-4.2)."""
    if not isinstance(status_list, Mapping):
        raise STATUS.fail("malformed", "status_list is not an object")
    bits, lst = status_list.get("bits"), status_list.get("lst")
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in _ALLOWED_BITS:
        raise STATUS.fail("malformed", "status_list.bits is not 1, 2, 4 or 8")
    if not isinstance(lst, str):
        raise STATUS.fail("malformed", "status_list.lst is not a string")
    aggregation_uri = status_list.get("aggregation_uri")
    if aggregation_uri is not None and not isinstance(aggregation_uri, str):
        raise STATUS.fail("malformed", "status_list.aggregation_uri is not a string")
    try:
        compressed = b64url_decode(lst, reason="status.malformed")
    except MalformedResponse as exc:
        raise STATUS.fail("malformed", "status_list.lst is not base64url") from exc
    max_bytes = -(-max_entries * bits // 8)
    raw = inflate_bounded(compressed, wbits=zlib.MAX_WBITS, max_length=max_bytes)
    return StatusList(bits=bits, raw=raw, aggregation_uri=aggregation_uri)


def status_at(status_list: StatusList, idx: int) -> int:
    """The status of entry ``idx``, packed from the least significant bit of each byte (TSL §4.1)."""
    if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < len(status_list):
        # TSL §8.3 step 5: no statement is possible about an index the list does not hold.
        raise STATUS.fail("index_out_of_range", "The status index is outside the status list")
    position = idx * status_list.bits
    byte = status_list.raw[position // 8]
    return (byte >> (position % 8)) & ((1 << status_list.bits) - 1)


def is_application_specific(value: int) -> bool:
    """True for the status types TSL §7.1 leaves to applications (0x03, 0x0C-0x0F)."""
    return value in _APPLICATION_SPECIFIC


# --- Status List Token --- #


def decode_status_list_token(token: str, *, max_length: int = MAX_LIST_TOKEN_LENGTH) -> Jws:
    """Decode a Status List Token and check its ``typ`` before any key is looked up (TSL §5.1)."""
    jws = decode_jws(token, kind=STATUS, max_length=max_length)
    _check_typ(jws)
    return jws


def _check_typ(jws: Jws) -> None:
    typ = jws.header.get("typ")
    # RFC 7515 §4.1.9: the "application/" prefix may be omitted, and media types compare case-insensitively.
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != STATUS_LIST_TYP:
        raise STATUS.fail("wrong_typ", "The status list token typ is not statuslist+jwt")


def verify_status_list_token(
    token: str | Jws,
    *,
    key: PublicJwk,
    allowed_algs: frozenset[str],
    expected_uri: str,
    now: float,
    clock_skew: int,
    max_entries: int = _DEFAULT_MAX_ENTRIES,
) -> StatusList:
    """Validate a Status List Token: typ, signature, sub, iat/exp, ttl, status_list (TSL §8.3 step 4-5)."""
    jws = token if isinstance(token, Jws) else decode_status_list_token(token)
    # A Jws handed in may have been decoded by someone else; the typ rule must hold either way.
    _check_typ(jws)
    verify_jws(jws, key, allowed_algs=allowed_algs, kind=STATUS)
    payload = jws.payload
    if payload.get("sub") != expected_uri:
        # TSL §8.3: a validly signed list for another URI must not answer for this one.
        raise STATUS.fail("uri_mismatch", "The status list token sub is not the referenced uri")
    check_time_claims(
        payload, now=now, skew=clock_skew, max_age=None, kind=STATUS, require_exp=False, require_iat=True
    )
    ttl = _ttl(payload)
    if "status_list" not in payload:
        raise STATUS.fail("malformed", "The status list token has no status_list")
    status_list = decode_status_list(payload["status_list"], max_entries=max_entries)
    exp = payload.get("exp")
    return replace(status_list, ttl=ttl, expires_at=float(exp) if exp is not None else None)


def _ttl(payload: Mapping[str, Any]) -> int | None:
    ttl = payload.get("ttl")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise STATUS.fail("malformed", "The status list token ttl is not a positive integer")
    return ttl
