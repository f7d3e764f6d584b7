"""Batch work on Dask: the same answers, in the same order, sequentially, on a LocalCluster and on a cluster started
as separate processes (`dask scheduler` + 2 `dask worker`s on loopback); a failed task is a failed row.

The cluster runs the project's real task functions on cohorts carried as protobuf bytes; nothing is mocked.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mentormatch.v1 import batch_pb2 as bpb
from mentormatch.v1 import matching_pb2 as mpb
from server.distributed import (
    ClusterOptions,
    ClusterUnavailable,
    compare_on_cluster,
    dask_client,
    rematch_batch_on_cluster,
    run_tasks,
    scenario_task,
    scenario_task_bytes,
    sweep_on_cluster,
)
from solver.compare import Comparison, compare_scenarios, load_scenario, load_scenarios
from solver.rematch import rematch_batch
from solver.solve import SolveOptions, solve
from solver.sweep import Sweep, grid_from_mapping, run_sweep
from tests.hardening_support import ROOT, free_port

WHATIF = ROOT / "scenarios" / "whatif"
GRID = {"label": "lyngby", "axes": {"max_distance_km": [10, 25], "min_language_level": ["B1", "A2"],
                                    "min_mentor_years": [0, 3]}}


def _timeless(sweep: Sweep) -> list[Any]:
    return [replace(o, solve_seconds=0.0) for o in sweep.outcomes]


def _timeless_comparison(comparison: Comparison) -> list[Any]:
    return [replace(o, solve_seconds=0.0) for o in comparison.scenarios]


@pytest.fixture(scope="module")
def lyngby() -> Any:
    return load_scenario(WHATIF / "lyngby_base.toml").cohort


@pytest.fixture(scope="module")
def local_client() -> Iterator[Any]:
    """One LocalCluster of 2 worker processes for the module's tests (starting one takes seconds)."""
    with dask_client(ClusterOptions(workers=2)) as client:
        yield client


@pytest.fixture(scope="module")
def separate_cluster() -> Iterator[str]:
    """`dask scheduler` and two `dask worker --nthreads 1` as processes of their own on free loopback ports;
    stopped at the end. Yields the scheduler's address."""
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    if dask is None:
        pytest.fail("the dask command is missing: dask[distributed] is a dependency (make setup)")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    def start(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([dask, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)

    processes = [start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    try:
        processes += [start("worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                            "--no-dashboard", "--no-nanny") for _ in range(2)]
        from distributed import Client

        end = time.monotonic() + 60
        with Client(address, timeout=30, set_as_default=False) as client:
            while len(client.scheduler_info()["workers"]) < 2:
                assert time.monotonic() < end, "the two workers did not join the scheduler within 60 s"
                time.sleep(0.2)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def test_a_sweep_is_the_same_sequential_on_a_local_cluster_and_in_the_library(lyngby: Any, local_client: Any
                                                                             ) -> None:
    grid = grid_from_mapping(GRID)
    library = run_sweep(lyngby, grid)
    sequential = sweep_on_cluster(lyngby, grid, None, ClusterOptions(sequential=True))
    seen: list[int] = []
    local = sweep_on_cluster(lyngby, grid, None, ClusterOptions(workers=2), on_outcome=lambda o: seen.append(o.index),
                             client=local_client)
    assert len(library.outcomes) == 8 and all(o.ok for o in library.outcomes)
    assert _timeless(sequential) == _timeless(library)
    assert _timeless(local) == _timeless(library)  # same outcomes, same order
    assert local.pareto == library.pareto and library.pareto
    assert sorted(seen) == list(range(8))  # the progress callback saw every setting once
    # The grid moves the answer: a wider limit and a lower language bar never match fewer people.
    assert library.outcomes[0].matched <= library.outcomes[-1].matched


def test_a_broken_task_is_a_failed_row_and_the_rest_go_on(local_client: Any) -> None:
    good = scenario_task_bytes(load_scenario(WHATIF / "lyngby_base.toml"), SolveOptions(alternatives=1))
    payloads = [good, b"\x0a\xff\xff\xff\xffnot a message", good]
    for cluster, client in ((ClusterOptions(sequential=True), None), (ClusterOptions(workers=2), local_client)):
        results = run_tasks(scenario_task, payloads, cluster, client=client)
        assert [r.index for r in results] == [0, 1, 2]
        assert results[0].result.result and results[2].result.result
        first, third = (mpb.ScenarioOutcome.FromString(results[k].result.result) for k in (0, 2))
        first.ClearField("solve_time")
        third.ClearField("solve_time")
        assert first == third and first.matched > 0
        failed = results[1].result
        assert not failed.result and "DecodeError" in failed.error


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable, match=f"127.0.0.1:{port}"), \
            dask_client(ClusterOptions(scheduler=f"tcp://127.0.0.1:{port}", connect_timeout_s=2)):
        pass
    assert time.monotonic() - started < 30


def _batch(directory: Path) -> None:
    """Three cohorts to re-match: two good ones and one whose changes name somebody unknown (fails in its task),
    and one without current.csv (fails before any task)."""
    cohort = load_scenario(WHATIF / "lyngby_base.toml").cohort
    best = solve(cohort, SolveOptions(alternatives=1)).best
    assert best is not None
    pairs = [(cohort.mentees[int(a)].id, cohort.mentors[int(b)].id) for a, b in zip(
        solve(cohort, SolveOptions(alternatives=1)).candidates.mentee[best.rows],
        solve(cohort, SolveOptions(alternatives=1)).candidates.mentor[best.rows], strict=True)]
    for name, changes in (("a_left", f'left = ["{pairs[0][1]}"]\n'), ("b_unknown", 'left = ["NOBODY"]\n'),
                          ("c_penalty", f'left = ["{pairs[1][0]}"]\npenalty = 0\n'), ("d_no_current", None)):
        target = directory / name
        shutil.copytree(ROOT / "scenarios" / "lyngby_career", target)
        if changes is None:
            continue
        (target / "current.csv").write_text("mentee_id,mentor_id\n" + "".join(f"{a},{b}\n" for a, b in pairs),
                                            encoding="utf-8")
        (target / "changes.toml").write_text(changes, encoding="utf-8")


def test_on_a_cluster_of_separate_processes_sweep_compare_and_rematch_batch_agree(
        separate_cluster: str, lyngby: Any, tmp_path: Path) -> None:
    cluster = ClusterOptions(scheduler=separate_cluster)
    grid = grid_from_mapping(GRID)
    assert _timeless(sweep_on_cluster(lyngby, grid, None, cluster)) == _timeless(run_sweep(lyngby, grid))

    scenarios = load_scenarios(sorted(WHATIF.glob("lyngby_*.toml")))
    options = SolveOptions(time_limit_s=20)
    remote = compare_on_cluster(scenarios, options, cluster)
    local = compare_scenarios(scenarios, options)
    assert remote.base_label == local.base_label
    assert _timeless_comparison(remote) == _timeless_comparison(local)
    assert any(o.pairs_removed or o.pairs_added for o in local.scenarios[1:])  # the diffs were compared too

    _batch(tmp_path)
    paths = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    items = rematch_batch_on_cluster(paths, cluster)
    expected = rematch_batch(tmp_path)
    assert [i.name for i in items] == [i.name for i in expected] == ["a_left", "b_unknown", "c_penalty", "d_no_current"]
    assert [i.ok for i in items] == [True, False, True, False]
    assert items == expected  # results, problems and errors field for field
    assert items[1].problems and items[1].problems[0].path == "left[0]"


def test_the_sweep_command_runs_on_a_scheduler_given(separate_cluster: str, tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('[axes]\nmax_distance_km = [10, 25]\nmin_mentor_years = [0, 3]\n', encoding="utf-8")
    base = WHATIF / "lyngby_base.toml"
    command = [sys.executable, "-m", "server.cli", "sweep", str(base), "--grid", str(grid), "--json"]
    remote = subprocess.run([*command, "--scheduler", separate_cluster], capture_output=True, text=True, timeout=120,
                            check=False, cwd=ROOT)
    here = subprocess.run([*command, "--sequential"], capture_output=True, text=True, timeout=120, check=False,
                          cwd=ROOT)
    assert remote.returncode == 0 and here.returncode == 0, remote.stderr + here.stderr
    import json

    def measures(text: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in o.items() if k != "solve_seconds"} for o in json.loads(text)["outcomes"]]

    assert measures(remote.stdout) == measures(here.stdout) and len(measures(here.stdout)) == 4


def test_a_task_result_is_a_message_of_the_contract() -> None:
    data = scenario_task(b"")  # an empty ScenarioTask: no cohort at all, still an answer rather than an exception
    result = bpb.BatchTaskResult.FromString(data)
    assert result.result or result.problems or result.error
