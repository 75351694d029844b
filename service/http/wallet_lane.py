"""The wallet routes served straight from ASGI, with the answers ``WalletController`` documents.

Every verification passes through two wallet requests, and for them the framework's per-request work
(signature model, dependency injection, response conversion, layered middleware) cost as much CPU as the
request object itself. The lane takes exactly the requests ``WalletController`` would route to its
handlers — ``GET``/``POST /wallet/requests/{handle}`` and ``POST /wallet/responses/{handle}`` — and runs
the same use cases (``Verifier.request_object``, ``Verifier.respond``, ``parse_wallet_post``) with the same
headers, the same body limit and the same error rendering (the app's own exception handlers), recording the
same metrics. Anything else (another method, a trailing slash, a second path segment) goes to the framework,
where the documented handlers answer. ``tests/e2e/test_wallet_lane.py`` holds both paths to the same answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import msgspec
import structlog
from litestar import Litestar
from litestar.exceptions import ClientException, InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import HTTPScope, Receive, Send

from service.http.lane import Answered, serve_use_case
from service.http.metrics_middleware import RequestRecorder
from service.metrics import route_label
from service.verifier import Verifier
from service.vocabulary import REQUEST_OBJECT_MEDIA_TYPE
from service.wallet_metadata import parse_wallet_post

__all__ = ["WalletLane"]

_REQUESTS: Final = "/wallet/requests/"
_RESPONSES: Final = "/wallet/responses/"
_JWT_HEADERS: Final = [(b"content-type", REQUEST_OBJECT_MEDIA_TYPE.encode()), (b"cache-control", b"no-store")]
_JSON_HEADERS: Final = [(b"cache-control", b"no-store"), (b"content-type", b"application/json")]

Served = Callable[[str, HTTPScope, Receive], Awaitable[Answered]]


class WalletLane:
    """Serves the wallet routes for ``app``; ``serve`` says whether it took the request."""

    def __init__(
        self, app: Litestar, verifier: Verifier, recorder: RequestRecorder, *, max_body: int
    ) -> None:
        self._app = app
        self._verifier = verifier
        self._recorder = recorder
        self._max_body = max_body

    async def serve(self, scope: HTTPScope, receive: Receive, send: Send) -> bool:
        """Answer the request if it is one of the wallet routes; False leaves it to the framework."""
        route = self._route(scope)
        if route is None:
            return False
        endpoint, handle = route
        structlog.contextvars.clear_contextvars()
        await serve_use_case(
            lambda: endpoint(handle, scope, receive),
            app=self._app,
            recorder=self._recorder,
            route=route_label(scope["path"]),
            scope=scope,
            receive=receive,
            send=send,
        )
        return True

    def _route(self, scope: HTTPScope) -> tuple[Served, str] | None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(_REQUESTS):
            handle = path[len(_REQUESTS) :]
            endpoint = self._request_object if method == "GET" else self._request_object_post
            allowed = method in ("GET", "POST")
        elif path.startswith(_RESPONSES):
            handle = path[len(_RESPONSES) :]
            endpoint, allowed = self._response, method == "POST"
        else:
            return None
        if not allowed or not handle or "/" in handle or scope.get("root_path"):
            return None
        return endpoint, handle

    async def _request_object(self, handle: str, scope: HTTPScope, receive: Receive) -> Answered:
        token = await self._verifier.request_object(handle)
        return 200, token.encode(), _JWT_HEADERS

    async def _request_object_post(self, handle: str, scope: HTTPScope, receive: Receive) -> Answered:
        wallet = parse_wallet_post(await self._read_body(scope, receive))
        token = await self._verifier.request_object(handle, wallet=wallet)
        return 200, token.encode(), _JWT_HEADERS

    async def _response(self, handle: str, scope: HTTPScope, receive: Receive) -> Answered:
        answer = await self._verifier.respond(handle, await self._read_body(scope, receive))
        return 200, msgspec.json.encode(answer), _JSON_HEADERS

    async def _read_body(self, scope: HTTPScope, receive: Receive) -> bytes:
        """The request body under the framework's rules: the announced length and the bytes received are
        both held to the limit, and a client gone mid-body is an error."""
        announced = _content_length(scope)
        if announced is not None and announced > self._max_body:
            raise RequestEntityTooLarge
        chunks: list[bytes] = []
        received = 0
        while True:
            event = await receive()
            if event["type"] == "http.request":
                chunk = event.get("body", b"")
                received += len(chunk)
                if received > self._max_body:
                    raise RequestEntityTooLarge
                chunks.append(chunk)
                if not event.get("more_body", False):
                    return b"".join(chunks)
            elif event["type"] == "http.disconnect":
                raise InternalServerException("client disconnected prematurely")


def _content_length(scope: HTTPScope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1")
            try:
                return int(text)
            except ValueError:
                raise ClientException(f"Invalid content-length: {text!r}") from None
    return None
