"""Property fuzzing of the outbound HTTP/1.1 client's answer handling: whatever a server sends, in whatever
pieces, an exchange ends in a response (status in range, body within the cap) or a ``ProtocolFailure``.

A server is hostile input too: webhook receivers, did:web hosts and status-list servers are outside our
control. The connection is driven without sockets (a transport that records what is written), so each
example runs in microseconds; the server's close comes after the last piece, as a server's would.
"""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from service.outbound_http11 import Exchanged, Http11Connection, ProtocolFailure

from .test_parsers import mutated_bytes

ANSWERS = [
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n3\r\nabc\r\n0\r\nx-trailer: 1\r\n\r\n",
    b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
    b"HTTP/1.1 302 Found\r\nlocation: /x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    b"HTTP/1.1 500 Oops\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nerror",
    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\n",
]
LIMIT = 64


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


async def _exchange(answer: bytes, cuts: list[int]) -> Exchanged | ProtocolFailure:
    connection = Http11Connection()
    connection.connection_made(_Transport())  # type: ignore[arg-type]
    pending = asyncio.ensure_future(
        connection.exchange(b"GET / HTTP/1.1\r\n\r\n", limit=LIMIT, read_timeout=5)
    )
    await asyncio.sleep(0)  # the request is written, the answer awaited
    start = 0
    for cut in sorted(cuts):
        connection.data_received(answer[start:cut]) if cut > start else None
        start = max(start, cut)
    if start < len(answer):
        connection.data_received(answer[start:])
    connection.connection_lost(None)
    try:
        return await asyncio.wait_for(pending, timeout=1)
    except ProtocolFailure as failure:
        return failure


@given(
    answer=mutated_bytes(ANSWERS) | st.sampled_from(ANSWERS) | st.binary(max_size=200),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_any_answer_ends_in_a_response_or_a_protocol_failure(answer: bytes, cuts: list[int]) -> None:
    outcome = asyncio.run(_exchange(answer, cuts))
    if isinstance(outcome, Exchanged):
        assert 100 <= outcome.status <= 599
        assert outcome.status != 101
        assert len(outcome.body) <= LIMIT
        assert all(name == name.lower() for name in outcome.headers)
    else:
        assert isinstance(outcome, ProtocolFailure)
