"""What a hostile wallet builds beyond the holder simulator's knobs, and how every attack is judged.

Every attack ends in :func:`expect_rejected`: the wallet gets a 4xx OAuth error body (``no-store``, never
a 5xx, never a 200), the backend gets a signed ``rejected`` verdict with exactly the expected reason code,
and neither the wallet's error nor the verdict repeats any string the attacker injected.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from tests.e2e.actors import AuthorizationRequest, KeyPair, Wallet, b64url
from tests.e2e.actors.keys import base58btc_encode, merge, varint
from tests.e2e.conftest import Issuers, RunningService

SIOP_CONTENT_TYPE = "application/x-www-form-urlencoded"


# --- Tokens from raw bytes --- #


def _bytes(value: str | bytes | Mapping[str, Any]) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def sign_raw(
    key: KeyPair, header: str | bytes | Mapping[str, Any], payload: str | bytes | Mapping[str, Any]
) -> str:
    """A compact JWS over exactly these header and payload bytes (JSON text is taken verbatim)."""
    signing_input = f"{b64url(_bytes(header))}.{b64url(_bytes(payload))}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"


def did_key_from_codec(codec: int, raw: bytes) -> str:
    """A did:key with an arbitrary multicodec prefix and key bytes (well-formed or not)."""
    return "did:key:z" + base58btc_encode(varint(codec) + raw)


# --- Protocol pieces --- #


def begin(
    service: RunningService, wallet: Wallet, **create: Any
) -> tuple[dict[str, Any], AuthorizationRequest]:
    """Backend creates a transaction (age-over-21 unless told otherwise), the wallet fetches its request."""
    created = service.create(**create)
    return created, wallet.fetch_request(created["authorization_request_uri"])


def age_credential(issuers: Issuers, wallet: Wallet, **overrides: Any) -> str:
    """A valid age-over-21 credential for the wallet's holder, from the trusted issuer."""
    return issuers.trusted.issue(wallet.holder.id, {"ageOver21": True}, **overrides)


def id_token_header(wallet: Wallet, **overrides: Any) -> dict[str, Any]:
    """The header the simulator would use (kid for DID holders)."""
    header: dict[str, Any] = {"alg": wallet.holder.key.alg, "typ": "JWT"}
    if wallet.holder.kid is not None:
        header["kid"] = wallet.holder.kid
    return merge(header, overrides)


def id_token_claims(wallet: Wallet, request: AuthorizationRequest, **overrides: Any) -> dict[str, Any]:
    """The claims the simulator would use (sub_jwk for thumbprint holders)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": wallet.holder.id,
        "sub": wallet.holder.id,
        "aud": request.client_id,
        "nonce": request.nonce,
        "iat": now,
        "exp": now + 300,
    }
    if wallet.holder.kid is None:
        claims["sub_jwk"] = wallet.holder.key.public_jwk()
    return merge(claims, overrides)


def vp_claims(
    wallet: Wallet, request: AuthorizationRequest, credentials: list[str], **overrides: Any
) -> dict[str, Any]:
    """VP JWT claims as the simulator builds them."""
    now = int(time.time())
    vp = {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": ["VerifiablePresentation"],
        "holder": wallet.holder.id,
        "verifiableCredential": credentials,
    }
    claims = {"iss": wallet.holder.id, "aud": request.client_id, "nonce": request.nonce, "iat": now, "vp": vp}
    return merge(claims, overrides)


def submission_for_vp(
    request: AuthorizationRequest, path_nested: str = "$.vp.verifiableCredential[0]"
) -> dict[str, Any]:
    """A one-descriptor submission: the VP at `$`, the credential at `path_nested` inside it."""
    descriptor = request.descriptor_ids()[0]
    return {
        "id": "submission-1",
        "definition_id": request.presentation_definition["id"],
        "descriptor_map": [
            {
                "id": descriptor,
                "format": "jwt_vp_json",
                "path": "$",
                "path_nested": {"id": descriptor, "format": "jwt_vc_json", "path": path_nested},
            }
        ],
    }


def post_raw(wallet: Wallet, request: AuthorizationRequest, body: bytes) -> httpx.Response:
    """POST exact bytes as a form body to the response URI."""
    return wallet.http.post(
        request.response_uri,
        content=body,
        headers={"content-type": SIOP_CONTENT_TYPE},
        follow_redirects=False,
    )


# --- Judging --- #


def assert_oauth_error(answer: httpx.Response, *, injected: Iterable[str] = ()) -> dict[str, Any]:
    """A 4xx OAuth error body that echoes none of the injected strings."""
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:500])
    assert answer.headers["content-type"].startswith("application/json"), answer.headers["content-type"]
    assert answer.headers.get("cache-control") == "no-store"
    body = answer.json()
    assert isinstance(body.get("error"), str), body
    assert body["error"], body
    description = body.get("error_description", "")
    for text in injected:
        assert text not in answer.text, f"error body echoes injected input {text[:40]!r}"
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description), description
    return body


def expect_rejected(
    service: RunningService,
    created: dict[str, Any],
    answer: httpx.Response,
    reason: str | frozenset[str],
    *,
    injected: Iterable[str] = (),
) -> dict[str, Any]:
    """4xx OAuth error to the wallet, and a signed `rejected` verdict with `reason` for the backend."""
    injected = [text for text in injected if text]
    body = assert_oauth_error(answer, injected=injected)
    assert body["error"] == "invalid_request", body
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "rejected", verdict
    codes = [error["code"] for error in verdict["errors"]]
    allowed = {reason} if isinstance(reason, str) else set(reason)
    assert len(codes) == 1, codes
    assert codes[0] in allowed, (codes, allowed)
    assert not verdict.get("credentials"), verdict
    assert "holder" not in verdict, verdict
    rendered = json.dumps(verdict)
    for text in injected:
        assert text not in rendered, f"verdict echoes injected input {text[:40]!r}"
    return verdict


def expect_no_verdict(service: RunningService, transaction_id: str, *, wait: float = 0.3) -> None:
    """Nothing was decided for this transaction (the handle could not be opened, or the body not read)."""
    time.sleep(wait)
    assert service.verdicts_for(transaction_id) == []
