"""A real HTTP server on 127.0.0.1, in a thread, answering GETs by path and counting hits.

Used wherever a test needs the other end of an outbound fetch (did:web, issuer metadata, the cached
fetcher): each path answers with its reply, or with the next of a list of replies (the last repeats).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.outbound import IPAddress, Resolver

__all__ = ["JSON", "Reply", "RoutedServer", "resolve_to"]

JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    """One answer: status, headers and body, optionally after a pause."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": JSON})
    body: bytes = b"{}"
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: RoutedServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that stopped reading (size cap, timeout) is expected; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        reply = self.server.owner.record(self.path, {k.lower(): v for k, v in self.headers.items()})
        if reply.delay:
            time.sleep(reply.delay)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


class RoutedServer:
    """Each path answers with its reply, or the next of its list (the last repeats); others get 404."""

    def __init__(self, routes: Mapping[str, Reply | list[Reply]] | None = None) -> None:
        self.routes: dict[str, Reply | list[Reply]] = dict(routes or {})
        self.hits: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        # A short poll interval: shutdown() waits for it, and every test starts and stops a server.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    def record(self, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.hits[path] += 1
            self.headers.append(headers)
            reply = self.routes.get(path)
            if reply is None:
                return Reply(404, body=b"{}")
            if isinstance(reply, list):
                return reply[min(self.hits[path], len(reply)) - 1]
            return reply

    def __enter__(self) -> RoutedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def total(self) -> int:
        return sum(self.hits.values())

    def url(self, path: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"


def resolve_to(address: str) -> Resolver:
    """A DNS resolver that sends every name to ``address`` (no real lookup)."""

    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(address)]

    return resolve
