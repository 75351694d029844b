"""Run a test's coroutines on the standard event loop and on uvloop, the one the service serves on.

uvloop's transports implement ``asyncio.Transport`` without deriving from it (an ``isinstance`` check that
passes on one loop fails on the other), so protocol-level code is tested on both. A module opts in with
``pytestmark = pytest.mark.usefixtures("each_event_loop")`` and runs its coroutines with ``run``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

__all__ = ["each_event_loop", "run"]

_runner: Callable[[Coroutine[Any, Any, Any]], Any] = asyncio.run


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion on the loop the current test is parametrized with."""
    return _runner(coro)


@pytest.fixture(params=["asyncio", "uvloop"])
def each_event_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys.modules[__name__], "_runner", uvloop.run if request.param == "uvloop" else asyncio.run
    )
