"""One request sent straight to an ASGI app, and its answer: for tests that must control every message
(a body in pieces, a client gone mid-body, a malformed header) or compare two ways of serving a request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "Exchange"]


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def comparable(self) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        body: Any = self.body
        if (b"content-type", b"application/oauth-authz-req+jwt") in self.headers:
            body = self.body.split(b".")[:2]  # the ES256 signature differs on every signing
        return self.status, sorted(self.headers), body


@dataclass
class Exchange:
    """One request at the ASGI level: ``chunks`` are the body's messages, ``disconnect`` ends it early."""

    method: str
    path: str
    chunks: list[bytes] = field(default_factory=lambda: [b""])
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    disconnect: bool = False

    async def send_to(self, app: Callable[..., Any]) -> Answer:
        messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": chunk, "more_body": index < len(self.chunks) - 1}
            for index, chunk in enumerate(self.chunks)
        ]
        if self.disconnect:
            messages[-1]["more_body"] = True
            messages.append({"type": "http.disconnect"})
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": self.method,
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"verifier.test"), *self.headers],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        await app(scope, receive, send)
        start = next(message for message in sent if message["type"] == "http.response.start")
        body = b"".join(
            message.get("body", b"") for message in sent if message["type"] == "http.response.body"
        )
        return Answer(start["status"], [(bytes(n).lower(), bytes(v)) for n, v in start["headers"]], body)
