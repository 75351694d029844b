"""Instructions per in-process response, counted by callgrind: the A/B figure that machine noise cannot move.

    .venv/bin/python -m bench.instructions [N] [draft|1.0]

Prepares N + 5 distinct honest wallet responses (as ``bench.profile_response`` does), answers five to warm
the caches, then answers the other N with ``Verifier.respond``, under ``valgrind --tool=callgrind`` with
counting switched on only inside ``map()``'s item step (``--toggle-collect=map_next``), through which the
N responses, and nothing else, are driven. It prints the instructions per response. Time on a shared
virtual machine moves by tens of percent between runs; this count moved by less than 0.1 % between two
runs of the same code, so a change of a few thousand instructions is visible. Instructions are not time
(interpreted code runs at a lower IPC than the signature code), so keep changes that the benchmark does
not contradict.

A response must finish without waiting on anything (the default in-memory stores): the counting is
synchronous, and one that would wait stops the run.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from bench.profile_response import Job, prepare

_WARM = 5
_CHILD = "--child"
_TOTALS = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def drive(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends to its result, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise SystemExit("bench.instructions: a response waited on I/O; count with the in-memory stores")


def answer(verifier: Any, job: Job) -> int:
    """One response, answered as the honest path is (else the run stops): 1."""
    if drive(verifier.respond(*job)) != {}:
        raise SystemExit("bench.instructions: a response was not answered as the honest path is")
    return 1


def answer_all(verifier: Any, jobs: list[Job]) -> int:
    """Answer every job inside ``map()`` (the only code callgrind counts); how many were verified."""
    return sum(map(answer, itertools.repeat(verifier), jobs))


def child(count: int, protocol: str) -> int:
    """The counted process: prepare, warm up outside ``map()``, then answer ``count`` responses in it."""
    verifier, jobs = prepare(count + _WARM, protocol)
    for job in jobs[:_WARM]:
        answer(verifier, job)
    answered = answer_all(verifier, jobs[_WARM:])
    print(f"answered {answered}")
    return 0


def count_instructions(count: int, protocol: str) -> int:
    """Total instructions callgrind counted over ``count`` responses in a child process."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("bench.instructions: valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            valgrind,
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=map_next",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.instructions",
            _CHILD,
            str(count),
            protocol,
        ]
        subprocess.run(command, check=True, capture_output=True)
        return parse_total(out.read_text())


def parse_total(callgrind_out: str) -> int:
    """The instruction total a callgrind output file records."""
    match = _TOTALS.search(callgrind_out)
    if match is None:
        raise SystemExit("bench.instructions: callgrind wrote no summary")
    return int(match.group(1))


def main(argv: list[str]) -> int:
    if argv[:1] == [_CHILD]:
        return child(int(argv[1]), argv[2])
    count = int(argv[0]) if argv else 60
    protocol = argv[1] if len(argv) > 1 else "draft"
    total = count_instructions(count, protocol)
    print(f"{total // count} instructions per response ({count} responses, {protocol}, in-process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
