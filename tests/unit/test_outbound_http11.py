"""The outbound HTTP/1.1 client against servers that answer byte for byte what each test scripts.

Every answer a real server may give (chunked, read-until-close, interim 1xx, a close at the worst moment,
garbage) ends in a response, or in ``OutboundUnavailable`` — never in a hang, a reuse of a connection in an
unknown state, or a request a header could split.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httptools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.outbound import OutboundPolicy, OutboundUnavailable, make_client, post, request
from service.outbound_http11 import encode_request
from tests.support.event_loops import each_event_loop, run  # noqa: F401 (a fixture, used by name)

pytestmark = pytest.mark.usefixtures("each_event_loop")


POLICY = OutboundPolicy(allow_http=True, allow_private=True, connect_timeout=2, read_timeout=2)
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@dataclass
class Step:
    """What the server does with one request on a connection: write ``answer`` (in ``pieces``), then close
    the connection if ``close``; with ``answer=None`` it closes without a word."""

    answer: bytes | None = OK
    close: bool = False
    pause: float = 0.0
    """Seconds between pieces."""
    pieces: int = 1


@dataclass
class ScriptedServer:
    """Serves the n-th connection with ``scripts[n]`` (the last one repeats), one Step per request."""

    scripts: Sequence[Sequence[Step]]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        try:
            for step in script:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line[15:]) for line in head.split(b"\r\n") if line.startswith(b"content-length: ")),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                if step.answer is not None:
                    await self._write(writer, step)
                if step.close or step.answer is None:
                    break
            else:
                await reader.read()  # keep the connection open until the client closes it
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, step: Step) -> None:
        assert step.answer is not None
        size = -(-len(step.answer) // step.pieces)
        for start in range(0, len(step.answer), size):
            writer.write(step.answer[start : start + size])
            await writer.drain()
            if step.pause:
                await asyncio.sleep(step.pause)


async def _posts(server: ScriptedServer, count: int, policy: OutboundPolicy = POLICY) -> list[Any]:
    """``count`` POSTs in sequence on one client; each result is the response or the exception raised."""
    results: list[Any] = []
    async with make_client(policy) as client:
        for _ in range(count):
            try:
                results.append(await post(client, server.url, body=b"{}", headers={}, policy=policy))
            except OutboundUnavailable as exc:
                results.append(exc)
    return results


def _scenario(scripts: Sequence[Sequence[Step]], count: int = 1, policy: OutboundPolicy = POLICY):
    async def go() -> tuple[list[Any], ScriptedServer]:
        async with ScriptedServer(scripts) as server:
            return await _posts(server, count, policy), server

    return run(go())


class TestResponses:
    def test_chunked_body_is_joined_and_the_connection_kept(self):
        chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n"
        [first, second], server = _scenario([[Step(chunked), Step(chunked)]], count=2)
        assert (first.status, first.body, second.body) == (200, b"ok!!!", b"ok!!!")
        assert server.connections == 1

    def test_body_until_close_is_complete_and_not_reused(self):
        """No Content-Length and not chunked: the body ends with the connection (RFC 9112 §6.3)."""
        [first, second], server = _scenario([[Step(b"HTTP/1.1 200 OK\r\n\r\nall of it", close=True)]], 2)
        assert (first.status, first.body, first.truncated, second.body) == (
            200,
            b"all of it",
            False,
            b"all of it",
        )
        assert server.connections == 2

    def test_interim_answers_are_skipped(self):
        interim = b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
        [response], _ = _scenario([[Step(interim + OK)]])
        assert (response.status, response.body, "link" in response.headers) == (200, b"ok", False)

    def test_repeated_headers_are_joined(self):
        answer = b"HTTP/1.1 200 OK\r\nx-a: 1\r\nX-A: 2\r\ncontent-length: 0\r\n\r\n"
        [response], _ = _scenario([[Step(answer)]])
        assert response.headers["x-a"] == "1, 2"

    @pytest.mark.parametrize(
        "answer",
        [
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
            OK + b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",  # a second answer nobody asked for
            OK + b"garbage",  # in the same packet as the answer: the answer stands
            b"HTTP/1.1 204 No Content\r\ncontent-length: 2\r\n\r\n{}",  # a 204 has no body (RFC 9110)
        ],
        ids=["connection-close", "http-1.0", "unasked-answer", "garbage-after", "body-on-204"],
    )
    def test_connection_is_not_reused_when_the_server_ends_it_or_says_too_much(self, answer):
        [first, second], server = _scenario([[Step(answer), Step(answer)]], count=2)
        assert first.status == second.status
        assert first.status in (200, 204)
        assert server.connections == 2

    @pytest.mark.parametrize(
        "answer",
        [
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\n",
            b"HTTP/1.1 2OO OK\r\n\r\n",
            b"NOT HTTP AT ALL\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\n" + b"x-h: 1\r\n" * 101 + b"content-length: 0\r\n\r\n",
            b"HTTP/1.1 000 Zero\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 600 Beyond\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 70_000 + b"\r\ncontent-length: 0\r\n\r\n",
        ],
        ids=[
            "upgrade",
            "bad-status",
            "not-http",
            "two-lengths",
            "bad-chunk",
            "many-headers",
            "status-000",
            "status-600",
            "101-without-upgrade",
            "huge-header",
        ],
    )
    def test_malformed_answers_fail_the_exchange(self, answer):
        [outcome], _ = _scenario([[Step(answer)]])
        assert isinstance(outcome, OutboundUnavailable)
        assert outcome.reason == "outbound.transport"

    def test_body_breaking_off_fails_the_exchange(self):
        cut = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nonly5"
        [outcome], _ = _scenario([[Step(cut, close=True)]])
        assert isinstance(outcome, OutboundUnavailable)
        assert outcome.reason == "outbound.transport"

    def test_answer_in_single_bytes_is_parsed(self):
        [response], _ = _scenario([[Step(OK, pieces=len(OK))]])
        assert (response.status, response.body) == (200, b"ok")

    def test_dripping_server_meets_the_overall_cap(self):
        """Each byte comes within the read timeout, but the exchange as a whole is capped."""
        policy = OutboundPolicy(allow_http=True, allow_private=True, connect_timeout=0.2, read_timeout=0.3)
        slow = Step(OK, pieces=len(OK), pause=0.1)
        [outcome], _ = _scenario([[slow]], policy=policy)
        assert isinstance(outcome, OutboundUnavailable)
        assert outcome.reason == "outbound.timeout"


class TestClosedConnections:
    def test_close_without_an_answer_on_a_new_connection_is_not_retried(self):
        [outcome], server = _scenario([[Step(None)]])
        assert isinstance(outcome, OutboundUnavailable)
        assert outcome.reason == "outbound.transport"
        assert (server.connections, len(server.requests)) == (1, 1)

    def test_kept_connection_closed_as_it_is_reused_is_retried_once_on_a_new_one(self):
        """The keep-alive race: the server drops the idle connection just as the next request goes out."""
        [first, second], server = _scenario([[Step(OK), Step(None)], [Step(OK)]], count=2)
        assert (first.status, second.status) == (200, 200)
        assert (server.connections, len(server.requests)) == (2, 3)

    def test_no_retry_once_the_answer_began(self):
        broken = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok"
        [first, second], server = _scenario([[Step(OK), Step(broken, close=True)], [Step(OK)]], count=2)
        assert first.status == 200
        assert isinstance(second, OutboundUnavailable)
        assert (server.connections, len(server.requests)) == (1, 2)

    def test_connection_closed_while_idle_is_not_taken(self):
        async def go() -> tuple[list[int], int]:
            async with ScriptedServer([[Step(OK, close=True)]]) as server, make_client(POLICY) as client:
                first = await post(client, server.url, body=b"", headers={}, policy=POLICY)
                await asyncio.sleep(0.05)  # the server's close has arrived
                second = await post(client, server.url, body=b"", headers={}, policy=POLICY)
                return [first.status, second.status], len(server.requests)

        statuses, sent = run(go())
        assert (statuses, sent) == ([200, 200], 2)

    def test_get_has_no_body_and_no_length(self):
        async def go() -> bytes:
            async with ScriptedServer([[Step(OK)]]) as server, make_client(POLICY) as client:
                await request(client, "GET", server.url, policy=POLICY)
                return server.requests[0]

        head = run(go())
        assert head.startswith(b"GET /hook HTTP/1.1\r\n")
        assert b"content-length" not in head


# --- encode_request: what the parser on the other side reads is exactly what was meant --- #


class _Parsed:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.messages = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.messages += 1


_names = st.text(alphabet=st.characters(codec="latin-1"), min_size=0, max_size=12)
_values = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)


@given(headers=st.lists(st.tuples(_names, _values), max_size=5), body=st.none() | st.binary(max_size=64))
def test_encoded_request_is_read_back_as_exactly_one_request_with_those_headers(headers, body):
    """Any header either is refused or arrives intact: never a split request, an extra header or a body
    of another length."""
    try:
        encoded = encode_request("POST", "/p?q=1", "sink.example", headers, body)
    except (ValueError, UnicodeError):
        return
    parsed = _Parsed()
    httptools.HttpRequestParser(parsed).feed_data(encoded)
    ours = [(b"host", b"sink.example")]
    ours += [(name.lower().encode(), value.encode("latin-1").strip(b" \t")) for name, value in headers]
    ours += [(b"content-length", str(len(body)).encode())] if body is not None else []
    ours += [(b"connection", b"keep-alive")]
    assert parsed.messages == 1
    assert [(name.lower(), value) for name, value in parsed.headers] == ours
    assert parsed.body == (body or b"")


@pytest.mark.parametrize("method", ["PUT", "HEAD", "get", "CONNECT"])
def test_only_get_and_post_are_sent(method):
    with pytest.raises(ValueError, match="method"):
        encode_request(method, "/", "h", [], None)
