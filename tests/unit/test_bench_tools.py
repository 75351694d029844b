"""The profile aids under bench/ keep working (they time nothing here; the benchmark has its smoke mode)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.chart import render
from bench.instructions import answer_all, drive, parse_total
from bench.layers import measure
from bench.layers import render as render_layers
from bench.profile_response import prepare
from bench.runner import DISTRIBUTION_QUANTILES, distribution, warm_point
from service.errors import TransactionError


@pytest.fixture
def structlog_restored() -> Iterator[None]:
    """bench.profile_response quiets structlog globally (as a command should); later tests read logs."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.usefixtures("structlog_restored")
def test_layers_measures_every_step_on_verified_responses() -> None:
    """bench.layers times create, request object and response at both layers; it stops (SystemExit) when
    an answer is not the honest path's or a response is not decided ``verified``."""
    results = asyncio.run(measure(50))
    assert list(results) == ["create", "request object", "response"]
    for layers in results.values():
        assert layers["use case"] > 0
        assert layers["ASGI app"] > 0
    assert "| **flow** |" in render_layers(results)


@pytest.mark.usefixtures("structlog_restored")
def test_instruction_counter_answers_every_response_without_a_loop() -> None:
    """bench.instructions drives each response to its end with no event loop (what callgrind counts)."""
    verifier, jobs = prepare(3, "draft")
    assert answer_all(verifier, jobs) == 3
    with pytest.raises(TransactionError, match="replayed"):
        answer_all(verifier, jobs[:1])  # a refused response stops the count instead of being counted


def test_instruction_counter_stops_on_an_answer_off_the_honest_path() -> None:
    class Redirecting:
        async def respond(self, handle: str, body: bytes) -> dict[str, str]:
            return {"redirect_uri": "https://wallet.example/done"}

    with pytest.raises(SystemExit, match="not answered"):
        answer_all(Redirecting(), [("handle", b"body")])


def test_instruction_counter_refuses_a_response_that_waits() -> None:
    async def waits() -> None:
        await asyncio.sleep(0)

    async def finishes() -> int:
        return 7

    assert drive(finishes()) == 7
    with pytest.raises(SystemExit, match="waited on I/O"):
        drive(waits())


def test_instruction_total_is_read_from_callgrind_output() -> None:
    assert parse_total("events: Ir\nsummary: 251341627\ntotals: 251341627\n") == 251341627
    with pytest.raises(SystemExit, match="no summary"):
        parse_total("events: Ir\n")


@settings(max_examples=200)
@given(st.lists(st.floats(min_value=0, max_value=60, allow_nan=False), min_size=1, max_size=300))
def test_latency_distribution_is_the_samples_in_rank_order(seconds: list[float]) -> None:
    """Every point is a sample (nearest rank), the curve never falls, and it runs from the minimum to the
    maximum: the chart's tail is what was measured, not an interpolation."""
    points = distribution(seconds)
    assert [q for q, _ in points] == list(DISTRIBUTION_QUANTILES)
    values = [ms for _, ms in points]
    assert values == sorted(values)
    assert values[0] == min(seconds) * 1e3
    assert values[-1] == max(seconds) * 1e3
    assert all(any(ms == s * 1e3 for s in seconds) for ms in values)


def test_chart_renders_a_png_of_the_open_loop_distributions(tmp_path: Path) -> None:
    phase = {"target_rate": 500.0, "post_distribution_ms": distribution([0.002, 0.003, 0.05])}
    phase["e2e_distribution_ms"] = distribution([0.004, 0.006, 0.08])
    data = {
        "started": "2026-12-07T00:00:00Z",
        "options": {"n": 3},
        "scenarios": [{"scenario": "ed25519-1vc", "open_loop": {"50%": phase, "80%": phase}}],
    }
    path = render(data, tmp_path / "chart.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    del phase["post_distribution_ms"]
    with pytest.raises(ValueError, match="no latency distribution"):
        render(data, tmp_path / "old.png")


def test_warm_point_waits_for_the_did_cache_and_two_ttls() -> None:
    """The soak compares RSS against the first sample with the DID cache full *and* 2 x TTL elapsed; a
    soak that never gets there has no warm point (too short to tell warm-up from a leak)."""
    series = [
        {"verifications": 0.0, "seconds": 0.0, "rss_kib": 1.0},
        {"verifications": 5000.0, "seconds": 50.0, "rss_kib": 2.0},  # cache full, replay guard still growing
        {"verifications": 9000.0, "seconds": 121.0, "rss_kib": 3.0},
        {"verifications": 13000.0, "seconds": 170.0, "rss_kib": 3.0},
    ]
    assert warm_point(series, ttl=60) == series[2]
    assert warm_point(series, ttl=600) is None
    early = [{"verifications": 3000.0, "seconds": 500.0, "rss_kib": 1.0}]  # long enough, cache not full
    assert warm_point(early, ttl=60) is None
