"""A minimal HTTP/1.1 client over asyncio streams for the load generator.

httpx costs the load generator about as much CPU per request as the service spends verifying, and on a
two-core machine the generator shares its core with the webhook sink; a lean client keeps the generator
from becoming the bottleneck it measures. Requests are serialised to bytes before timing starts; each
connection is kept alive and carries one request at a time. Only what the verifier answers is parsed:
a status line, headers, and a ``Content-Length`` or chunked body.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_IDLE = 2.0  # seconds; uvicorn closes keep-alive connections idle for 5 s


class WireError(RuntimeError):
    """The server closed the connection or answered something this client does not parse."""


class ClosedBeforeResponse(WireError):
    """The connection ended before any byte of a response arrived."""


@dataclass(frozen=True)
class Reply:
    """Status and body of one response."""

    status: int
    body: bytes


def encode_request(method: str, url: str, body: bytes = b"", content_type: str | None = None) -> bytes:
    """The request, ready to write: request line, Host, Content-Type/-Length, body."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = [f"{method} {target} HTTP/1.1", f"host: {parts.netloc}"]
    if content_type is not None:
        head.append(f"content-type: {content_type}")
    if body or method == "POST":
        head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def address(url: str) -> tuple[str, int]:
    """Host and port of an http:// URL."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise WireError(f"only http:// URLs: {url!r}")
    return parts.hostname, parts.port or 80


class Connection:
    """One keep-alive connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.closed = False
        self.idle_since = time.monotonic()

    @property
    def stale(self) -> bool:
        """Closed by the server, or idle long enough that the server may close it any moment."""
        return self.closed or self._reader.at_eof() or time.monotonic() - self.idle_since > MAX_IDLE

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        """Connect."""
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> Reply:
        """Write one request and read its response."""
        self._writer.write(request)
        await self._writer.drain()
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            self.close()
            if exc.partial:
                raise WireError("connection closed in the middle of a response") from exc
            raise ClosedBeforeResponse("connection closed before a response") from exc
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        try:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = await self._chunked()
            else:
                body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        except asyncio.IncompleteReadError as exc:
            self.close()
            raise WireError("connection closed in the middle of a response body") from exc
        if headers.get("connection", "").lower() == "close":
            self.close()
        self.idle_since = time.monotonic()
        return Reply(status, body)

    async def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def close(self) -> None:
        """Close the socket."""
        if not self.closed:
            self.closed = True
            self._writer.close()


class Pool:
    """Idle connections to one server; a new one is opened whenever none is idle."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[Connection] = []
        self.opened = 0
        self.resent = 0

    async def exchange(self, request: bytes) -> Reply:
        """Send on an idle connection (or a new one) and give it back afterwards.

        If a reused connection turns out closed by the server before any byte of an answer (its
        keep-alive timeout raced our request), the request goes once more on a new connection: the server
        never read it. Were that ever wrong, the second answer would be a refusal that fails the run.
        """
        connection = self._take()
        if connection is not None:
            try:
                return self._give_back(connection, await connection.exchange(request))
            except (ClosedBeforeResponse, ConnectionError):
                connection.close()
                self.resent += 1
            except BaseException:
                connection.close()
                raise
        connection = await self._open()
        try:
            return self._give_back(connection, await connection.exchange(request))
        except BaseException:
            connection.close()
            raise

    def _take(self) -> Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.stale:
                return connection
            connection.close()
        return None

    def _give_back(self, connection: Connection, reply: Reply) -> Reply:
        if not connection.closed:
            self._idle.append(connection)
        return reply

    async def _open(self) -> Connection:
        self.opened += 1
        return await Connection.open(self.host, self.port)

    def close(self) -> None:
        """Close every idle connection."""
        for connection in self._idle:
            connection.close()
        self._idle.clear()
