"""`mentormatch serve --workers N`: several server processes on one port, their metrics summed, drained together.

Real processes on loopback: the supervisor, its workers, gRPC calls on fresh connections, the supervisor's
/metrics scraped and parsed, SIGTERM and a worker killed from outside.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mentormatch.v1 import matching_pb2 as mpb
from server.client import MentormatchClient
from solver.solve import SolveOptions
from tests.conftest import small_cohort, wait_until
from tests.hardening_support import ServeProcess, serve_process


def _samples(port: int) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, out


def _supervised_pids(running: ServeProcess) -> list[int]:
    assert wait_until(lambda: any(e.get("event") == "supervising" for e in running.events()), timeout=10)
    event = next(e for e in running.events() if e.get("event") == "supervising")
    return [int(pid) for pid in event["pids"]]


def _all_serving(running: ServeProcess, workers: int) -> None:
    """Wait until every worker logged `serving` (the health check answers as soon as the first one does)."""
    assert wait_until(lambda: sum(e.get("event") == "serving" for e in running.events()) == workers, timeout=30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_workers_share_the_port_and_their_metrics_add_up() -> None:
    calls = 12
    with serve_process("--workers", "2", "--max-concurrent", "2") as running:
        pids = _supervised_pids(running)
        _all_serving(running, 2)
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        for _ in range(calls):  # a fresh connection each time: the kernel spreads them over the workers
            with MentormatchClient(f"127.0.0.1:{running.port}") as client:
                response = client.match(small_cohort(3), SolveOptions(alternatives=1), timeout=30)
                assert response.status == mpb.SOLVE_STATUS_OPTIMAL and response.matchings[0].pairs
        assert running.metrics_port is not None
        text, samples = _samples(running.metrics_port)
        handled = sum(v for (name, labels), v in samples.items()
                      if name == "grpc_server_handled_total" and ("grpc_method", "Match") in labels
                      and ("grpc_code", "OK") in labels)
        assert handled == calls
        # Each worker has two slots; the supervisor's gauge is their live sum.
        assert samples[("mentormatch_solve_slots", ())] == 4
        assert samples[("mentormatch_solves_in_flight", ())] == 0
        assert sum(v for (name, _), v in samples.items() if name == "mentormatch_solve_seconds_count") == calls
        promtool = shutil.which("promtool")
        if promtool is not None:
            checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                                     check=False)
            assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr


def test_sigterm_right_after_start_is_a_clean_stop() -> None:
    # A worker still importing when the signal comes dies of it before it could serve: not a failure.
    with serve_process("--workers", "2") as running:
        running.terminate()
        assert running.process.wait(20) == 0


def test_sigterm_drains_every_worker_and_cleans_up() -> None:
    metrics_dirs = set(Path(tempfile.gettempdir()).glob("mentormatch-metrics-*"))
    with serve_process("--workers", "2", "--grace", "3") as running:
        pids = _supervised_pids(running)
        _all_serving(running, 2)
        assert len(set(Path(tempfile.gettempdir()).glob("mentormatch-metrics-*")) - metrics_dirs) == 1
        running.terminate()
        assert running.process.wait(20) == 0
        assert wait_until(lambda: not any(_alive(pid) for pid in pids), timeout=5)
        drained = [e for e in running.events() if e.get("event") == "draining"]
        assert len(drained) == 2  # each worker drained on its own
    assert set(Path(tempfile.gettempdir()).glob("mentormatch-metrics-*")) == metrics_dirs  # its metrics files removed


def test_a_worker_that_dies_stops_the_service_for_a_restart() -> None:
    with serve_process("--workers", "2", "--grace", "2") as running:
        pids = _supervised_pids(running)
        _all_serving(running, 2)
        os.kill(pids[0], signal.SIGKILL)
        assert running.process.wait(20) == 1  # a half-dead service is not left serving
        assert wait_until(lambda: not _alive(pids[1]), timeout=10)
        assert any(e.get("event") == "worker_exited" for e in running.events())


@pytest.mark.parametrize("option", ["--port", "--metrics-port"])
def test_a_taken_port_is_a_clear_error(option: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", "from server.cli import main; main()", "serve", "--workers", "2", "--port", "0",
             "--metrics-port", "0", option, str(port)], capture_output=True, text=True, timeout=60, check=False,
            cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 2
    assert "cannot" in done.stderr and str(port) in done.stderr and "Traceback" not in done.stderr
