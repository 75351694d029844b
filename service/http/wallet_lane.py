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

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
import structlog
from litestar import Litestar, Request
from litestar.exceptions import ClientException, InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, HTTPScope, Receive, Send

from service.http.errors import render_exception
from service.http.metrics_middleware import RequestRecorder
from service.metrics import route_label
from service.verifier import Verifier
from service.vocabulary import REQUEST_OBJECT_MEDIA_TYPE
from service.wallet_metadata import parse_wallet_post

__all__ = ["WalletLane", "answer", "answer_error"]

_REQUESTS: Final = "/wallet/requests/"
_RESPONSES: Final = "/wallet/responses/"
_JWT_HEADERS: Final = [(b"content-type", REQUEST_OBJECT_MEDIA_TYPE.encode()), (b"cache-control", b"no-store")]
_JSON_HEADERS: Final = [(b"cache-control", b"no-store"), (b"content-type", b"application/json")]

Answered = tuple[bytes, list[tuple[bytes, bytes]]]
"""A 200's body and headers."""
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
        started = time.perf_counter()
        status = 500  # as the framework's metrics count a request that never answered (e.g. cancelled)
        structlog.contextvars.clear_contextvars()
        try:
            body, headers = await endpoint(handle, scope, receive)
        except Exception as exc:  # noqa: BLE001 - every failure is rendered by the app's own handlers
            status = await answer_error(self._app, scope, receive, send, exc)
        else:
            await answer(send, 200, body, headers)
            status = 200
        finally:
            self._recorder.record(route_label(scope["path"]), status, time.perf_counter() - started)
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
        return token.encode(), _JWT_HEADERS

    async def _request_object_post(self, handle: str, scope: HTTPScope, receive: Receive) -> Answered:
        wallet = parse_wallet_post(await self._read_body(scope, receive))
        token = await self._verifier.request_object(handle, wallet=wallet)
        return token.encode(), _JWT_HEADERS

    async def _response(self, handle: str, scope: HTTPScope, receive: Receive) -> Answered:
        answer = await self._verifier.respond(handle, await self._read_body(scope, receive))
        return msgspec.json.encode(answer), _JSON_HEADERS

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


async def answer_error(app: Litestar, scope: HTTPScope, receive: Receive, send: Send, exc: Exception) -> int:
    """Answer ``exc`` as the app's exception handlers do; the status sent."""
    scope["app"] = scope["litestar_app"] = app  # what the framework sets before any handler
    request: Request[Any, Any, Any] = Request(scope, receive)
    response = render_exception(request, exc)
    await response.to_asgi_response(None, request)(scope, receive, send)
    return response.status_code or 500


def _content_length(scope: HTTPScope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1")
            try:
                return int(text)
            except ValueError:
                raise ClientException(f"Invalid content-length: {text!r}") from None
    return None


async def answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """Send a whole response: ``headers`` plus its Content-Length, then ``body``."""
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    content: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(content)
