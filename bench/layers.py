"""Where a flow's CPU goes, layer by layer: the use case alone, then through the ASGI app (no server).

    .venv/bin/python -m bench.layers [N]

For each step of the flow (create, request object, response) this times, in the same process and in
alternating batches, the ``Verifier`` call alone and the same request sent through the app as the server
would hand it over (one ASGI call with a scope, the lanes, metrics and middleware, no sockets). Each of the
``N`` responses is a distinct honest wallet response for its own transaction, used once. What the served
service spends on top of the ASGI figure (uvicorn, the event loop, the kernel's loopback, the webhook
client) is the benchmark's figure minus this one. Medians over batches of 50 (a noisy machine spoils a
batch, not the figure); the app's share is the median of the paired batch differences. A profile aid,
not the benchmark: it asserts nothing about speed, but stops if any answer or verdict is not the honest
path's (201, 200, every response decided ``verified``).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec

from bench.profile_response import prepare_app
from service.verifier import PresentationRequest

_BATCH = 50
_CREATE_BODY = msgspec.json.encode({"definition_id": "age-over-21"})


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver.local"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


async def _asgi(app: Any, scope: dict[str, Any], body: bytes = b"") -> list[dict[str, Any]]:
    """One request through the app; the messages it sent."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _expect(sent: list[dict[str, Any]], status: int) -> list[dict[str, Any]]:
    """A wrong answer would time the wrong path: stop rather than print its cost."""
    if not sent or sent[0].get("status") != status:
        got = sent[0].get("status") if sent else None
        raise SystemExit(f"bench.layers: expected {status}, got {got}: {sent[1:2]}")
    return sent


def _create_scope() -> dict[str, Any]:
    length = str(len(_CREATE_BODY)).encode()
    headers = [(b"authorization", b"Bearer k"), (b"content-type", b"application/json")]
    return _scope("POST", "/v1/presentations", [*headers, (b"content-length", length)])


def _response_scope(handle: str, body: bytes) -> dict[str, Any]:
    headers = [
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body)).encode()),
    ]
    return _scope("POST", f"/wallet/responses/{handle}", headers)


Call = Callable[[int], Awaitable[None]]


async def _alternate(layers: dict[str, Call], count: int) -> dict[str, float]:
    """CPU ms per call of each layer, run in alternating batches over ``count`` items.

    Each figure is the median over batches; "share" is the median of the per-batch differences between the
    second layer and the first, which cancels most of the machine's drift between batches.
    """
    batches: dict[str, list[float]] = {name: [] for name in layers}
    for start in range(0, count - _BATCH + 1, _BATCH):
        for name, call in layers.items():
            began = time.process_time()
            for index in range(start, start + _BATCH):
                await call(index)
            batches[name].append((time.process_time() - began) / _BATCH * 1e3)
    first, second = batches.values()
    figures = {name: statistics.median(values) for name, values in batches.items()}
    figures["share"] = statistics.median(b - a for a, b in zip(first, second, strict=True))
    return figures


async def measure(count: int) -> dict[str, dict[str, float]]:
    """{step: {layer: CPU ms}} for the three steps of a flow."""
    app, verifier, jobs = prepare_app(2 * count, "draft")
    request = PresentationRequest(
        definition_id="age-over-21", presentation_definition=None, webhook_url=None, correlation_id=None
    )
    handles: dict[str, list[str]] = {"use case": [], "ASGI app": []}

    async def create_direct(_: int) -> None:
        created = await verifier.create(request)
        handles["use case"].append(_handle(created.request_uri))

    async def create_asgi(_: int) -> None:
        sent = _expect(await _asgi(app, _create_scope(), _CREATE_BODY), 201)
        handles["ASGI app"].append(_handle(msgspec.json.decode(sent[1]["body"])["request_uri"]))

    results = {"create": await _alternate({"use case": create_direct, "ASGI app": create_asgi}, count)}

    async def fetch_direct(index: int) -> None:
        await verifier.request_object(handles["use case"][index])

    async def fetch_asgi(index: int) -> None:
        _expect(await _asgi(app, _scope("GET", f"/wallet/requests/{handles['ASGI app'][index]}", [])), 200)

    results["request object"] = await _alternate({"use case": fetch_direct, "ASGI app": fetch_asgi}, count)
    direct_jobs, asgi_jobs = jobs[:count], jobs[count:]

    async def respond_direct(index: int) -> None:
        if await verifier.respond(*direct_jobs[index]) != {}:
            raise SystemExit("bench.layers: a response was not taken as a cross-device answer")

    async def respond_asgi(index: int) -> None:
        handle, body = asgi_jobs[index]
        _expect(await _asgi(app, _response_scope(handle, body), body), 200)

    results["response"] = await _alternate({"use case": respond_direct, "ASGI app": respond_asgi}, count)
    _check_all_verified(verifier, 2 * (count // _BATCH) * _BATCH)
    return results


def _check_all_verified(verifier: Any, expected: int) -> None:
    """Every response timed must have been decided ``verified``: a rejection is cheaper and would flatter."""
    decided: dict[str, float] = {}
    for metric in verifier.metrics.verifications.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                result = sample.labels["result"]
                decided[result] = decided.get(result, 0) + sample.value
    if decided != {"verified": expected}:
        raise SystemExit(f"bench.layers: expected {expected} verified responses, decided {decided}")


def _handle(uri: str) -> str:
    return urlsplit(uri).path.rsplit("/", 1)[1]


def render(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| step | use case alone, CPU ms | through the ASGI app | the app's share |",
        "|---|--:|--:|--:|",
    ]
    for step, layers in results.items():
        lines.append(
            f"| {step} | {layers['use case']:.3f} | {layers['ASGI app']:.3f} | {layers['share']:.3f} |"
        )
    total = {
        name: sum(layers[name] for layers in results.values()) for name in ("use case", "ASGI app", "share")
    }
    lines.append(f"| **flow** | {total['use case']:.3f} | {total['ASGI app']:.3f} | {total['share']:.3f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    count = max(_BATCH, int(args[0]) if args else 1000)
    print(render(asyncio.run(measure(count))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
