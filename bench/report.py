"""The machine description, and the results as JSON and as a Markdown table."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from cryptography.hazmat.backends.openssl import backend as openssl_backend

from bench.runner import QUIET_CORES, ScenarioResult, SoakResult
from service.did.resolve import DEFAULT_DID_CACHE_SIZE

PACKAGES = (
    "litestar",
    "uvicorn",
    "uvloop",
    "httptools",
    "httpx",
    "cryptography",
    "pynacl",
    "msgspec",
    "joserfc",
)


def _cpuinfo(key: str) -> str | None:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def _cpu_id() -> str | None:
    fields = (("family", "cpu family"), ("model", "model"), ("stepping", "stepping"))
    known = [f"{label} {value}" for label, key in fields if (value := _cpuinfo(key)) is not None]
    return ", ".join(known) or None


def service_revision() -> str:
    """The commit the measured service code comes from, and whether service/ had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "service", "definitions", "pyproject.toml"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} with uncommitted changes to service/" if dirty else commit


def machine(service_core: int | None, driver_core: int | None) -> dict[str, Any]:
    """What the numbers were measured on."""
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    flags = (_cpuinfo("flags") or "").split()
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_model": _cpuinfo("model name"),
        # A virtual machine's model name can be as vague as "AMD EPYC": family, model and stepping tell the
        # CPU generation, which moves the floor: on hosts both called "AMD EPYC", OpenSSL's Ed25519 verify
        # took 44 % longer one day than the day before, libsodium's and the service's flow only ~15 %.
        "cpu_id": _cpu_id(),
        "openssl": openssl_backend.openssl_version_text(),
        "cores": os.cpu_count(),
        "virtualized": "hypervisor" in flags,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "kernel": platform.release(),
        "platform": platform.platform(),
        "service_core": service_core,
        "load_generator_core": driver_core,
        "packages": versions,
    }


def _p(ms: dict[str, float]) -> str:
    return f"{ms['p50']:.1f} / {ms['p95']:.1f} / {ms['p99']:.1f}"


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def _cpu_id_text(m: dict[str, Any]) -> str:
    return f" ({m['cpu_id']})" if m.get("cpu_id") else ""


def markdown(data: dict[str, Any], scenarios: list[ScenarioResult], soak: SoakResult | None) -> str:
    """The report: machine, command, the table, then the details behind it."""
    m = data["machine"]
    pinning = (
        f"service pinned to core {m['service_core']} (`taskset`), load generator and webhook sink on core "
        f"{m['load_generator_core']}"
        if m["service_core"] is not None
        else "no CPU pinning (fewer than two usable cores or no `taskset`)"
    )
    vm = " (virtual machine)" if m["virtualized"] else ""
    smoke = " — smoke mode: checks that the flow works, not how fast" if data["smoke"] else ""
    lines = [
        f"# Verifier benchmark — {data['started']}",
        "",
        f"- **Machine:** {m['cpu_model']}{_cpu_id_text(m)}, {m['cores']} cores{vm}, {m['memory_gib']} GiB; "
        f"{m['python']}; Linux {m['kernel']}",
        "- **Service:** `python -m service` as shipped (one uvicorn worker, uvloop + httptools), code at "
        f"{data['revision']}; "
        f"{pinning}",
        "- **Packages:** "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + (f" ({m['openssl']})" if m.get("openssl") else ""),
        f"- **Command:** `{data['command']}` ({data['duration_s']:.0f} s){smoke}",
        f"- **Per scenario:** {data['options']['n']} responses per measured phase; "
        f"sweep K = {', '.join(map(str, data['options']['sweep']))} with {data['options']['sweep_n']} each; "
        "every response a distinct transaction, holder key and credential set, posted once",
        "",
        "| scenario | max verified/s (K) | service core busy | POST p50/p95/p99 ms @ 50 % | @ 80 % "
        "| POST → webhook p50/p95/p99 ms @ 80 % | create / request object p50 ms | service CPU ms per flow "
        "| floor ms (sig. ops) | CPU / floor | CPU / fastest floor | RSS MiB (peak) | other load (cores) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in scenarios:
        sat, half, most = s.saturation, s.open_loop["50%"], s.open_loop["80%"]
        again = f" (quietest of {s.attempts} runs)" if s.attempts > 1 else ""
        lines.append(
            f"| {s.scenario}{again} | {sat.verified_rate:.0f} ({sat.clients}) | {_pct(sat.service_busy)} "
            f"| {_p(half.post_ms)} | {_p(most.post_ms)} | {_p(most.e2e_ms)} "
            f"| {s.create.latency_ms['p50']:.1f} / {s.request_object.latency_ms['p50']:.1f} "
            f"| {s.cpu_per_flow_ms:.2f} | {s.floor_ms['total_openssl_ms']:.3f} ({s.floor_ms['operations']}) "
            f"| {s.ratio_openssl:.1f}x | {s.ratio:.1f}x "
            f"| {s.rss_after_mib:.0f} ({s.peak_rss_mib:.0f}) | {s.other_load_cores:.2f} |"
        )
    disturbed = [s.scenario for s in scenarios if s.other_load_cores > QUIET_CORES]
    if disturbed:
        lines += [
            "",
            f"**Warning:** other processes used more than {QUIET_CORES} cores during the timed phases of "
            f"{', '.join(disturbed)}: rates and latencies of those rows are lower bounds of what a quiet "
            "machine does; the CPU-time columns come from the service's own counters and suffer less.",
        ]
    lines += [
        "",
        "Service CPU per flow = create + request object + response (verification, verdict signature, "
        "webhook delivery), each from the service's own utime+stime with the service busy (8 concurrent "
        "clients for the first two steps, the saturation run for the response). Floor = the signature "
        "operations of one flow done directly in this run with `cryptography` (OpenSSL), issue #7's "
        "definition, timed on the service's core right before and right after the saturation run and "
        "averaged (both in the details). Fastest floor = the same operations with the fastest library "
        "for each, the ones the service uses (libsodium for Ed25519 checks, OpenSSL for ECDSA): no "
        "verifier using these libraries gets below 1x of it. See bench/README.md for how to read each "
        "column.",
        "",
        "## Details",
        "",
        "| scenario | CPU ms: create / request object, busy (one at a time) "
        "| response CPU ms at saturation / 50 % / 80 % "
        "| service busy @ 50 % / 80 % | fastest floor ms: holder verifies / issuer verifies / 2 x ES256 sign "
        "| response CPU / its floor (fastest floor) | fastest floor ms, CPU / fastest floor "
        "| floor ms before / after the saturation run "
        "| open-loop rate achieved @ 50 % / 80 % "
        "| POST → webhook p50/p95/p99 ms @ 50 % | at saturation: POST/s, webhook p50 ms "
        "| load generator + sink busy at saturation |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in scenarios:
        f, sat, half, most = s.floor_ms, s.saturation, s.open_loop["50%"], s.open_loop["80%"]
        lines.append(
            f"| {s.scenario} | {s.create.cpu_per_op_ms:.2f} / {s.request_object.cpu_per_op_ms:.2f} "
            f"({s.create.sequential_cpu_per_op_ms:.2f} / {s.request_object.sequential_cpu_per_op_ms:.2f}) "
            f"| {sat.cpu_per_verification_ms:.2f} / {half.cpu_per_verification_ms:.2f} / "
            f"{most.cpu_per_verification_ms:.2f} | {_pct(half.service_busy)} / {_pct(most.service_busy)} "
            f"| {f['holder_verify_ms']:.3f} ({f['holder_verifies']}) / {f['issuer_verify_ms']:.3f} "
            f"({f['issuer_verifies']}) / {f['sign_ms']:.3f} "
            f"| {s.verification_ratio:.1f}x | {f['total_ms']:.3f}, {s.ratio:.1f}x "
            f"| {s.floor_before_after_ms[0]:.3f} / {s.floor_before_after_ms[1]:.3f} "
            f"| {half.verified_rate:.0f} / {most.verified_rate:.0f} per s "
            f"| {_p(half.e2e_ms)} | {sat.post_rate:.0f}, {sat.e2e_ms['p50']:.0f} "
            f"| {_pct(sat.generator_busy)} |"
        )
    lines += [
        "",
        "Saturation sweep (closed loop, verified per second by number of concurrent clients K):",
        "",
    ]
    for s in scenarios:
        sweep = ", ".join(f"K={p.clients}: {p.verified_rate:.0f}" for p in s.sweep)
        lines.append(f"- {s.scenario}: {sweep}")
    if soak is not None:
        series = ", ".join(f"{int(p['verifications'])}: {p['rss_mib']:.0f}" for p in soak.series)
        lines += [
            "",
            f"## Soak: {soak.verifications} more verifications ({soak.scenario}, K={soak.clients})",
            "",
            f"RSS {soak.rss_start_mib:.1f} MiB before, {soak.rss_end_mib:.1f} MiB after; peak "
            f"{soak.peak_rss_mib:.1f} MiB; service CPU {soak.cpu_per_verification_ms:.2f} ms per "
            "verification.",
            "",
            f"RSS MiB after n verifications: {series}",
            "",
            _warm_line(soak, data["options"]["ttl"]),
            "",
            f"Growth over the second half: {soak.second_half_growth_kib_per_1000:.0f} KiB per 1000 "
            f"verifications. Expected and bounded: the replay guard keeps one entry per answered transaction "
            f"for two TTLs ({2 * data['options']['ttl']} s here), and the holder DID cache fills up to its "
            f"{DEFAULT_DID_CACHE_SIZE} entries (every response here has a new holder) before it stays flat.",
        ]
    return "\n".join(lines) + "\n"


def _warm_line(soak: SoakResult, ttl: int) -> str:
    """Issue #7's memory criterion: RSS after the soak against RSS once warm (both bounded caches full)."""
    if soak.warm is None or soak.growth_since_warm is None:
        return (
            f"Warm-up ({DEFAULT_DID_CACHE_SIZE} verifications and {2 * ttl} s: the DID cache full, the "
            "replay guard at its steady size) was not reached: soak longer (or with a shorter --ttl) to "
            "compare RSS against it."
        )
    return (
        f"RSS once warm (after {soak.warm['verifications']:.0f} verifications, {soak.warm['seconds']:.0f} s: "
        f"the DID cache full and the replay guard at its steady size, 2 x TTL = {2 * ttl} s) "
        f"{soak.warm['rss_mib']:.1f} MiB; after the soak {soak.rss_end_mib:.1f} MiB: "
        f"**{soak.growth_since_warm * 100:+.1f} %** (issue #7's bound: within 10 %)."
    )


def write(out: Path, stem: str, data: dict[str, Any], text: str) -> list[Path]:
    """``<stem>.json`` and ``<stem>.md`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(text)
    return [json_path, md_path]


def command_line() -> str:
    """How this run was invoked."""
    return " ".join(["python -m bench", *sys.argv[1:]])
