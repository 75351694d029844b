"""The profile aids under bench/ keep working (they time nothing here; the benchmark has its smoke mode)."""

from __future__ import annotations

import asyncio

from bench.layers import measure, render


def test_layers_measures_every_step_on_verified_responses() -> None:
    """bench.layers times create, request object and response at both layers; it stops (SystemExit) when
    an answer is not the honest path's or a response is not decided ``verified``."""
    results = asyncio.run(measure(50))
    assert list(results) == ["create", "request object", "response"]
    for layers in results.values():
        assert layers["use case"] > 0
        assert layers["ASGI app"] > 0
    assert "| **flow** |" in render(results)
