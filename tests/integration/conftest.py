"""A real Redis for the store tests, and a real HTTP webhook receiver.

``redis_url`` uses the Redis on 127.0.0.1:6379 when one answers; otherwise it starts a throw-away
``redis-server`` (no persistence) on a free port for the session and shuts it down afterwards, so CI on a
fresh machine needs only the binary. Without the binary the tests are skipped, saying why (or fail, with
``REQUIRE_REDIS=1``). Each test gets its own ``key_prefix``, and every key containing it is deleted after
the test: tests never flush the database, so they can share a Redis with anything else.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from service.stores.redis_replay import connect

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _start_redis(binary: str, workdir: Path) -> tuple[str, Path]:
    port = free_port()
    pidfile = workdir / "redis.pid"
    subprocess.run(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--daemonize", "yes", "--dir", str(workdir), "--pidfile", str(pidfile)],
        check=True,
        capture_output=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _answers(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not answer within 10 s")
        time.sleep(0.05)
    return url, pidfile


def _stop_redis(url: str, pidfile: Path) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.shutdown(nosave=True)
    except redis.RedisError:
        # SHUTDOWN refused or the connection failed: stop the server we started, by its own pid.
        if pidfile.exists():
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a live Redis: the local one, or one started for this session."""
    if _answers(DEFAULT_URL):
        yield DEFAULT_URL
        return
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "no Redis answers on 127.0.0.1:6379 and redis-server is not installed"
        if os.environ.get("REQUIRE_REDIS") == "1":  # CI sets this, so the store tests cannot silently vanish
            pytest.fail(reason)
        pytest.skip(reason)
    url, pidfile = _start_redis(binary, tmp_path_factory.mktemp("redis"))
    print(f"\nno Redis on 127.0.0.1:6379; started {binary} at {url}", file=sys.stderr)
    try:
        yield url
    finally:
        _stop_redis(url, pidfile)


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:16]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client for looking at what the stores wrote."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@asynccontextmanager
async def redis_clients(url: str, count: int = 1) -> AsyncIterator[list[aioredis.Redis]]:
    """``count`` independent async clients (one per simulated replica), closed afterwards."""
    clients = [connect(url, connect_timeout=0.5) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], *, timeout: float = 10.0, step: float = 0.02
) -> None:
    """Wait until ``predicate`` holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


# --- A webhook receiver on a real socket --- #


class Receiver:
    """Records every webhook-id it is sent and which ones it answered with 2xx.

    ``status`` is what it answers right now (flip it to take the receiver "down" and "up"); with
    ``hold`` set, requests wait for ``release`` before answering (a send stuck in flight).
    """

    def __init__(self) -> None:
        self.status = 200
        self.hold = False
        self.release = threading.Event()
        self.attempts: list[str] = []
        self.delivered: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def answer(self, webhook_id: str) -> int:
        """Record an attempt and choose its status (at arrival, before any hold)."""
        with self._lock:
            status = self.status
            self.attempts.append(webhook_id)
            if 200 <= status < 300:
                self.delivered.append(webhook_id)
            return status

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # two replicas open up to 32 connections at once; the default backlog is 5


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            status = receiver.answer(self.headers.get("webhook-id", ""))
            if receiver.hold:
                receiver.release.wait(timeout=10)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests assert on what was recorded."""

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started receiver answering 200 until told otherwise."""
    server = Receiver().start()
    try:
        yield server
    finally:
        server.close()
