"""Keep-alive for SSRF-guarded outbound HTTP (the connections under ``service.outbound.OutboundClient``).

A connection is reused only for the same origin name (scheme, TLS name, ``Host``, port) — so never lent to
another host name that happens to resolve to the same IP, which would skip that name's certificate check —
and only for the vetted IP the request was pinned to after this request's own DNS check. A connection
serves one exchange at a time: taking one is a synchronous pop, so concurrent requests never race for it.
It goes back to its list only when its response ended where the server said and the server keeps it
open; otherwise it is closed. Names are kept least-recently-used, bounded; evicted ones are closed.

A connection the server closed while it sat idle is dropped when next taken. One closed in the instant it
is reused fails before any answer arrives; the exchange is then sent once more on a new connection (the
request never reached a live server; webhook receivers dedupe by ``webhook-id`` in any case).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, TypeAlias

import httpx

from service.outbound_http11 import Exchanged, Http11Connection, ProtocolFailure

__all__ = ["ConnectFailure", "Destination", "OriginPools", "PoolTimeout"]

_MAX_CONNECTIONS: Final = 100  # in use at once, all origins; more wait for the pool timeout
_MAX_IDLE_PER_ORIGIN: Final = 16  # as many as the webhook outbox sends at once
_MAX_IDLE: Final = 100


class PoolTimeout(Exception):
    """No connection slot became free within the connect timeout."""


class ConnectFailure(Exception):
    """No connection could be made (refused, unreachable, TLS handshake or certificate, timeout): nothing
    was sent, so another address of the same name may be tried."""


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one exchange goes: the origin name it is for and the vetted address it is pinned to."""

    scheme: str
    tls_name: str | None
    """The name TLS sends (SNI) and verifies; None for plain HTTP."""
    host_header: str
    port: int
    address: str
    """The vetted IP, as text."""

    @property
    def origin(self) -> _OriginKey:
        return self.scheme, self.tls_name, self.host_header, self.port


_OriginKey: TypeAlias = tuple[str, str | None, str, int]
_Idle: TypeAlias = tuple[Http11Connection, float]
"""A connection nobody uses, and since when (monotonic seconds)."""


class _Origin:
    """The connections of one origin name: idle ones by vetted IP (oldest first), and those in use."""

    __slots__ = ("busy", "idle", "retired")

    def __init__(self) -> None:
        self.idle: dict[str, list[_Idle]] = {}
        self.busy: set[Http11Connection] = set()
        self.retired = False
        """Evicted or shut down: connections in use are closed when they come back."""


class OriginPools:
    """Keep-alive connections keyed by origin name (at most ``max_origins``, LRU), then by vetted IP."""

    def __init__(self, *, verify: ssl.SSLContext | bool, max_origins: int, keepalive_expiry: float) -> None:
        self._verify = verify
        self._ssl_context: ssl.SSLContext | None = None  # one for all connections, built at the first use
        self._max_origins = max_origins
        self._expiry = keepalive_expiry
        self._origins: OrderedDict[_OriginKey, _Origin] = OrderedDict()
        self._in_use = asyncio.Semaphore(_MAX_CONNECTIONS)
        self._idle_count = 0
        self._next_sweep = 0.0

    async def exchange(
        self,
        destination: Destination,
        request: bytes,
        *,
        limit: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> Exchanged:
        """Send ``request`` on a kept connection to ``destination`` or a new one; read at most ``limit``
        body bytes. Raises ``ConnectFailure`` when no connection could be made (nothing was sent),
        ``ProtocolFailure`` or ``TimeoutError`` once it was sent, ``PoolTimeout`` when no slot frees."""
        await self._acquire(connect_timeout)
        try:
            return await self._send(destination, request, limit, connect_timeout, read_timeout)
        finally:
            self._in_use.release()

    async def aclose(self) -> None:
        """Close every connection, in use or not (shutdown)."""
        origins = list(self._origins.values())
        self._origins.clear()
        for origin in origins:
            self._retire(origin, close_busy=True)

    async def _send(
        self,
        destination: Destination,
        request: bytes,
        limit: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> Exchanged:
        origin = self._origin(destination.origin)
        kept = self._checkout(origin, destination.address)
        if kept is not None:
            try:
                return await self._exchange_on(
                    origin, destination, kept, request, limit=limit, read_timeout=read_timeout
                )
            except ProtocolFailure as failure:
                if not failure.before_response:
                    raise
                # The server closed the idle connection just as it was reused: once more, on a new one.
        connection = await self._connect(destination, connect_timeout)
        origin.busy.add(connection)
        return await self._exchange_on(
            origin, destination, connection, request, limit=limit, read_timeout=read_timeout
        )

    async def _exchange_on(
        self,
        origin: _Origin,
        destination: Destination,
        connection: Http11Connection,
        request: bytes,
        *,
        limit: int,
        read_timeout: float,
    ) -> Exchanged:
        reusable = False
        try:
            response = await connection.exchange(request, limit=limit, read_timeout=read_timeout)
            reusable = response.reusable
            return response
        finally:
            self._checkin(origin, destination.address, connection, reusable=reusable)

    async def _acquire(self, timeout: float) -> None:
        """A slot among ``_MAX_CONNECTIONS`` in use, waiting at most ``timeout``."""
        if not self._in_use.locked():
            await self._in_use.acquire()  # free: returns at once
            return
        try:
            async with asyncio.timeout(timeout):
                await self._in_use.acquire()
        except TimeoutError as exc:
            raise PoolTimeout("No outbound connection became free in time") from exc

    async def _connect(self, destination: Destination, timeout: float) -> Http11Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls() if destination.scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                _transport, connection = await loop.create_connection(
                    Http11Connection,
                    host=destination.address,
                    port=destination.port,
                    ssl=tls,
                    server_hostname=destination.tls_name if tls is not None else None,
                )
        except (OSError, TimeoutError) as exc:  # ssl.SSLError (the certificate) is an OSError too
            raise ConnectFailure(str(exc) or type(exc).__name__) from exc
        return connection

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            # httpx's context: the certifi roots the service has always used, and no environment overrides.
            self._ssl_context = httpx.create_ssl_context(verify=self._verify, trust_env=False)
        return self._ssl_context

    def _origin(self, key: _OriginKey) -> _Origin:
        origin = self._origins.get(key)
        if origin is not None:
            self._origins.move_to_end(key)
            return origin
        origin = self._origins[key] = _Origin()
        while len(self._origins) > self._max_origins:
            self._retire(self._origins.popitem(last=False)[1], close_busy=False)
        return origin

    def _checkout(self, origin: _Origin, address: str) -> Http11Connection | None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        idle = origin.idle.get(address)
        while idle:
            connection, since = idle.pop()
            self._idle_count -= 1
            if connection.closed or now - since > self._expiry:
                connection.close()
                continue
            origin.busy.add(connection)
            return connection
        return None

    def _checkin(
        self, origin: _Origin, address: str, connection: Http11Connection, *, reusable: bool
    ) -> None:
        if connection not in origin.busy:
            return  # already handed back (a retried exchange) or closed by shutdown
        origin.busy.discard(connection)
        idle = origin.idle.setdefault(address, [])
        if (
            not reusable
            or connection.closed
            or origin.retired
            or len(idle) >= _MAX_IDLE_PER_ORIGIN
            or self._idle_count >= _MAX_IDLE
        ):
            connection.close()
            if not idle:
                del origin.idle[address]
            return
        idle.append((connection, time.monotonic()))
        self._idle_count += 1

    def _sweep(self, now: float) -> None:
        """Close the connections idle for longer than the expiry (at most once per expiry period)."""
        self._next_sweep = now + self._expiry
        for origin in self._origins.values():
            for address, idle in list(origin.idle.items()):
                fresh = [(conn, since) for conn, since in idle if now - since <= self._expiry]
                for conn, since in idle:
                    if now - since > self._expiry:
                        conn.close()
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
            for connection, _since in idle:
                connection.close()
        origin.idle.clear()
        if close_busy:
            for connection in origin.busy:
                connection.close()
