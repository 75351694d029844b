"""``POST /v1/presentations`` on its plain path, served ahead of the framework; every other case is
handed to the framework untouched.

Creating a transaction spent more CPU in the framework's request handling than in the use case itself.
The lane takes a request only when the framework would take it the same way: the API key is valid, the
body is within the limit and decodes strictly into ``CreatePresentationBody`` (a schema with
``forbid_unknown_fields``, so nothing the framework would refuse is accepted here). Anything else — a
missing key, a body too large, cut off or not valid — is replayed to the framework message by message,
so its answers (401, 413, the 400 validation details) stay its own. On the plain path the lane runs the
same use case (``create_presentation``), answers ``201`` with the same JSON, renders failures with the
app's exception handlers and records the same metrics. ``tests/e2e/test_create_lane.py`` holds both paths
to the same answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
from litestar import Litestar
from litestar.types import HTTPScope, Receive, ReceiveMessage, Send

from service.errors import Unauthorized
from service.http.auth import ApiKeyCheck
from service.http.backend_routes import create_presentation
from service.http.lane import Answered, serve_use_case
from service.http.metrics_middleware import RequestRecorder
from service.http.schemas import CreatePresentationBody
from service.verifier import Verifier

__all__ = ["CreateLane"]

_PATH: Final = "/v1/presentations"
_JSON: Final = [(b"content-type", b"application/json")]
_DECODER: Final = msgspec.json.Decoder(CreatePresentationBody)

Framework = Callable[[HTTPScope, Receive, Send], Awaitable[None]]


class CreateLane:
    """Serves plain transaction creations for ``app``; ``serve`` says whether it took the request."""

    def __init__(
        self,
        app: Litestar,
        verifier: Verifier,
        recorder: RequestRecorder,
        *,
        api_keys: ApiKeyCheck,
        max_body: int,
        framework: Framework,
    ) -> None:
        self._app = app
        self._verifier = verifier
        self._recorder = recorder
        self._api_keys = api_keys
        self._max_body = max_body
        self._framework = framework

    async def serve(self, scope: HTTPScope, receive: Receive, send: Send) -> bool:
        """Answer a plain creation; False (nothing read) or a replay leaves the request to the framework."""
        if scope["path"] != _PATH or scope["method"] != "POST" or scope.get("root_path"):
            return False
        try:
            self._api_keys.require(scope)
        except Unauthorized:
            return False  # the framework answers 401 with its own middleware
        if not _length_within(scope, self._max_body):
            return False
        received, body = await self._read(receive)
        data = _decode(body) if body is not None else None
        if data is None:
            await self._framework(scope, _replaying(received, receive), send)
            return True
        await self._create(scope, receive, send, data)
        return True

    async def _create(
        self, scope: HTTPScope, receive: Receive, send: Send, data: CreatePresentationBody
    ) -> None:
        async def use_case() -> Answered:
            created = await create_presentation(self._verifier, data)
            return 201, msgspec.json.encode(created), _JSON

        await serve_use_case(
            use_case,
            app=self._app,
            recorder=self._recorder,
            route="presentations",
            scope=scope,
            receive=receive,
            send=send,
        )

    async def _read(self, receive: Receive) -> tuple[list[ReceiveMessage], bytes | None]:
        """The messages received, and the whole body if it came in full and within the limit."""
        received: list[ReceiveMessage] = []
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await receive()
            received.append(event)
            if event["type"] != "http.request":
                return received, None  # the client went away: the framework says how that ends
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                return received, None
            chunks.append(chunk)
            if not event.get("more_body", False):
                return received, b"".join(chunks)


def _length_within(scope: HTTPScope, limit: int) -> bool:
    """The announced Content-Length, if any, is a number within ``limit`` (else the framework refuses it)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.isdigit() and int(value) <= limit
    return True


def _decode(body: bytes) -> CreatePresentationBody | None:
    try:
        return _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None


def _replaying(received: list[ReceiveMessage], receive: Receive) -> Receive:
    """A ``receive`` that hands out the messages already read, then the rest of the request."""
    pending = list(received)

    async def replay() -> Any:
        return pending.pop(0) if pending else await receive()

    return replay
