"""Step 3e: is a verified credential still valid? The glue between the status codecs and a fetcher.

The verification pipeline calls :func:`check_token_status` for an SD-JWT VC's ``status`` claim (TSL §8.3)
and :func:`check_bitstring_status` for a ``jwt_vc_json`` credential's ``credentialStatus`` (BSL §3.2).
Fetching is a port (:class:`StatusListSource`); trusting the list's signer is a callback
(``key_for_list``) that applies the same issuer trust as the referenced credential (TSL §11.3).

Outcomes: valid returns; revoked, suspended, a forged, expired or mismatched list, and an index the list
does not hold all raise ``CredentialInvalid("status.<check>")``. Only "we could not find out" (the list
is unreachable, or holds a value we cannot interpret) may become ``unknown``, and only when the policy
says so; otherwise it is rejected with its own reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from service.errors import DependencyUnavailable, Forbidden
from service.jose.jwk import PublicJwk
from service.jose.jws import Jws
from service.status.bitstring import (
    BitstringReference,
    decode_status_list_credential,
    read_status,
    verify_status_list_credential,
)
from service.status.token_status_list import (
    STATUS,
    STATUS_INVALID,
    STATUS_LIST_MEDIA_TYPE,
    STATUS_SUSPENDED,
    STATUS_VALID,
    StatusReference,
    decode_status_list_token,
    is_application_specific,
    status_at,
    verify_status_list_token,
)

__all__ = [
    "BITSTRING_ACCEPT",
    "TOKEN_STATUS_LIST_ACCEPT",
    "KeyForList",
    "StatusListSource",
    "StatusOutcome",
    "StatusPolicy",
    "check_bitstring_status",
    "check_token_status",
]

TOKEN_STATUS_LIST_ACCEPT: Final = (STATUS_LIST_MEDIA_TYPE,)
# VC-JOSE-COSE §6.1 media type first; plain JWT for VCDM 1.1 lists served as such.
BITSTRING_ACCEPT: Final = ("application/vc+jwt", "application/jwt")
# Revocation first: when one list says "revoked" and another is unreachable, the verdict says revoked.
_PURPOSE_ORDER: Final = {"revocation": 0, "suspension": 1}

KeyForList = Callable[[Jws], PublicJwk | Awaitable[PublicJwk]]
"""Returns the trusted key for a decoded list's signature, or raises (e.g. an untrusted ``iss``)."""


class StatusListSource(Protocol):
    """Fetches a status list; raises DependencyUnavailable on outages, Forbidden for refused URLs."""

    async def fetch(self, uri: str, *, accept: Sequence[str]) -> bytes:
        """The body at ``uri`` (TSL §8.1; BSL §3.2 step 2)."""
        ...


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    """What the status check found; ``reason`` says why when the state is unknown."""

    state: Literal["valid", "revoked", "suspended", "unknown"]
    code: int | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class StatusPolicy:
    """How to answer when the status cannot be established."""

    allow_unknown: bool = False
    """Accept with an "unknown" status instead of rejecting when the list is unreachable or its value
    is application specific. A forged or expired list is never "unknown"."""


_VALID: Final = StatusOutcome("valid", STATUS_VALID, None)


# --- IETF Token Status List --- #


async def check_token_status(
    reference: StatusReference,
    *,
    source: StatusListSource,
    key_for_list: KeyForList,
    allowed_algs: frozenset[str],
    now: float,
    clock_skew: int,
    policy: StatusPolicy,
) -> StatusOutcome:
    """Fetch, verify and read the Status List Token a Referenced Token names (TSL §8.3 steps 3-6)."""
    body = await _fetch_or_reason(source, reference.uri, TOKEN_STATUS_LIST_ACCEPT)
    if isinstance(body, str):
        return _unknown(body, None, policy)
    jws = decode_status_list_token(_token_text(body))
    status_list = verify_status_list_token(
        jws,
        key=await _key(key_for_list, jws),
        allowed_algs=allowed_algs,
        expected_uri=reference.uri,
        now=now,
        clock_skew=clock_skew,
    )
    return _token_outcome(status_at(status_list, reference.idx), policy)


def _token_outcome(value: int, policy: StatusPolicy) -> StatusOutcome:
    """Map a TSL status type to an outcome (TSL §7.1); values we cannot interpret follow the policy."""
    if value == STATUS_VALID:
        return _VALID
    if value == STATUS_INVALID:
        raise STATUS.fail("revoked", "The credential has been revoked")
    if value == STATUS_SUSPENDED:
        raise STATUS.fail("suspended", "The credential is suspended")
    if is_application_specific(value):
        return _unknown("status.application_specific", value, policy)
    return _unknown("status.reserved_value", value, policy)


# --- W3C Bitstring Status List / StatusList2021 --- #


async def check_bitstring_status(
    references: Sequence[BitstringReference],
    *,
    source: StatusListSource,
    key_for_list: KeyForList,
    allowed_algs: frozenset[str],
    now: float,
    clock_skew: int,
    policy: StatusPolicy,
) -> StatusOutcome:
    """Check every revocation and suspension entry of a credential (BSL §3.2); other purposes are skipped."""
    checked = sorted((ref for ref in references if ref.checked), key=lambda ref: _PURPOSE_ORDER[ref.purpose])
    bodies: dict[str, bytes | str] = {}
    missing: str | None = None
    for reference in checked:
        if reference.list_url not in bodies:
            # One fetch per URL, even when a revocation and a suspension entry share a list.
            bodies[reference.list_url] = await _fetch_or_reason(source, reference.list_url, BITSTRING_ACCEPT)
        body = bodies[reference.list_url]
        if isinstance(body, str):
            missing = missing or body
            continue
        value = await _bitstring_value(
            body,
            reference,
            key_for_list=key_for_list,
            allowed_algs=allowed_algs,
            now=now,
            clock_skew=clock_skew,
        )
        if value != 0:
            check = "revoked" if reference.purpose == "revocation" else "suspended"
            raise STATUS.fail(check, f"The credential is {check}")
    if missing is not None:
        return _unknown(missing, None, policy)
    return _VALID if checked else StatusOutcome("valid", None, None)


async def _bitstring_value(
    body: bytes,
    reference: BitstringReference,
    *,
    key_for_list: KeyForList,
    allowed_algs: frozenset[str],
    now: float,
    clock_skew: int,
) -> int:
    jws = decode_status_list_credential(_token_text(body))
    credential = verify_status_list_credential(
        jws,
        key=await _key(key_for_list, jws),
        allowed_algs=allowed_algs,
        expected_url=reference.list_url,
        purpose=reference.purpose,
        now=now,
        clock_skew=clock_skew,
    )
    return read_status(credential, reference)


# --- Shared --- #


async def _fetch_or_reason(source: StatusListSource, url: str, accept: Sequence[str]) -> bytes | str:
    """The list body, or the reason it could not be had."""
    try:
        return await source.fetch(url, accept=accept)
    except DependencyUnavailable:
        return "status.unreachable"
    except Forbidden:
        # The issuer signed a URL our fetcher will not visit: not an outage, but no answer either.
        return "status.uri_refused"


def _unknown(reason: str, code: int | None, policy: StatusPolicy) -> StatusOutcome:
    if policy.allow_unknown:
        return StatusOutcome("unknown", code, reason)
    # The verdict must say which it was, so the rejection carries the same reason.
    raise STATUS.fail(reason.removeprefix("status."), "The credential status could not be established")


async def _key(key_for_list: KeyForList, jws: Jws) -> PublicJwk:
    key = key_for_list(jws)
    return await key if inspect.isawaitable(key) else key


def _token_text(body: bytes) -> str:
    """The fetched body as a compact JWS string; servers may add a trailing newline."""
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise STATUS.fail("malformed", "The status list is not a compact JWS") from exc
