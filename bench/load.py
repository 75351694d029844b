"""Load generation over loopback HTTP: a closed loop (K clients back to back) and an open loop (Poisson).

Each request posts one pre-built, never reused wallet response (already serialised to bytes). Times are
``time.monotonic()`` so they compare with the sink's arrival stamps. In the open loop a request's latency
counts from the moment it was *scheduled* to go out, not from when the client got round to sending it, so
a stalled client cannot hide queueing (no coordinated omission); how late the scheduler ran at worst is
reported as ``max_send_lag``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.wire import Pool, WireError, address
from bench.workload import Prepared


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
    """The samples of one run, the wall time it took, and how late the open-loop scheduler was at worst."""

    samples: list[Sample]
    max_send_lag: float
    connections: int
    resent: int


async def _post(pool: Pool, item: Prepared, start: float) -> Sample:
    try:
        reply = await pool.exchange(item.request)
    except (WireError, OSError) as exc:
        return Sample(item.txn, start, time.monotonic(), 0, f"{type(exc).__name__}: {exc}")
    error = None if reply.status == 200 else reply.body[:300].decode(errors="replace")
    return Sample(item.txn, start, time.monotonic(), reply.status, error)


def _pool(items: Sequence[Prepared]) -> Pool:
    return Pool(*address(items[0].response_uri))


async def _closed(items: Sequence[Prepared], clients: int) -> LoadRun:
    samples: list[Sample] = []
    queue = iter(items)
    pool = _pool(items)

    async def worker() -> None:
        for item in queue:  # one shared iterator: each response is posted exactly once
            samples.append(await _post(pool, item, time.monotonic()))

    try:
        await asyncio.gather(*(worker() for _ in range(clients)))
    finally:
        pool.close()
    return LoadRun(samples, 0.0, pool.opened, pool.resent)


async def _open(items: Sequence[Prepared], rate: float, seed: int) -> LoadRun:
    rng = random.Random(seed)
    tasks: list[asyncio.Task[Sample]] = []
    max_lag = 0.0
    pool = _pool(items)
    try:
        scheduled = time.monotonic() + 0.01
        for item in items:
            scheduled += rng.expovariate(rate)
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, time.monotonic() - scheduled)
            tasks.append(asyncio.create_task(_post(pool, item, scheduled)))
        samples = list(await asyncio.gather(*tasks))
    finally:
        pool.close()
    return LoadRun(samples, max_lag, pool.opened, pool.resent)


def closed_loop(items: Sequence[Prepared], clients: int) -> LoadRun:
    """``clients`` concurrent clients, each posting its next response as soon as the last one answered."""
    return asyncio.run(_closed(items, clients))


def open_loop(items: Sequence[Prepared], rate: float, seed: int) -> LoadRun:
    """Post at Poisson arrival times averaging ``rate`` per second, whatever the answers take."""
    return asyncio.run(_open(items, rate, seed))
