"""Summarise a py-spy ``--format raw`` profile of the service by where the CPU goes, per flow step.

    py-spy record --pid <service worker> --rate 400 --format raw -o spy.txt   (while the benchmark runs)
    .venv/bin/python -m bench.spy_summary spy.txt [--top 25]

Each sample is put in the first category whose rule matches its stack (rules below, most specific first),
so the shares add up to 100 % of the samples in which the service was on CPU. Idle waits (thread-pool
workers blocked on their queue) and start-up imports are left out. The signature operations are counted
apart wherever they happen; "event loop and sockets" is what remains outside any request handler.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

Frames = Sequence[str]


def _has(*names: str) -> Callable[[Frames], bool]:
    return lambda frames: any(name in frame for frame in frames for name in names)


def _leaf(*names: str) -> Callable[[Frames], bool]:
    return lambda frames: any(name in frames[-1] for name in names)


# The signature math is a C call; py-spy (without --native) charges it to the Python line making it.
_CRYPTO_LEAVES = (
    "crypto_sign_open (",
    "_signature_valid (",
    "sign_jws (",
    "_verify_ed25519 (",
    "_sign (service/request_object",
)

RULES: list[tuple[str, Callable[[Frames], bool]]] = [
    ("(idle thread-pool worker)", _leaf("concurrent/futures/thread.py:81")),
    ("(start-up imports)", _has("_find_and_load")),
    ("signature operations (verify + sign)", _leaf(*_CRYPTO_LEAVES)),
    (
        "webhook delivery (outbox, HTTP client, TCP connect)",
        _has("MemoryOutbox._attempt", "HttpWebhookSender.send"),
    ),
    ("response: verification in Python", _has("verify_response")),
    ("response: verdict build, sign, enqueue", _has("Verifier._deliver", "sign_verdict")),
    ("response: form parse, unseal, replay, rest", _has("Verifier.respond")),
    ("request object: unseal, build, sign", _has("Verifier.request_object")),
    ("create: seal, links", _has("Verifier.create")),
    ("litestar (routing, DI, body, response)", _has("Litestar.__call__")),
    ("HTTP server protocol (parse, write)", _has("h11_impl", "httptools_impl", "granian")),
]
OTHER = "event loop and sockets (outside handlers)"
IGNORED = {"(idle thread-pool worker)", "(start-up imports)"}


def categorise(lines: Sequence[str]) -> tuple[Counter[str], Counter[str], int]:
    """(samples per category, own samples per leaf function, samples counted)."""
    categories: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        label = next((name for name, rule in RULES if rule(frames)), OTHER)
        categories[label] += int(count)
        if label not in IGNORED:
            leaves[frames[-1]] += int(count)
    counted = sum(n for label, n in categories.items() if label not in IGNORED)
    return categories, leaves, counted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spy_summary", description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25, help="how many leaf functions to list")
    args = parser.parse_args(argv)
    categories, leaves, counted = categorise(args.profile.read_text().splitlines())
    if not counted:
        print("no samples", file=sys.stderr)
        return 1
    print(f"{counted} samples on CPU\n\n| where | share |\n|---|--:|")
    for label, n in categories.most_common():
        if label not in IGNORED:
            print(f"| {label} | {n / counted * 100:.1f} % |")
    print(f"\nTop {args.top} functions by own samples:\n")
    for frame, n in leaves.most_common(args.top):
        print(f"- {n / counted * 100:4.1f} %  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
