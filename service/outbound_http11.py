"""One outbound HTTP/1.1 connection: a request written in one piece, the response parsed by ``httptools``.

The outbound guard (``service.outbound``) decides where a connection may go and ``service.outbound_pool``
decides when one may be reused; this module only speaks the protocol on a connection it is handed. It is
the webhook hot path, so it does the least an exchange needs: one ``write`` for the request, llhttp (the
parser uvicorn serves with) for the response, no streams or tasks per request. The body is read up to a
cap; what lies beyond it is never buffered, and the connection it came on is closed.

It sends only ``GET`` and ``POST`` with a known body length, and never asks for an upgrade, so a ``101``
answer is a protocol error; interim ``1xx`` answers (e.g. ``103 Early Hints``) are skipped.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Final, cast

import httptools

__all__ = ["Exchanged", "Http11Connection", "ProtocolFailure", "encode_request"]

_MAX_HEADER_BYTES: Final = 64 * 1024  # names and values together, per response
_MAX_HEADERS: Final = 100
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2
_FIELD_VALUE: Final = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")  # no CR, LF or NUL: no header injection
_METHODS: Final = frozenset({"GET", "POST"})
_CONNECTION_HEADERS: Final = frozenset({b"content-length", b"transfer-encoding", b"host", b"connection"})


class ProtocolFailure(Exception):
    """The exchange failed on the wire. ``before_response``: not one byte of an answer had arrived."""

    def __init__(self, message: str, *, before_response: bool) -> None:
        super().__init__(message)
        self.before_response = before_response


class Exchanged:
    """One response: status, headers (lower-case names, repeated ones joined by ", ") and the body prefix."""

    __slots__ = ("body", "headers", "reusable", "status", "truncated")

    def __init__(
        self, status: int, headers: dict[str, str], body: bytes, *, truncated: bool, reusable: bool
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.truncated = truncated
        self.reusable = reusable
        """The message ended where the server said, and the server keeps the connection open."""


def encode_request(
    method: str, path: str, host: str, headers: Iterable[tuple[str, str]], body: bytes | None
) -> bytes:
    """The request head and body as bytes. Framing headers are ours alone: a caller's ``Host``,
    ``Connection``, ``Content-Length`` or ``Transfer-Encoding`` is refused, and no field may carry a line
    break (``ValueError``). ``path`` must already be a checked origin-form target."""
    if method not in _METHODS:
        raise ValueError(f"unsupported outbound method {method!r}")
    lines = [f"{method} {path} HTTP/1.1\r\nhost: {host}\r\n".encode("ascii")]
    for name, value in headers:
        raw_name, raw_value = name.lower().encode("ascii"), value.encode("latin-1")
        if (
            _TOKEN.fullmatch(raw_name) is None
            or _FIELD_VALUE.fullmatch(raw_value) is None
            or raw_name in _CONNECTION_HEADERS
        ):
            raise ValueError(f"outbound header {name!r} is not allowed")
        lines.append(b"%s: %s\r\n" % (raw_name, raw_value))
    if body is not None:
        lines.append(b"content-length: %d\r\n" % len(body))
    lines.append(b"connection: keep-alive\r\n\r\n")
    if body:
        lines.append(body)
    return b"".join(lines)


class Http11Connection(asyncio.Protocol):
    """A client connection serving one exchange at a time (the pool guarantees it)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self._reset(None, 0)

    def _reset(self, waiter: asyncio.Future[Exchanged] | None, limit: int) -> None:
        self._waiter = waiter
        self._limit = limit
        self._status = 0
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._header_count = 0
        self._body = bytearray()
        self._framed = False  # Content-Length or chunked: the message ends by itself, not at EOF
        self._headers_done = False
        self._answered = False  # at least one byte of a response arrived
        self._failure: ProtocolFailure | None = None
        self._outcome: Exchanged | None = None

    # --- the exchange --- #

    async def exchange(self, request: bytes, *, limit: int, read_timeout: float) -> Exchanged:
        """Send ``request`` and wait for its response, all of which must arrive within ``read_timeout``
        (a server dripping one byte at a time cannot hold the exchange open)."""
        if self.closed or self._transport is None:
            raise ProtocolFailure("the connection is closed", before_response=True)
        waiter: asyncio.Future[Exchanged] = self._loop.create_future()
        self._reset(waiter, limit)
        self._transport.write(request)
        timer = self._loop.call_later(read_timeout, self._time_out, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _time_out(self, waiter: asyncio.Future[Exchanged]) -> None:
        if not waiter.done():
            waiter.set_exception(TimeoutError())
        self.close()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    # --- asyncio.Protocol --- #

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.close()  # nobody asked: a server speaking out of turn is not reused
            return
        self._answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # We never ask to switch, so a 101 is a failure even though llhttp completed it as a message.
            self._outcome = None
            self._failure = ProtocolFailure("the server switched protocols", before_response=False)
        except httptools.HttpParserError as exc:
            self._parse_failed(f"malformed response: {exc}")
        self._settle(waiter)

    def _parse_failed(self, message: str) -> None:
        if self._outcome is not None:
            # Bytes after a complete response (e.g. a body on a 204): the response stands, the
            # connection does not.
            self._outcome.reusable = False
            return
        self._failure = ProtocolFailure(message, before_response=False)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._framed and self._outcome is None and self._failure is None:
            # No Content-Length, not chunked: the body is what came before the close (RFC 9112 §6.3).
            self._finish(reusable=False)
        elif self._outcome is None and self._failure is None:
            self._failure = ProtocolFailure(
                "the server closed the connection", before_response=not self._answered
            )
        self._settle(waiter)

    def _settle(self, waiter: asyncio.Future[Exchanged]) -> None:
        if self._failure is not None:
            waiter.set_exception(self._failure)
            self.close()
        elif self._outcome is not None:
            waiter.set_result(self._outcome)
            if not self._outcome.reusable:
                self.close()

    # --- httptools callbacks (they never raise: a problem is recorded and settled after the feed) --- #

    def on_message_begin(self) -> None:
        if self._outcome is not None:
            self._outcome.reusable = False  # a second response nobody asked for; its parts are ignored

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._outcome is not None:
            return
        self._header_bytes += len(name) + len(value)
        self._header_count += 1
        if self._header_bytes > _MAX_HEADER_BYTES or self._header_count > _MAX_HEADERS:
            self._failure = self._failure or ProtocolFailure("headers too large", before_response=False)
            return
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        if key in ("content-length", "transfer-encoding"):
            self._framed = True
        known = self._headers.get(key)
        self._headers[key] = text if known is None else f"{known}, {text}"

    def on_headers_complete(self) -> None:
        if self._outcome is not None:
            return
        status = self._parser.get_status_code()
        if not 100 <= status <= 599:  # llhttp takes any three digits; RFC 9110 §15 defines 1xx-5xx
            self._failure = self._failure or ProtocolFailure(
                f"invalid status {status}", before_response=False
            )
            return
        if status == 101:  # never asked for, with or without an Upgrade header (llhttp flags only the latter)
            self._failure = self._failure or ProtocolFailure(
                "the server switched protocols", before_response=False
            )
            return
        if 100 <= status < 200:
            self._headers, self._header_bytes, self._header_count, self._framed = {}, 0, 0, False
            return  # an interim answer: the real one follows
        self._status = status
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        if self._outcome is not None or self._failure is not None:
            return
        room = self._limit - len(self._body)
        if len(body) > room:
            self._body += body[:room]
            self._finish(reusable=False, truncated=True)  # the rest is never read; the connection goes
            return
        self._body += body

    def on_message_complete(self) -> None:
        if not self._headers_done or self._outcome is not None or self._failure is not None:
            return  # the end of an interim answer, or of a body already cut
        self._finish(reusable=self._parser.should_keep_alive())

    def _finish(self, *, reusable: bool, truncated: bool = False) -> None:
        self._outcome = Exchanged(
            self._status, self._headers, bytes(self._body), truncated=truncated, reusable=reusable
        )
