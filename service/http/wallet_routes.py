"""Wallet face: serve the request object, take the authorization response. Public and hostile."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from service.http.deps import VerifierDep
from service.http.docs import AuthorizationResponseOperation, wallet_errors
from service.vocabulary import REQUEST_OBJECT_MEDIA_TYPE
from service.wallet_metadata import parse_wallet_post

__all__ = ["WalletController"]

_NO_STORE = {"Cache-Control": "no-store"}


class WalletController(Controller):
    """Endpoints the wallet calls (OpenID4VP draft 20 §6.2, RFC 9101 §5.2)."""

    path = "/wallet"
    tags = ["wallet"]

    @get(
        "/requests/{handle:str}",
        operation_id="GetRequestObject",
        summary="Fetch the signed request object",
        media_type=REQUEST_OBJECT_MEDIA_TYPE,
        responses=wallet_errors(),
    )
    async def request_object(self, handle: FromPath[str], verifier: VerifierDep) -> Response[str]:
        """The Request Object (JAR) for a live transaction; any error is final for the wallet."""
        structlog.contextvars.clear_contextvars()
        token = await verifier.request_object(handle)
        return Response(token, media_type=REQUEST_OBJECT_MEDIA_TYPE, headers=_NO_STORE)

    @post(
        "/requests/{handle:str}",
        operation_id="PostRequestObject",
        summary="Fetch the signed request object, posting wallet metadata (request_uri_method=post)",
        status_code=200,
        media_type=REQUEST_OBJECT_MEDIA_TYPE,
        responses=wallet_errors(),
    )
    async def request_object_post(
        self, handle: FromPath[str], request: Request[Any, Any, Any], verifier: VerifierDep
    ) -> Response[str]:
        """OpenID4VP 1.0 §5.10: form-encoded `wallet_metadata` (JSON) and `wallet_nonce`, both optional.

        The signed Request Object then carries `wallet_nonce` and fits the wallet's formats, algorithms
        and encryption; when the wallet cannot do what the transaction needs, an OAuth error answers.
        """
        structlog.contextvars.clear_contextvars()
        wallet = parse_wallet_post(await request.body())
        token = await verifier.request_object(handle, wallet=wallet)
        return Response(token, media_type=REQUEST_OBJECT_MEDIA_TYPE, headers=_NO_STORE)

    @post(
        "/responses/{handle:str}",
        operation_id="PostAuthorizationResponse",
        summary="Post the authorization response (direct_post)",
        status_code=200,
        responses=wallet_errors(),
        operation_class=AuthorizationResponseOperation,
    )
    async def response(
        self, handle: FromPath[str], request: Request[Any, Any, Any], verifier: VerifierDep
    ) -> Response[dict[str, str]]:
        """Form-encoded `id_token`, `vp_token`, `presentation_submission`, `state` (or an error response).

        With OpenID4VP 1.0 `direct_post.jwt` the body is `response=<JWE>` instead. Answers `{}` once the
        response is taken (including a wallet's error response), or `{"redirect_uri": ...}` in the
        same-device flow; an OAuth error body otherwise. The verdict goes to the backend, never to the wallet.
        """
        structlog.contextvars.clear_contextvars()
        body = await request.body()
        answer = await verifier.respond(handle, body)
        return Response(answer, media_type="application/json", headers=_NO_STORE)
