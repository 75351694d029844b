"""Keep-alive in the SSRF guard: connections are reused per host name and vetted IP, and only then.

Every test counts TCP connections on the server side, with a small HTTP/1.1 server that keeps them open.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from service.errors import ConfigurationError
from service.outbound import IPAddress, OutboundClient, OutboundPolicy, OutboundUnavailable, make_client, post
from tests.support.event_loops import each_event_loop, run  # noqa: F401 (a fixture, used by name)
from tests.unit.test_outbound import certificate

NAMES = frozenset({"a.example", "b.example", "sink.example", "other.example"})
POLICY = OutboundPolicy(allow_http=True, allowed_private_hosts=NAMES, connect_timeout=2, read_timeout=2)


@dataclass(frozen=True)
class Reply:
    """The answer to one path: a 200 with ``body``, after ``delay``, announcing ``missing`` more bytes."""

    body: bytes = b"ok"
    delay: float = 0.0
    missing: int = 0
    """Bytes promised by Content-Length but never sent: the body breaks off mid-way."""


@dataclass
class Connection:
    """One accepted TCP connection: the server address it reached and the Host of each request on it."""

    local: str
    hosts: list[str] = field(default_factory=list)
    closed: bool = False


class KeepAliveServer:
    """An HTTP/1.1 server on the test's event loop that keeps every connection open until the peer closes.

    It listens on the same port at each of ``addresses``; ``tls`` wraps every connection.
    """

    def __init__(
        self,
        replies: Mapping[str, Reply] | None = None,
        *,
        addresses: Sequence[str] = ("127.0.0.1",),
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._replies = dict(replies or {})
        self._addresses = addresses
        self._tls = tls
        self._servers: list[asyncio.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections: list[Connection] = []
        self.port = 0

    async def __aenter__(self) -> KeepAliveServer:
        for address in self._addresses:
            server = await asyncio.start_server(self._serve, address, self.port, ssl=self._tls)
            self.port = server.sockets[0].getsockname()[1]
            self._servers.append(server)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.close()
        for server in self._servers:
            await server.wait_closed()

    def url(self, host: str, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    @property
    def open_connections(self) -> list[int]:
        return [index for index, conn in enumerate(self.connections) if not conn.closed]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(local=writer.get_extra_info("sockname")[0])
        self.connections.append(conn)
        self._writers.add(writer)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *lines = head.split("\r\n")
                headers = {}
                for line in filter(None, lines):
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                conn.hosts.append(headers["host"])
                reply = self._replies.get(request_line.split(" ")[1], Reply())
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                length = len(reply.body) + reply.missing
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (length, reply.body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection
        finally:
            conn.closed = True
            self._writers.discard(writer)
            writer.close()


class Dns:
    """An injected resolver: each name answers what ``records`` says at the time of the request."""

    def __init__(self, **records: str) -> None:
        self.records = {name.replace("_", "."): address for name, address in records.items()}

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(self.records[host])]


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait until the server has seen what ``condition`` checks (a peer's close arrives asynchronously)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def send(
    client: OutboundClient, url: str, dns: Dns, policy: OutboundPolicy = POLICY
) -> tuple[int, bytes, bool]:
    response = await post(client, url, body=b"{}", headers={}, policy=policy, resolver=dns)
    return response.status, response.body, response.truncated


pytestmark = pytest.mark.usefixtures("each_event_loop")


LOOPBACK = Dns(
    a_example="127.0.0.1", b_example="127.0.0.1", sink_example="127.0.0.1", other_example="127.0.0.1"
)


class TestReuse:
    def test_sequential_posts_to_one_origin_share_one_connection(self):
        """Three posts to the same host name travel over a single TCP connection, left open."""

        async def go() -> None:
            async with KeepAliveServer() as server, make_client(POLICY) as client:
                for _ in range(3):
                    assert await send(client, server.url("a.example"), LOOPBACK) == (200, b"ok", False)
                assert len(server.connections) == 1
                assert server.connections[0].hosts == [f"a.example:{server.port}"] * 3
                assert server.open_connections == [0]

        run(go())

    def test_concurrent_posts_reuse_their_connections(self):
        """Eight posts at once open at most eight connections; eight more reuse them, one each at a time."""

        async def go() -> None:
            async with KeepAliveServer({"/slow": Reply(delay=0.05)}) as server, make_client(POLICY) as client:
                url = server.url("a.example", "/slow")
                await asyncio.gather(*(send(client, url, LOOPBACK) for _ in range(8)))
                opened = len(server.connections)
                assert opened <= 8
                await asyncio.gather(*(send(client, url, LOOPBACK) for _ in range(8)))
                assert len(server.connections) == opened
                assert sum(len(conn.hosts) for conn in server.connections) == 16

        run(go())

    def test_idle_connection_expires(self):
        """A connection idle for longer than the keep-alive expiry is closed, not reused."""

        async def go() -> None:
            async with KeepAliveServer() as server, make_client(POLICY, keepalive_expiry=0.1) as client:
                await send(client, server.url("a.example"), LOOPBACK)
                await asyncio.sleep(0.2)
                await send(client, server.url("a.example"), LOOPBACK)
                await until(lambda: server.open_connections == [1])

        run(go())

    def test_names_sharing_an_ip_never_share_a_connection(self):
        """Two names resolving to the same IP and port get a connection each, each used for its name only."""

        async def go() -> None:
            async with KeepAliveServer() as server, make_client(POLICY) as client:
                for name in ("a.example", "b.example", "a.example", "b.example"):
                    await send(client, server.url(name), LOOPBACK)
                assert [set(conn.hosts) for conn in server.connections] == [
                    {f"a.example:{server.port}"},
                    {f"b.example:{server.port}"},
                ]

        run(go())

    def test_a_new_dns_answer_gets_its_own_connection(self):
        """When the name moves to another (vetted) address, the request connects there afresh."""

        async def go() -> None:
            dns = Dns(a_example="127.0.0.1")
            async with KeepAliveServer(addresses=("127.0.0.1", "127.0.0.2")) as server:
                async with make_client(POLICY) as client:
                    await send(client, server.url("a.example"), dns)
                    dns.records["a.example"] = "127.0.0.2"
                    await send(client, server.url("a.example"), dns)
                assert [conn.local for conn in server.connections] == ["127.0.0.1", "127.0.0.2"]
                assert [len(conn.hosts) for conn in server.connections] == [1, 1]

        run(go())

    def test_tls_connection_is_not_reused_for_another_name(self, tmp_path: Path):
        """A connection that verified sink.example's certificate is never lent to other.example on the
        same IP: that request makes its own handshake and fails it, while sink.example keeps reusing."""
        cert_pem, key_pem = certificate("sink.example")
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        client_context = ssl.create_default_context(cadata=cert_pem.decode())

        (tmp_path / "cert.pem").write_bytes(cert_pem)
        (tmp_path / "key.pem").write_bytes(key_pem)
        server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

        async def go() -> None:
            async with (
                KeepAliveServer(tls=server_context) as server,
                make_client(POLICY, verify=client_context) as client,
            ):
                assert (await send(client, server.url("sink.example", scheme="https"), LOOPBACK))[0] == 200
                with pytest.raises(OutboundUnavailable) as caught:
                    await send(client, server.url("other.example", scheme="https"), LOOPBACK)
                assert caught.value.reason == "outbound.connect"
                assert (await send(client, server.url("sink.example", scheme="https"), LOOPBACK))[0] == 200
                # The failed handshake never reached the HTTP layer; both requests used connection 0.
                assert [len(conn.hosts) for conn in server.connections] == [2]

        run(go())


class TestUnfinishedBodies:
    def test_oversized_response_closes_its_connection(self):
        """A body cut at max_response_bytes is not read to its end: the connection closes, the next
        request opens a new one. A body of exactly the cap is complete and its connection is reused."""
        policy = OutboundPolicy(
            allow_http=True,
            allowed_private_hosts=NAMES,
            connect_timeout=2,
            read_timeout=2,
            max_response_bytes=1000,
        )
        replies = {"/big": Reply(body=b"x" * 100_000), "/exact": Reply(body=b"y" * 1000)}

        async def go() -> None:
            async with KeepAliveServer(replies) as server, make_client(policy) as client:
                status, body, truncated = await send(
                    client, server.url("a.example", "/big"), LOOPBACK, policy
                )
                assert (status, len(body), truncated) == (200, 1000, True)
                await until(lambda: server.connections[0].closed)
                for _ in range(2):
                    status, body, truncated = await send(
                        client, server.url("a.example", "/exact"), LOOPBACK, policy
                    )
                    assert (len(body), truncated) == (1000, False)
                assert [len(conn.hosts) for conn in server.connections] == [1, 2]
                assert server.open_connections == [1]

        run(go())

    def test_body_breaking_off_closes_its_connection(self):
        """A response that stops short of its Content-Length times out, and its connection is closed."""
        policy = OutboundPolicy(
            allow_http=True, allowed_private_hosts=NAMES, connect_timeout=2, read_timeout=0.2
        )

        async def go() -> None:
            async with (
                KeepAliveServer({"/short": Reply(missing=10)}) as server,
                make_client(policy) as client,
            ):
                with pytest.raises(OutboundUnavailable) as caught:
                    await send(client, server.url("a.example", "/short"), LOOPBACK, policy)
                assert caught.value.reason == "outbound.timeout"
                await until(lambda: server.connections[0].closed)
                await send(client, server.url("a.example"), LOOPBACK, policy)
                assert len(server.connections) == 2

        run(go())


class TestEviction:
    def test_least_recently_used_origin_is_closed(self):
        """With room for one origin, a second one evicts the first and closes its connection."""

        async def go() -> None:
            async with KeepAliveServer() as server, make_client(POLICY, max_origins=1) as client:
                await send(client, server.url("a.example"), LOOPBACK)
                await send(client, server.url("b.example"), LOOPBACK)
                await until(lambda: server.connections[0].closed)
                assert server.open_connections == [1]
                await send(client, server.url("a.example"), LOOPBACK)  # a new pool, a new connection
                await until(lambda: server.open_connections == [2])

        run(go())

    def test_origin_evicted_while_in_use_finishes_then_closes(self):
        """An exchange in flight when its origin is evicted completes; then its connection is closed."""

        async def go() -> None:
            async with (
                KeepAliveServer({"/slow": Reply(delay=0.3)}) as server,
                make_client(POLICY, max_origins=1) as client,
            ):
                slow = asyncio.create_task(send(client, server.url("a.example", "/slow"), LOOPBACK))
                await until(lambda: bool(server.connections and server.connections[0].hosts))
                await send(client, server.url("b.example"), LOOPBACK)
                assert not server.connections[0].closed
                assert await slow == (200, b"ok", False)
                await until(lambda: server.open_connections == [1])

        run(go())

    def test_closing_the_client_closes_every_connection(self):
        """aclose (the app's shutdown) closes the pooled connections of every origin."""

        async def go() -> None:
            async with KeepAliveServer() as server:
                client = make_client(POLICY)
                for name in ("a.example", "b.example"):
                    await send(client, server.url(name), LOOPBACK)
                assert server.open_connections == [0, 1]
                await client.aclose()
                await until(lambda: server.open_connections == [])

        run(go())

    def test_max_origins_must_be_positive(self):
        """A client without room for one origin, or without keep-alive time, is a configuration error."""
        with pytest.raises(ConfigurationError):
            make_client(POLICY, max_origins=0)
        with pytest.raises(ConfigurationError):
            make_client(POLICY, keepalive_expiry=0)
