"""One benchmark run: start the service and the sink, then per scenario pre-generate, measure, verify."""

from __future__ import annotations

import gc
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.floor import Floor, measure_floor, on_core
from bench.load import LoadRun, closed_loop, open_loop
from bench.procs import (
    BenchError,
    ServiceProcess,
    SinkProcess,
    cpu_layout,
    machine_busy_seconds,
    proc_cpu_seconds,
)
from bench.sink import SinkLog
from bench.workload import Issuers, Prepared, Scenario, StepStats, prepare
from service.did.resolve import DEFAULT_DID_CACHE_SIZE
from tests.e2e.actors import VerificationError, verify_verdict

QUIET_CORES = 0.1


@dataclass(frozen=True)
class Options:
    """What to run."""

    n: int
    scenarios: Sequence[Scenario]
    sweep: Sequence[int]
    sweep_n: int
    soak: int
    ttl: int
    seed: int
    smoke: bool
    quiet_wait: float
    retries: int


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds (linear interpolation between order statistics)."""
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(q: float) -> float:
        pos = q * (len(ordered) - 1)
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

    return {"p50": at(0.5) * 1e3, "p95": at(0.95) * 1e3, "p99": at(0.99) * 1e3, "max": ordered[-1] * 1e3}


# Where the latency distribution is sampled for the chart (bench/chart.py): dense in the tail, where
# queueing shows; with N samples a quantile above 1 - 1/N is the maximum.
DISTRIBUTION_QUANTILES = (
    *(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9),
    *(0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0),
)


def distribution(values: Sequence[float]) -> list[tuple[float, float]]:
    """(quantile, milliseconds) pairs at DISTRIBUTION_QUANTILES, by nearest rank (values that occurred)."""
    ordered = sorted(values)
    if not ordered:
        return []
    last = len(ordered) - 1
    return [(q, ordered[min(last, round(q * last))] * 1e3) for q in DISTRIBUTION_QUANTILES]


@dataclass
class Phase:
    """One timed phase: every response posted, every verdict received."""

    name: str
    mode: str
    count: int
    clients: int | None
    target_rate: float | None
    post_rate: float
    verified_rate: float
    post_ms: dict[str, float]
    e2e_ms: dict[str, float]
    post_distribution_ms: list[tuple[float, float]]
    e2e_distribution_ms: list[tuple[float, float]]
    service_cpu_s: float
    cpu_per_verification_ms: float
    service_busy: float
    generator_busy: float
    other_load_cores: float
    max_send_lag_ms: float
    connections: int
    resent: int


@dataclass
class StepResult:
    """Create or request-object step, measured during pre-generation: latency one request at a time, CPU
    per request under load (the flow's figure; one at a time when the batch was too small for a loaded
    part) and one at a time."""

    count: int
    latency_ms: dict[str, float]
    cpu_per_op_ms: float
    loaded_count: int
    sequential_cpu_per_op_ms: float


@dataclass
class ScenarioResult:
    """Everything measured for one scenario."""

    scenario: str
    holder_alg: str
    credentials: int
    transactions: int
    create: StepResult
    request_object: StepResult
    sweep: list[Phase]
    saturation: Phase
    open_loop: dict[str, Phase]
    floor_ms: dict[str, float | int]
    floor_before_after_ms: tuple[float, float]
    cpu_per_flow_ms: float
    ratio: float
    verification_ratio: float
    ratio_openssl: float
    rss_after_mib: float
    peak_rss_mib: float
    verdicts_verified: int
    webhook_repeats: int
    other_load_cores: float
    background_before_cores: float
    attempts: int = 1


@dataclass
class SoakResult:
    """Memory while the service verifies M more responses."""

    scenario: str
    verifications: int
    clients: int
    series: list[dict[str, float]] = field(default_factory=list)
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0
    peak_rss_mib: float = 0.0
    cpu_per_verification_ms: float = 0.0
    second_half_growth_kib_per_1000: float = 0.0
    warm: dict[str, float] | None = None  # the first sample with both bounded caches full: warm_point
    growth_since_warm: float | None = None  # RSS at the end / RSS when warm - 1


def _step(stats: StepStats) -> StepResult:
    count = len(stats.latencies)
    sequential = stats.service_cpu / count * 1e3
    loaded = stats.loaded_cpu / stats.loaded_count * 1e3 if stats.loaded_count else sequential
    return StepResult(count, percentiles(stats.latencies), loaded, stats.loaded_count, sequential)


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


class Bench:
    """Owns the processes for one run."""

    def __init__(self, options: Options, log: Callable[[str], None]) -> None:
        self.options = options
        self.log = log
        self.issuers = Issuers()
        self.service_core, self.driver_core = cpu_layout()
        self._tmp = tempfile.TemporaryDirectory(prefix="verifier-bench-")
        workdir = Path(self._tmp.name)
        self.sink = SinkProcess.start(workdir, self.driver_core)
        self.sink_log = SinkLog(self.sink.log_path)
        try:
            self.service = ServiceProcess.start(
                workdir,
                trusted_issuers=self.issuers.trust_entries,
                webhook_url=self.sink.url,
                transaction_ttl=options.ttl,
                core=self.service_core,
            )
        except BaseException:
            self.sink.stop()
            raise
        if self.driver_core is not None:
            os.sched_setaffinity(0, {self.driver_core})
        self.http = httpx.Client(timeout=30)
        self.jwks: dict[str, Any] = self.http.get(f"{self.service.url}/.well-known/jwks.json").json()

    def close(self) -> None:
        """Stop everything this run started."""
        self.http.close()
        self.service.stop()
        self.sink.stop()
        self._tmp.cleanup()

    # --- phases --- #

    def _own_cpu(self) -> float:
        """CPU seconds of every process this benchmark runs (service, load generator, sink)."""
        return self.service.cpu_seconds() + time.process_time() + proc_cpu_seconds(self.sink.proc.pid)

    def background_load(self, seconds: float = 1.0) -> float:
        """Cores kept busy by processes that are not this benchmark's, over ``seconds``."""
        busy, own, started = machine_busy_seconds(), self._own_cpu(), time.monotonic()
        time.sleep(seconds)
        return (machine_busy_seconds() - busy - (self._own_cpu() - own)) / (time.monotonic() - started)

    def wait_quiet(self, patience: float) -> float:
        """Wait (up to ``patience`` seconds) until other processes use under 0.1 cores; return their load."""
        deadline = time.monotonic() + patience
        while True:
            load = self.background_load(0.5)
            if load < QUIET_CORES or time.monotonic() >= deadline:
                return load
            self.log(f"waiting for a quieter machine: other processes use {load:.2f} cores")

    def _phase(self, name: str, items: Sequence[Prepared], run: Callable[[], LoadRun], **meta: Any) -> Phase:
        """Run ``run`` over ``items`` and wait for every verdict; service CPU from its counters.

        The load generator's collector is off while it sends: its heap holds every pre-built response, and
        a full collection of it stalled the generator ~100 ms (seen in a GC trace), latency that would have
        been charged to the service. What a phase allocates is collected right after.
        """
        gc.collect()
        self.service.wait_idle()
        window0, busy0, own0 = time.monotonic(), machine_busy_seconds(), self._own_cpu()
        cpu0 = self.service.cpu_seconds()
        gen0 = time.process_time() + proc_cpu_seconds(self.sink.proc.pid)
        wall0 = time.monotonic()
        gc.disable()
        try:
            result = run()
        finally:
            gc.enable()
        generator = time.process_time() + proc_cpu_seconds(self.sink.proc.pid) - gen0
        generator_wall = time.monotonic() - wall0
        failed = [s for s in result.samples if s.status != 200]
        if failed:
            raise BenchError(
                f"{name}: {len(failed)} responses refused, e.g. {failed[0].status} {failed[0].error}"
            )
        arrivals = self.sink_log.wait_for({item.txn for item in items}, timeout=120)
        self.service.wait_idle()
        cpu = self.service.cpu_seconds() - cpu0
        foreign = machine_busy_seconds() - busy0 - (self._own_cpu() - own0)
        window = time.monotonic() - window0
        first = min(s.start for s in result.samples)
        posted = max(s.done for s in result.samples)
        delivered = max(a.time for a in arrivals.values())
        count = len(result.samples)
        post = [s.done - s.start for s in result.samples]
        e2e = [arrivals[s.txn].time - s.start for s in result.samples]
        return Phase(
            name=name,
            mode=meta.get("mode", "closed"),
            count=count,
            clients=meta.get("clients"),
            target_rate=meta.get("rate"),
            post_rate=count / (posted - first),
            verified_rate=count / (delivered - first),
            post_ms=percentiles(post),
            e2e_ms=percentiles(e2e),
            post_distribution_ms=distribution(post),
            e2e_distribution_ms=distribution(e2e),
            service_cpu_s=cpu,
            cpu_per_verification_ms=cpu / count * 1e3,
            service_busy=cpu / (delivered - first),
            generator_busy=generator / generator_wall,
            other_load_cores=max(0.0, foreign / window),
            max_send_lag_ms=result.max_send_lag * 1e3,
            connections=result.connections,
            resent=result.resent,
        )

    def closed(self, name: str, items: Sequence[Prepared], clients: int) -> Phase:
        """Closed loop with ``clients`` concurrent clients."""
        return self._phase(name, items, lambda: closed_loop(items, clients), clients=clients)

    def opened(self, name: str, items: Sequence[Prepared], rate: float) -> Phase:
        """Open loop at ``rate`` responses per second."""
        seed = self.options.seed + len(name)
        return self._phase(name, items, lambda: open_loop(items, rate, seed), mode="open", rate=rate)

    def floor(self, items: Sequence[Prepared]) -> Floor:
        """The signature floor of ``items``, timed on the service's core once the service is idle."""
        self.service.wait_idle()
        with on_core(self.service_core):
            return measure_floor(items)

    def verify_verdicts(self, items: Sequence[Prepared]) -> int:
        """Every verdict's signature verifies with the published JWKS and says ``verified``."""
        for item in items:
            arrival = self.sink_log.first[item.txn]
            try:
                claims = verify_verdict(arrival.body, self.jwks)
            except VerificationError as exc:
                raise BenchError(f"verdict for {item.txn} does not verify: {exc}") from exc
            if claims.get("txn") != item.txn or claims.get("result") != "verified":
                raise BenchError(f"verdict for {item.txn}: {claims.get('result')} {claims.get('errors')}")
        return len(items)

    # --- scenarios --- #

    def scenario(self, scenario: Scenario) -> ScenarioResult:
        """Pre-generate, floor, sweep, saturate, open loop at 50 % and 80 %, verify the verdicts."""
        opts = self.options
        background = self.wait_quiet(opts.quiet_wait)
        total = len(opts.sweep) * opts.sweep_n + 3 * opts.n
        self.log(f"[{scenario.name}] pre-generating {total} transactions and wallet responses")
        batch = prepare(self.service, self.http, scenario, self.issuers, total, scenario.name)
        items = batch.items
        floor_items = items[: max(opts.n, 50)]
        cursor = 0

        def take(count: int) -> list[Prepared]:
            nonlocal cursor
            chunk = items[cursor : cursor + count]
            cursor += count
            return chunk

        sweep: list[Phase] = []
        for clients in opts.sweep:
            phase = self.closed(f"closed K={clients}", take(opts.sweep_n), clients)
            self.log(f"[{scenario.name}] K={clients:<3} {phase.verified_rate:7.1f} verified/s")
            sweep.append(phase)
        best = max(sweep, key=lambda p: p.verified_rate)
        assert best.clients is not None
        self.log(f"[{scenario.name}] floor: timing the signature operations directly, on the service's core")
        floor_before = self.floor(floor_items)
        saturation = self.closed(f"saturation K={best.clients}", take(opts.n), best.clients)
        floor_after = self.floor(floor_items)
        floor = Floor.mean(floor_before, floor_after)
        self.log(f"[{scenario.name}] saturation {saturation.verified_rate:.1f}/s at K={best.clients}")
        rate = saturation.verified_rate
        open_results: dict[str, Phase] = {}
        for share in (50, 80):
            phase = self.opened(f"open {share}%", take(opts.n), rate * share / 100)
            open_results[f"{share}%"] = phase
            self.log(f"[{scenario.name}] open {share}%: POST p50 {phase.post_ms['p50']:.2f} ms")
        verified = self.verify_verdicts(items)
        create, fetch = _step(batch.create), _step(batch.request_object)
        cpu_flow = create.cpu_per_op_ms + fetch.cpu_per_op_ms + saturation.cpu_per_verification_ms
        one_sign = floor.sign_s / floor.signs
        return ScenarioResult(
            scenario=scenario.name,
            holder_alg=scenario.holder_alg,
            credentials=scenario.credentials,
            transactions=len(items),
            create=create,
            request_object=fetch,
            sweep=sweep,
            saturation=saturation,
            open_loop=open_results,
            floor_ms=_floor_ms(floor),
            floor_before_after_ms=(floor_before.total_openssl_s * 1e3, floor_after.total_openssl_s * 1e3),
            cpu_per_flow_ms=cpu_flow,
            ratio=cpu_flow / (floor.total_s * 1e3),
            ratio_openssl=cpu_flow / (floor.total_openssl_s * 1e3),
            verification_ratio=saturation.cpu_per_verification_ms / ((floor.total_s - one_sign) * 1e3),
            rss_after_mib=_mib(self.service.rss_kib()),
            peak_rss_mib=_mib(self.service.peak_rss_kib()),
            verdicts_verified=verified,
            webhook_repeats=self.sink_log.repeats,
            other_load_cores=max(p.other_load_cores for p in [*sweep, saturation, *open_results.values()]),
            background_before_cores=background,
        )

    def soak(self, scenario: Scenario, verifications: int, clients: int) -> SoakResult:
        """Verify ``verifications`` more responses in batches; sample RSS after each batch."""
        result = SoakResult(scenario.name, verifications, clients)
        result.rss_start_mib = _mib(self.service.rss_kib())
        size = min(1000, verifications)
        done, cpu, started = 0, 0.0, time.monotonic()
        result.series.append(
            {
                "verifications": 0,
                "rss_kib": self.service.rss_kib(),
                "rss_mib": result.rss_start_mib,
                "seconds": 0,
            }
        )
        while done < verifications:
            batch = prepare(
                self.service,
                self.http,
                scenario,
                self.issuers,
                min(size, verifications - done),
                f"soak-{done}",
            )
            phase = self.closed(f"soak {done}", batch.items, clients)
            self.verify_verdicts(batch.items)
            done += phase.count
            cpu += phase.service_cpu_s
            rss = self.service.rss_kib()
            result.series.append(
                {
                    "verifications": done,
                    "rss_kib": rss,
                    "rss_mib": _mib(rss),
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
            self.log(f"[soak] {done}/{verifications} verified, RSS {_mib(rss)} MiB")
        result.rss_end_mib = _mib(self.service.rss_kib())
        result.peak_rss_mib = _mib(self.service.peak_rss_kib())
        result.cpu_per_verification_ms = cpu / done * 1e3
        result.warm = warm_point(result.series, ttl=self.options.ttl)
        if result.warm is not None:
            result.growth_since_warm = result.series[-1]["rss_kib"] / result.warm["rss_kib"] - 1
        middle = next(p for p in result.series if p["verifications"] >= done / 2)
        last = result.series[-1]
        if last["verifications"] > middle["verifications"]:
            growth = (last["rss_kib"] - middle["rss_kib"]) / (last["verifications"] - middle["verifications"])
            result.second_half_growth_kib_per_1000 = round(growth * 1000, 1)
        return result


def warm_point(series: Sequence[dict[str, float]], *, ttl: float) -> dict[str, float] | None:
    """The first soak sample after which the service's bounded memory can no longer grow by design.

    Two structures grow at first and then stop: the holder DID cache (full after DEFAULT_DID_CACHE_SIZE
    verifications with a new holder each) and the replay guard (one entry per answered transaction, each
    dropped two TTLs later, so it is at its steady size once 2 x TTL seconds have passed). None when the
    soak ended before both: it was too short to tell warm-up from a leak.
    """
    for point in series:
        if point["verifications"] >= DEFAULT_DID_CACHE_SIZE and point["seconds"] >= 2 * ttl:
            return point
    return None


def _floor_ms(floor: Floor) -> dict[str, float | int]:
    data: dict[str, float | int] = {k: v for k, v in asdict(floor).items() if isinstance(v, int)}
    data |= {
        "holder_verify_ms": floor.holder_verify_s * 1e3,
        "issuer_verify_ms": floor.issuer_verify_s * 1e3,
        "sign_ms": floor.sign_s * 1e3,
        "total_ms": floor.total_s * 1e3,
        "holder_verify_openssl_ms": floor.holder_verify_openssl_s * 1e3,
        "issuer_verify_openssl_ms": floor.issuer_verify_openssl_s * 1e3,
        "total_openssl_ms": floor.total_openssl_s * 1e3,
        "operations": floor.operations,
    }
    return data
