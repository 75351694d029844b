"""Wallet face: serve the request object, take the authorization response. Public and hostile."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from service.http.deps import VerifierDep
from service.http.docs import AuthorizationResponseOperation, wallet_errors
from service.vocabulary import REQUEST_OBJECT_MEDIA_TYPE

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

        Answers `{}` once the response is taken (including a wallet's error response); an OAuth error
        body otherwise. The verdict goes to the backend, never to the wallet.
        """
        structlog.contextvars.clear_contextvars()
        body = await request.body()
        await verifier.respond(handle, body)
        return Response({}, media_type="application/json", headers=_NO_STORE)
