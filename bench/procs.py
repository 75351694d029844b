"""The processes the benchmark starts: the service as it ships (``python -m service``) and the sink.

CPU time and memory are read from the service's own counters in ``/proc/<pid>``: ``utime + stime`` from
``stat`` (all threads, in clock ticks) and ``VmRSS`` / ``VmHWM`` from ``status``, summed over the process
and its descendants (one process today; a server that forks workers would be counted whole).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The benchmark could not measure what it promised (the flow failed, a process died...)."""


def cpu_layout() -> tuple[int | None, int | None]:
    """(service core, load-generator core): cores 1 and 0 when two are usable and taskset exists."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2 and shutil.which("taskset"):
        return cores[1], cores[0]
    return None, None


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    # Fields after the command name start at field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (from ``/proc/<pid>/task/*/children``)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, in seconds."""
    total = 0.0
    for member in process_tree(pid):
        try:
            total += proc_cpu_seconds(member)
        except OSError:
            continue  # exited between the listing and the read
    return total


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy (not idle, not waiting for I/O) since boot, in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in fields[:8]]
    # user nice system idle iowait irq softirq steal: busy is everything but idle and iowait.
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


def proc_status_kib(pid: int, name: str) -> int:
    """A ``kB`` line of /proc/<pid>/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise BenchError(f"{name} missing from /proc/{pid}/status")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    """``python -m service`` in a subprocess, optionally under ``taskset``."""

    proc: subprocess.Popen[bytes]
    url: str
    core: int | None
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        trusted_issuers: list[dict[str, object]],
        webhook_url: str,
        transaction_ttl: int,
        core: int | None,
    ) -> ServiceProcess:
        """Write the trust file and definitions, start the service, wait until it is ready."""
        trust_file = workdir / "trust.json"
        trust_file.write_text(json.dumps({"issuers": trusted_issuers}))
        definitions = workdir / "definitions"
        definitions.mkdir()
        for source in [
            *(REPO_ROOT / "definitions").glob("*.json"),
            *(REPO_ROOT / "bench" / "definitions").glob("*.json"),
        ]:
            shutil.copy(source, definitions / source.name)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        keyring = workdir / "keyring.json"
        env = {
            **os.environ,
            # Production, as deployed: no playground record, keys made beforehand, outbound rules explicit.
            "VERIFIER_ENVIRONMENT": "production",
            "VERIFIER_OUTBOUND_ALLOW_HTTP": "true",
            "VERIFIER_OUTBOUND_PRIVATE_HOSTS": "127.0.0.1",
            "VERIFIER_PORT": str(port),
            "VERIFIER_PUBLIC_URL": url,
            "VERIFIER_TRUST_FILE": str(trust_file),
            "VERIFIER_KEYRING_PATH": str(keyring),
            "VERIFIER_DEFINITIONS_DIR": str(definitions),
            "VERIFIER_WEBHOOK_URL": webhook_url,
            "VERIFIER_TRANSACTION_TTL": str(transaction_ttl),
            "VERIFIER_LOG_LEVEL": "warning",
        }
        subprocess.run(
            [sys.executable, "-m", "service", "keys", "generate", "--out", str(keyring)],
            cwd=REPO_ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        command = [sys.executable, "-m", "service"]
        if core is not None:
            command = ["taskset", "-c", str(core), *command]
        log_path = workdir / "service.log"
        log = log_path.open("wb")
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        service = cls(proc=proc, url=url, core=core, log_path=log_path, _log=log)
        service._wait_ready()
        return service

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"service exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise BenchError(f"service not ready after {timeout} s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the service's output (for error messages)."""
        return self.log_path.read_text(errors="replace")[-chars:]

    def check_alive(self) -> None:
        """Raise if the service process has exited."""
        if self.proc.poll() is not None:
            raise BenchError(f"service exited with {self.proc.returncode}: {self.log_tail()}")

    def cpu_seconds(self) -> float:
        """Service CPU time so far (utime + stime), its worker processes included."""
        return tree_cpu_seconds(self.proc.pid)

    def _tree_kib(self, name: str) -> int:
        total = 0
        for member in process_tree(self.proc.pid):
            try:
                total += proc_status_kib(member, name)
            except (OSError, BenchError):
                continue
        return total

    def rss_kib(self) -> int:
        """Resident set size now (the service's processes added up)."""
        return self._tree_kib("VmRSS")

    def peak_rss_kib(self) -> int:
        """Peak resident set size since start (VmHWM of each process, added up: an upper bound)."""
        return self._tree_kib("VmHWM")

    def wait_idle(self, quiet: float = 0.1, timeout: float = 5.0) -> None:
        """Wait until the CPU counter has not moved for ``quiet`` seconds (queued work is done)."""
        deadline = time.monotonic() + timeout
        last, since = self.cpu_seconds(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = self.cpu_seconds()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def stop(self) -> None:
        """Terminate (SIGTERM), then kill if it lingers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@dataclass
class SinkProcess:
    """``python -m bench.sink`` in a subprocess."""

    proc: subprocess.Popen[str]
    url: str
    log_path: Path

    @classmethod
    def start(cls, workdir: Path, core: int | None) -> SinkProcess:
        """Start the sink and read its port."""
        log_path = workdir / "sink.log"
        log_path.touch()
        command = [sys.executable, "-m", "bench.sink", str(log_path)]
        if core is not None:
            command = ["taskset", "-c", str(core), *command]
        proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            proc.kill()
            raise BenchError(f"webhook sink did not start (said {line!r})")
        return cls(proc=proc, url=f"http://127.0.0.1:{line}/verdicts", log_path=log_path)

    def stop(self) -> None:
        """Terminate the sink."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
