"""What the lanes in front of the framework share: how a use case's result or failure is answered, and
counted, exactly as the framework would (``wallet_lane``, ``create_lane``; ``app.VerifierApp`` runs them)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from litestar import Litestar, Request
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, HTTPScope, Receive, Send

from service.http.errors import render_exception
from service.http.metrics_middleware import RequestRecorder

__all__ = ["Answered", "Lane", "serve_use_case"]

Answered = tuple[int, bytes, list[tuple[bytes, bytes]]]
"""A successful answer: status, body, headers (Content-Length is added)."""


class Lane(Protocol):
    async def serve(self, scope: HTTPScope, receive: Receive, send: Send) -> bool:
        """Answer the request and return True, or return False having read nothing of it."""
        ...


async def serve_use_case(
    use_case: Callable[[], Awaitable[Answered]],
    *,
    app: Litestar,
    recorder: RequestRecorder,
    route: str,
    scope: HTTPScope,
    receive: Receive,
    send: Send,
) -> None:
    """Run ``use_case`` and answer it; a failure is rendered by the app's own exception handlers. The
    request is counted under ``route`` as the framework's metrics middleware counts it."""
    started = time.perf_counter()
    status = 500  # as the framework counts a request that never answered (e.g. cancelled)
    try:
        status, body, headers = await use_case()
    except Exception as exc:  # noqa: BLE001 - every failure is rendered by the app's own handlers
        status = await _answer_error(app, scope, receive, send, exc)
    else:
        await _answer(send, status, body, headers)
    finally:
        recorder.record(route, status, time.perf_counter() - started)


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    content: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(content)


async def _answer_error(app: Litestar, scope: HTTPScope, receive: Receive, send: Send, exc: Exception) -> int:
    scope["app"] = scope["litestar_app"] = app  # what the framework sets before any handler
    request: Request[Any, Any, Any] = Request(scope, receive)
    response = render_exception(request, exc)
    await response.to_asgi_response(None, request)(scope, receive, send)
    return response.status_code or 500
