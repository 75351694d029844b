"""Profile the response step in-process (no HTTP, no server): where the verifier's own CPU goes.

    .venv/bin/python -m bench.profile_response [N] [draft|1.0] [--cumulative] [--callers] [--plain]

Creates N transactions through the real app (litestar TestClient), builds N distinct honest wallet
responses with the holder simulator, then runs ``Verifier.respond`` for each under cProfile and prints
the mean wall time per response and the top functions by own time (``--cumulative``: by time including
callees). Optimise against this, not by guess.

``--plain`` runs the same loop without cProfile, which inflates Python calls far more than C ones (such as
the signatures), and prints the CPU time per response: the figure to compare before and after a change.
It is timed in batches of 50 and reports the fastest and the median batch, so that a burst of other load
on a shared machine spoils one batch rather than the figure. On a noisy machine, compare in alternation.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import structlog
from litestar.testing import TestClient

from service.app import create_app
from service.keys import generate_keyring
from service.settings import load_settings
from tests.e2e.actors import Holder, Issuer, KeyPair, Wallet, WalletV1

_BATCH = 50
Job = tuple[str, bytes]  # (transaction handle, form body)


def prepare(count: int, protocol: str) -> tuple[Any, list[Job]]:
    """The app's Verifier and ``count`` distinct honest responses, each for its own transaction."""
    _app, verifier, jobs = prepare_app(count, protocol)
    return verifier, jobs


def prepare_app(count: int, protocol: str) -> tuple[Any, Any, list[Job]]:
    """The app, its Verifier and ``count`` distinct honest responses, each for its own transaction."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    issuer = Issuer(KeyPair.generate("ed25519"))
    trust = Path(tempfile.mkdtemp()) / "trust.json"
    trust.write_text(json.dumps({"issuers": [{"id": issuer.did}]}))
    settings = load_settings(
        {},
        trust_file=str(trust),
        webhook_url="http://127.0.0.1:9/unused",
        public_url="http://testserver.local",
        api_keys=("k",),
    )
    app = create_app(settings, keyring=generate_keyring())
    verifier = app.dependencies["verifier"].dependency()
    jobs = []
    with TestClient(app, base_url="http://testserver.local") as client:
        client.headers["authorization"] = "Bearer k"
        for _ in range(count):
            body = {"definition_id": "age-over-21", "protocol": protocol}
            created = client.post("/v1/presentations", json=body).json()
            holder = Holder(KeyPair.generate("ed25519"), "did:key")
            vc = issuer.issue(holder.id, {"ageOver21": True})
            if protocol == "1.0":
                v1 = WalletV1(holder, http=client)
                v1_request = v1.fetch_request(created["authorization_request_uri"])
                payload = v1.build_response_v1(v1_request, {"age_credential": v1.vp_for(v1_request, vc)})
                form = {"response": v1.encrypt(v1_request, payload)}
                response_uri = v1_request.response_uri
            else:
                wallet = Wallet(holder, http=client)
                request = wallet.fetch_request(created["authorization_request_uri"])
                form = wallet.build_response(request, [vc])
                response_uri = request.response_uri
            handle = urlsplit(response_uri).path.rsplit("/", 1)[1]
            jobs.append((handle, urlencode(form).encode()))
    return app, verifier, jobs


async def timed_batch(verifier: Any, jobs: list[Job]) -> float:
    """CPU milliseconds per response over ``jobs``."""
    started = time.process_time()
    for handle, body in jobs:
        await verifier.respond(handle, body)
    return (time.process_time() - started) / len(jobs) * 1000


async def plain(verifier: Any, jobs: list[Job]) -> None:
    batches = [await timed_batch(verifier, jobs[at : at + _BATCH]) for at in range(0, len(jobs), _BATCH)]
    print(
        f"CPU ms per response, no profiler: min {min(batches):.3f}, median {statistics.median(batches):.3f}"
    )


async def profiled(verifier: Any, jobs: list[Job]) -> None:
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for handle, body in jobs:
        await verifier.respond(handle, body)
    profile.disable()
    print(f"mean per response (under cProfile): {(time.perf_counter() - started) / len(jobs) * 1000:.2f} ms")
    cumulative = "--cumulative" in sys.argv
    stats = pstats.Stats(profile).sort_stats("cumulative" if cumulative else "tottime")
    stats.print_stats(40 if cumulative else 25)
    if "--callers" in sys.argv:
        stats.print_callers("fullmatch|search|findall")


def main() -> int:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    count = int(args[0]) if args else 300
    verifier, jobs = prepare(count, args[1] if len(args) > 1 else "draft")
    asyncio.run((plain if "--plain" in sys.argv else profiled)(verifier, jobs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
