"""Keep-alive for SSRF-guarded outbound HTTP (the transport under ``service.outbound.OutboundClient``).

A connection is reused only for the same origin name (scheme, TLS name, ``Host``, port) — so never lent to
another host name that happens to resolve to the same IP, which would skip that name's certificate check —
and only for the vetted IP the request was pinned to after this request's own DNS check. Each connection
lives in a single-connection transport and serves one exchange at a time; a response not read to its end
never goes back to the pool. Names are kept least-recently-used, bounded; evicted ones are closed.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Final, TypeAlias

import httpx

__all__ = ["OriginPools"]

_MAX_CONNECTIONS: Final = 100  # in use at once, all origins (httpx's default); more wait for the pool timeout
_MAX_IDLE_PER_ORIGIN: Final = 16  # as many as the webhook outbox sends at once
_MAX_IDLE: Final = 100
_ONE_CONNECTION: Final = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=None)


_OriginKey: TypeAlias = tuple[str, str, str, int | None]
"""Scheme, the name TLS verifies (SNI, else the URL host), the ``Host`` header, and the port."""

_Idle: TypeAlias = tuple[httpx.AsyncHTTPTransport, float]
"""A connection nobody uses, and since when (monotonic seconds)."""


class _Origin:
    """The connections of one origin name: idle ones by vetted IP (oldest first), and those in use."""

    __slots__ = ("busy", "idle", "retired")

    def __init__(self) -> None:
        self.idle: dict[str, list[_Idle]] = {}
        self.busy: set[httpx.AsyncHTTPTransport] = set()
        self.retired = False
        """Evicted or shut down: connections in use are closed when they come back."""


class OriginPools(httpx.AsyncBaseTransport):
    """Keep-alive connections keyed by origin name (at most ``max_origins``, LRU), then by vetted IP.

    Each connection is an httpx transport of its own, holding one connection, used by one exchange at a
    time: taking one is a synchronous pop, so concurrent requests never race for the same connection (as
    they do in one shared httpcore pool, where they retry over and over). A connection goes back to its
    list only when its response body was read to the end; otherwise it is closed. Closing happens in tasks
    of their own, so no request waits for it and no cancellation interrupts it.
    """

    def __init__(self, *, verify: ssl.SSLContext | bool, max_origins: int, keepalive_expiry: float) -> None:
        self._verify = verify
        self._ssl_context: ssl.SSLContext | None = None  # one for all connections, built at the first request
        self._max_origins = max_origins
        self._expiry = keepalive_expiry
        self._origins: OrderedDict[_OriginKey, _Origin] = OrderedDict()
        self._in_use = asyncio.Semaphore(_MAX_CONNECTIONS)
        self._idle_count = 0
        self._next_sweep = 0.0
        self._closing: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._acquire(request)
        try:
            origin, address = self._origin(_origin_key(request)), request.url.host
            transport = self._checkout(origin, address)
        except BaseException:
            self._in_use.release()
            raise
        try:
            response = await transport.handle_async_request(request)
        except BaseException:
            self._checkin(origin, address, transport, reusable=False)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)  # an async transport's stream
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(
                response.stream, lambda complete: self._checkin(origin, address, transport, reusable=complete)
            ),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every connection, in use or not (shutdown), and wait for those already closing."""
        origins = list(self._origins.values())
        self._origins.clear()
        for origin in origins:
            self._retire(origin, close_busy=True)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _acquire(self, request: httpx.Request) -> None:
        """A slot among ``_MAX_CONNECTIONS`` in use, waiting at most the pool timeout."""
        if not self._in_use.locked():
            await self._in_use.acquire()  # free: returns at once
            return
        try:
            async with asyncio.timeout(request.extensions.get("timeout", {}).get("pool")):
                await self._in_use.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("No outbound connection became free in time", request=request) from exc

    def _origin(self, key: _OriginKey) -> _Origin:
        origin = self._origins.get(key)
        if origin is not None:
            self._origins.move_to_end(key)
            return origin
        origin = self._origins[key] = _Origin()
        while len(self._origins) > self._max_origins:
            self._retire(self._origins.popitem(last=False)[1], close_busy=False)
        return origin

    def _checkout(self, origin: _Origin, address: str) -> httpx.AsyncHTTPTransport:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        idle = origin.idle.get(address)
        transport = None
        if idle:
            transport, since = idle.pop()
            self._idle_count -= 1
            if now - since > self._expiry:
                self._close_later(transport)
                transport = None
        if transport is None:
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context(verify=self._verify, trust_env=False)
            transport = httpx.AsyncHTTPTransport(
                verify=self._ssl_context, trust_env=False, limits=_ONE_CONNECTION
            )
        origin.busy.add(transport)
        return transport

    def _checkin(
        self, origin: _Origin, address: str, transport: httpx.AsyncHTTPTransport, *, reusable: bool
    ) -> None:
        self._in_use.release()
        origin.busy.discard(transport)
        idle = origin.idle.setdefault(address, [])
        if (
            not reusable
            or origin.retired
            or len(idle) >= _MAX_IDLE_PER_ORIGIN
            or self._idle_count >= _MAX_IDLE
        ):
            self._close_later(transport)
            return
        idle.append((transport, time.monotonic()))
        self._idle_count += 1

    def _sweep(self, now: float) -> None:
        """Close the connections idle for longer than the expiry (at most once per expiry period)."""
        self._next_sweep = now + self._expiry
        for origin in self._origins.values():
            for address, idle in list(origin.idle.items()):
                fresh = [(transport, since) for transport, since in idle if now - since <= self._expiry]
                for transport, since in idle:
                    if now - since > self._expiry:
                        self._close_later(transport)
                self._idle_count -= len(idle) - len(fresh)
                if fresh:
                    origin.idle[address] = fresh
                else:
                    del origin.idle[address]

    def _retire(self, origin: _Origin, *, close_busy: bool) -> None:
        """Close an origin's idle connections now, and those in use now (shutdown) or when they come back
        (eviction: the exchanges on them finish first)."""
        origin.retired = True
        for idle in origin.idle.values():
            self._idle_count -= len(idle)
            for transport, _since in idle:
                self._close_later(transport)
        origin.idle.clear()
        if close_busy:
            for transport in origin.busy:
                self._close_later(transport)

    def _close_later(self, transport: httpx.AsyncHTTPTransport) -> None:
        task = asyncio.get_running_loop().create_task(transport.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a socket that fails to close has nothing left to tell


def _origin_key(request: httpx.Request) -> _OriginKey:
    url = request.url
    tls_name = request.extensions.get("sni_hostname") or url.host
    return url.scheme, str(tls_name), request.headers.get("host", ""), url.port


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that hands its connection back when closed (once), saying if it was read to the end."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[bool], None]) -> None:
        self._stream = stream
        self._release: Callable[[bool], None] | None = release
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk
        self._complete = True

    async def aclose(self) -> None:
        release, self._release = self._release, None
        try:
            await self._stream.aclose()
        finally:
            if release is not None:
                release(self._complete)
