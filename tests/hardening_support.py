"""Helpers of the hardening suites (fuzzing, load, faults, privacy): case counts and figures in the pytest summary,
a `mentormatch serve` process, health probes, and process measurements read from /proc.

The figures each suite records (cases fuzzed, latencies under load, faults survived) are printed at the
end of the pytest run under "hardening figures", and written as JSON to `$MENTORMATCH_FIGURES` when set.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCALE_ENV = "MENTORMATCH_FUZZ_SCALE"
"""Multiplies the number of generated cases of every fuzz test (1 in `make test`; `make fuzz` uses more)."""
FIGURES_ENV = "MENTORMATCH_FIGURES"


def fuzz_scale() -> float:
    try:
        return max(0.1, float(os.environ.get(SCALE_ENV, "1")))
    except ValueError:
        return 1.0


def examples(base: int) -> int:
    """`base` generated cases, times the fuzz scale."""
    return max(1, round(base * fuzz_scale()))


# --- figures in the pytest summary ---------------------------------------------------------------------------


class HardeningSummary:
    """A pytest plugin object: counts cases by kind and keeps named figures; prints both at the end of the run."""

    name = "mentormatch-hardening-summary"

    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.figures: dict[str, str] = {}
        self._lock = threading.Lock()

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.cases[kind] += n

    def figure(self, name: str, text: str) -> None:
        with self._lock:
            self.figures[name] = text

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.cases and not self.figures:
            return
        terminalreporter.write_sep("=", "hardening figures")
        for kind, n in sorted(self.cases.items()):
            terminalreporter.write_line(f"cases {kind}: {n}")
        if self.cases:
            terminalreporter.write_line(f"cases in all: {sum(self.cases.values())}")
        for name, text in self.figures.items():
            terminalreporter.write_line(f"{name}: {text}")
        target = os.environ.get(FIGURES_ENV)
        if target:
            Path(target).write_text(json.dumps({"cases": dict(self.cases), "figures": self.figures}, indent=2) + "\n")


SUMMARY = HardeningSummary()


def register_summary(config: pytest.Config) -> HardeningSummary:
    """Join the summary plugin to this pytest run (once); test modules call it from a module fixture."""
    if not config.pluginmanager.has_plugin(HardeningSummary.name):
        config.pluginmanager.register(SUMMARY, HardeningSummary.name)
    return SUMMARY


# --- process measurements ------------------------------------------------------------------------------------


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size (VmRSS) of a process in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int | str = "self") -> float:
    """CPU time (user + system, all threads) a process has used so far, its child processes' included (the solver
    forks big flows and CP-SAT models: those ended and reaped, and those still running), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[k]) for k in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            try:
                child_fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile: in cutime/cstime once reaped
                continue
            ticks += int(child_fields[11]) + int(child_fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid: int | str = "self") -> int:
    """The highest resident set size a process has had so far (VmHWM) in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def thread_count(pid: int | str = "self") -> int:
    """Threads of a process (Python and native: gRPC's, OR-Tools'), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Threads for process {pid}")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0.5 = median, 0.99 = p99) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a server process ----------------------------------------------------------------------------------------


@dataclass
class ServeProcess:
    """`mentormatch serve` in a subprocess: its ports from the "serving" log line, and every JSON log line."""

    process: subprocess.Popen[str]
    port: int
    metrics_port: int | None
    lines: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)


@contextmanager
def serve_process(*options: str, env: dict[str, str] | None = None, startup_s: float = 60.0
                  ) -> Iterator[ServeProcess]:
    """Start `mentormatch serve OPTIONS...` on free loopback ports (gRPC and metrics), ready when its health
    check says SERVING (so any --log-level works); killed at the end if still running."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port, metrics_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from server.cli import main; main()", "serve", "--port", str(port),
         "--metrics-port", str(metrics_port), *options],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, name="serve-stderr", daemon=True)
    reader.start()
    try:
        end = time.monotonic() + startup_s
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if process.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("mentormatch serve did not start:\n" + "\n".join(lines[-20:]))
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                except grpc.RpcError:
                    time.sleep(0.05)
                    continue
                if status == health_pb2.HealthCheckResponse.SERVING:
                    break
        yield ServeProcess(process, port, metrics_port, lines)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        reader.join(5)


def exit_code(server: ServeProcess, timeout: float) -> int | None:
    """The process's exit code once it ends within `timeout` seconds; None when it does not, after asking it for every
    thread's stack (`serve` dumps them on SIGUSR1), so that `server.lines` shows where it is held."""
    try:
        return server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        server.process.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        return None


def scrape(metrics_port: int | None, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`, from a server's /metrics endpoint."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


# --- a server that is still well ----------------------------------------------------------------------------


def assert_serving_and_matching(address: str, **client_options: Any) -> None:
    """The server answers health checks with SERVING and solves a small valid cohort to optimality."""
    from mentormatch.v1 import matching_pb2 as mpb
    from server.client import MentormatchClient
    from solver.solve import SolveOptions
    from tests.conftest import small_cohort

    with MentormatchClient(address, **client_options) as client:
        assert client.health(timeout=5) == "SERVING"
        response = client.match(small_cohort(3), SolveOptions(alternatives=1, time_limit_s=5), timeout=30)
        assert response.status == mpb.SOLVE_STATUS_OPTIMAL and response.matchings[0].pairs


def solves_done(registry: Any) -> float:
    """Solves the server has run, from its own metrics: the solve-time histogram's count over every solve status."""
    return sum(sample.value for metric in registry.collect() for sample in metric.samples
               if sample.name == "mentormatch_solve_seconds_count")


def busy_threads(window: float = 0.3) -> list[tuple[str, float]]:
    """(native thread name, CPU seconds in the next `window` seconds) of this process's busiest threads."""

    def cpu() -> dict[str, tuple[str, float]]:
        out = {}
        for task in Path("/proc/self/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                name = (task / "comm").read_text().strip()
            except OSError:
                continue
            out[task.name] = (name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        return out

    before = cpu()
    time.sleep(window)
    after = cpu()
    used = [(name, round(t - before.get(tid, (name, 0.0))[1], 3)) for tid, (name, t) in after.items()]
    return sorted((u for u in used if u[1] > 0), key=lambda u: -u[1])[:8]
