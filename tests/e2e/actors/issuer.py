"""Credential issuer simulator: VCDM 1.1 `jwt_vc_json` credentials signed with a DID key."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from tests.e2e.actors.keys import KeyPair, encode_jwt_unsigned, merge, sign_hmac_jwt

VC_CONTEXT_V1 = "https://www.w3.org/2018/credentials/v1"
ONE_YEAR = 365 * 24 * 3600


def _wall_clock() -> int:
    """Current Unix time in seconds."""
    return int(time.time())


class Issuer:
    """Issues JWT VCs as the DID of `key`; every field can be bent for negative tests."""

    def __init__(
        self,
        key: KeyPair,
        method: Literal["did:key", "did:jwk"] = "did:key",
        *,
        now: Callable[[], int] = _wall_clock,
    ) -> None:
        self.key = key
        self.method = method
        self.now = now
        self.did = key.did_key() if method == "did:key" else key.did_jwk()
        self.kid = key.did_key_url() if method == "did:key" else key.did_jwk_url()

    def issue(
        self,
        subject_id: str,
        claims: Mapping[str, Any],
        *,
        types: Sequence[str] = ("AgeCredential",),
        nbf: int | None = None,
        exp: int | None = None,
        header_overrides: Mapping[str, Any] | None = None,
        claim_overrides: Mapping[str, Any] | None = None,
        vc_overrides: Mapping[str, Any] | None = None,
        subject_overrides: Mapping[str, Any] | None = None,
        sign_with: KeyPair | None = None,
        alg_none: bool = False,
        hmac_secret: bytes | None = None,
    ) -> str:
        """A compact VC JWT for `subject_id` carrying `claims` in credentialSubject."""
        now = self.now()
        signer = sign_with or self.key
        header = merge({"alg": signer.alg, "typ": "JWT", "kid": self.kid}, header_overrides)
        subject = merge({"id": subject_id, **claims}, subject_overrides)
        vc = merge(
            {
                "@context": [VC_CONTEXT_V1],
                "type": ["VerifiableCredential", *types],
                "issuer": self.did,
                "credentialSubject": subject,
            },
            vc_overrides,
        )
        payload = merge(
            {
                "iss": self.did,
                "sub": subject_id,
                "nbf": now if nbf is None else nbf,
                "iat": now,
                "exp": now + ONE_YEAR if exp is None else exp,
                "jti": f"urn:uuid:{uuid.uuid4()}",
                "vc": vc,
            },
            claim_overrides,
        )
        if alg_none:
            return encode_jwt_unsigned(header, payload)
        if hmac_secret is not None:
            return sign_hmac_jwt(header, payload, hmac_secret)
        return signer.sign_jws(header, payload)
