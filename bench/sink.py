"""Webhook sink: a keep-alive HTTP/1.1 endpoint in its own process that timestamps every verdict.

The benchmark runs it as ``python -m bench.sink LOGFILE`` (pinned to the load generator's core). It
prints its port on the first line of stdout, then appends one line per POST to LOGFILE:
``<time.monotonic()> <body>``, taken when the whole body has arrived, and answers ``200`` with an empty
body on the same connection. CLOCK_MONOTONIC is system-wide on Linux, so the load generator can compare
these stamps with its own. The sink does no verification: the benchmark verifies every verdict after the
timed phases, outside the timing.

:class:`SinkLog` is the load generator's side: it tails LOGFILE and indexes arrivals by transaction id.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
_MAX_HEAD = 64 * 1024


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, out: BinaryIO
) -> None:
    """Read requests until the peer closes; record each body with its arrival time."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            stamp = time.monotonic()
            out.write(b"%.6f " % stamp + body.replace(b"\n", b"") + b"\n")
            out.flush()
            writer.write(_OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def _main(log_path: str) -> None:
    with open(log_path, "ab") as out:
        server = await asyncio.start_server(
            lambda r, w: _serve_connection(r, w, out), "127.0.0.1", 0, backlog=1024, limit=_MAX_HEAD
        )
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        async with server:
            await server.serve_forever()


@dataclass(frozen=True)
class Arrival:
    """One webhook POST as the sink saw it."""

    time: float
    body: str
    txn: str


def verdict_txn(jwt: str) -> str:
    """The ``txn`` claim of a verdict JWT, read without verifying (verification happens later)."""
    payload = jwt.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["txn"])


class SinkLog:
    """Tails the sink's log file; keeps the first arrival per transaction and counts repeats."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self.first: dict[str, Arrival] = {}
        self.repeats = 0

    def poll(self) -> None:
        """Read whatever the sink appended since the last poll."""
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            stamp, _, body = line.partition(b" ")
            text = body.decode("ascii")
            txn = verdict_txn(text)
            if txn in self.first:
                self.repeats += 1
            else:
                self.first[txn] = Arrival(float(stamp), text, txn)

    def wait_for(self, txns: set[str], timeout: float) -> dict[str, Arrival]:
        """Block until every transaction in ``txns`` has a webhook; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            missing = [t for t in txns if t not in self.first]
            if not missing:
                return {t: self.first[t] for t in txns}
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(missing)} of {len(txns)} verdicts never reached the sink")
            time.sleep(0.005)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(sys.argv[1]))
