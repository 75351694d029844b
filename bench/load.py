"""Load generation over loopback HTTP: a closed loop (K clients back to back) and an open loop (Poisson).

Each request posts one pre-built, never reused wallet response. Times are ``time.monotonic()`` so they
compare with the sink's arrival stamps. In the open loop a request's latency counts from the moment it was
*scheduled* to go out, not when the client got round to sending it, so a stalled client cannot hide
queueing (no coordinated omission); how late the client was is reported as ``max_send_lag``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bench.workload import FORM, Prepared


@dataclass(frozen=True)
class Sample:
    """One POST of a wallet response."""

    txn: str
    start: float
    done: float
    status: int
    error: str | None


@dataclass(frozen=True)
class LoadRun:
    """The samples of one run and how late the open-loop scheduler was at worst."""

    samples: list[Sample]
    max_send_lag: float


def _client(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0))


async def _post(client: httpx.AsyncClient, item: Prepared, start: float) -> Sample:
    try:
        answer = await client.post(item.response_uri, content=item.body, headers=FORM)
    except httpx.HTTPError as exc:
        return Sample(item.txn, start, time.monotonic(), 0, f"{type(exc).__name__}: {exc}")
    error = None if answer.status_code == 200 else answer.text[:300]
    return Sample(item.txn, start, time.monotonic(), answer.status_code, error)


async def _closed(items: Sequence[Prepared], clients: int) -> LoadRun:
    samples: list[Sample] = []
    queue = iter(items)
    async with _client(clients) as client:

        async def worker() -> None:
            for item in queue:  # one shared iterator: each response is posted exactly once
                samples.append(await _post(client, item, time.monotonic()))

        await asyncio.gather(*(worker() for _ in range(clients)))
    return LoadRun(samples, 0.0)


async def _open(items: Sequence[Prepared], rate: float, seed: int, connections: int) -> LoadRun:
    rng = random.Random(seed)
    tasks: list[asyncio.Task[Sample]] = []
    max_lag = 0.0
    async with _client(connections) as client:
        scheduled = time.monotonic() + 0.01
        for item in items:
            scheduled += rng.expovariate(rate)
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, time.monotonic() - scheduled)
            tasks.append(asyncio.create_task(_post(client, item, scheduled)))
        samples = list(await asyncio.gather(*tasks))
    return LoadRun(samples, max_lag)


def closed_loop(items: Sequence[Prepared], clients: int) -> LoadRun:
    """``clients`` concurrent clients, each posting its next response as soon as the last one answered."""
    return asyncio.run(_closed(items, clients))


def open_loop(items: Sequence[Prepared], rate: float, seed: int, connections: int = 512) -> LoadRun:
    """Post at Poisson arrival times averaging ``rate`` per second, whatever the answers take."""
    return asyncio.run(_open(items, rate, seed, connections))
