"""Step 4: the verdict — what the backend learns, signed so it can be stored and forwarded.

Only the claims the definition asked for are carried (data minimisation); a rejected response carries
machine-readable reasons. The wallet never sees the verdict.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from service.errors import VerifierError
from service.jose.jws import sign_jws
from service.keys import Keyring
from service.vocabulary import RESULT_REJECTED, RESULT_VERIFIED, VERDICT_TYP

__all__ = [
    "CredentialEntry",
    "HolderEntry",
    "ReasonEntry",
    "Verdict",
    "rejected_verdict",
    "sign_verdict",
    "verified_verdict",
]


class ReasonEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    """Why a response was rejected: a stable code and a human-readable detail."""

    code: str
    detail: str
    descriptor_id: str | None = None


class HolderEntry(msgspec.Struct, frozen=True):
    """Who presented: the ID Token subject, or (OpenID4VP 1.0 without ID Token) the key every presentation
    proved possession of; absent when a 1.0 wallet's presentations are bound to different keys."""

    id: str
    method: Literal["did", "jwk_thumbprint"]


class CredentialEntry(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    """One credential that satisfied an input descriptor."""

    descriptor_id: str
    format: str
    issuer: str
    types: list[str]
    claims: dict[str, Any]
    status: str
    """``valid`` (its status list says so), ``unknown`` (unreachable, accepted by policy) or ``no_status``."""
    status_reason: str | None = None
    vct: str | None = None
    """The SD-JWT VC type, for `dc+sd-jwt` credentials."""
    trust: dict[str, Any] | None = None
    """Which rule admitted the issuer, where its key came from, whether the definition narrowed trust."""


class Verdict(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    """The signed verdict's claims (see DESIGN.md "Verdict")."""

    iss: str
    iat: int
    jti: str
    txn: str
    result: str
    definition_id: str
    final: bool
    """False only for a notice about a later attempt on an already decided transaction."""
    correlation_id: str | None = None
    errors: list[ReasonEntry] = []
    holder: HolderEntry | None = None
    credentials: list[CredentialEntry] = []
    sign_in: dict[str, Any] | None = None
    """For sign-in: subject, subject_type, key_thumbprint, auth_time, profile (and sub_jwk)."""
    self_attested: dict[str, str] | None = None
    """Claims the wallet asserted about itself when asked: never vouched for by an issuer."""
    wallet_error: str | None = None


@dataclass(frozen=True, slots=True)
class VerdictContext:
    """The transaction facts every verdict repeats."""

    issuer: str
    transaction_id: str
    definition_id: str
    correlation_id: str | None


def _new_id() -> str:
    """``vrd_`` + the hex of a random (version 4) UUID: the verdict id, also the Standard Webhooks id.

    Written out rather than ``uuid.uuid4().hex``, which builds a UUID object per verdict for its hex.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # RFC 9562 §5.4: version 4
    raw[8] = raw[8] & 0x3F | 0x80  # and the variant 10xx
    return "vrd_" + raw.hex()


def verified_verdict(
    context: VerdictContext,
    *,
    now: float,
    holder: HolderEntry | None,
    credentials: Sequence[CredentialEntry],
    sign_in: dict[str, Any] | None = None,
    self_attested: dict[str, str] | None = None,
) -> Verdict:
    """A positive verdict."""
    return Verdict(
        iss=context.issuer,
        iat=int(now),
        jti=_new_id(),
        txn=context.transaction_id,
        result=RESULT_VERIFIED,
        final=True,
        definition_id=context.definition_id,
        correlation_id=context.correlation_id,
        holder=holder,
        credentials=list(credentials),
        sign_in=sign_in,
        self_attested=self_attested,
    )


def rejected_verdict(
    context: VerdictContext,
    *,
    now: float,
    error: VerifierError | None = None,
    wallet_error: str | None = None,
    final: bool = True,
) -> Verdict:
    """A negative verdict, from a verification error or a wallet's error response."""
    if wallet_error is not None:
        reasons = [ReasonEntry(code=f"wallet.{wallet_error}", detail="The wallet answered with an error")]
    elif error is not None:
        reasons = [
            ReasonEntry(code=error.reason, detail=error.description, descriptor_id=error.descriptor_id)
        ]
    else:
        reasons = []
    return Verdict(
        iss=context.issuer,
        iat=int(now),
        jti=_new_id(),
        txn=context.transaction_id,
        result=RESULT_REJECTED,
        definition_id=context.definition_id,
        final=final,
        correlation_id=context.correlation_id,
        errors=reasons,
        wallet_error=wallet_error,
    )


def sign_verdict(verdict: Verdict, keyring: Keyring) -> str:
    """Sign as a JWT (``typ: verdict+jwt``, RFC 8725 §3.11) with the active key published in our JWKS."""
    key = keyring.active_signing
    claims = msgspec.to_builtins(verdict)
    return sign_jws({"typ": VERDICT_TYP, "kid": key.kid}, claims, key.private_key)
