"""Case D of `make bench`: the 64-setting sweep of `kvinfo_network`, sequential and on a 2-process LocalCluster.

Measured in one worker process (`benchmarks.run --worker`): a LocalCluster of `workers` processes started and
warmed first (every worker has imported the engine; start-up is reported apart), then, three times in turn,
the sweep sequentially (the `--sequential` path: the same tasks, in this process) and on the cluster; medians.
Per-task overhead two ways: a no-op task's round trip through the cluster, and what the sweep's tasks cost
beyond their sequential time ((workers x cluster wall - sequential wall) / tasks). The CPU seconds of the
sequential run, of the busiest worker and of the client say what speed-up the cores allowed, apart from
whatever else the machine ran meanwhile (its load average is recorded).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

WHATIF = Path(__file__).resolve().parent.parent / "scenarios" / "whatif"
BASE = WHATIF / "kvinfo_base.toml"
GRID = WHATIF / "grids" / "kvinfo_sweep.toml"
TARGET_SPEEDUP = 1.7


def _noop(payload: bytes) -> bytes:
    return payload


def _warm() -> bool:
    """Import the engine in a worker, outside the timing (a task's first call would otherwise pay for it)."""
    import solver.compare
    import solver.solve

    return solver.compare.__name__ != solver.solve.__name__


def _cpu_s() -> float:
    """This process's CPU seconds (user + system) so far."""
    times = os.times()
    return times.user + times.system


def worker_sweep(workers: int, quick: bool, repeats: int = 3) -> dict[str, Any]:
    from server.distributed import ClusterOptions, dask_client, run_tasks, sweep_on_cluster
    from solver.compare import load_scenario
    from solver.sweep import Grid, load_grid

    base = load_scenario(BASE).cohort
    grid = load_grid(GRID)
    if quick:  # the smoke test: the first two axes only
        grid = Grid(grid.axes[:2], label=grid.label)
        repeats = 1
    tasks = grid.size()
    sequential_s, cluster_s, sequential_cpu, worker_cpu, main_cpu = [], [], [], [], []
    cluster = ClusterOptions(workers=workers)
    started = time.perf_counter()
    with dask_client(cluster) as client:
        client.wait_for_workers(workers)
        client.run(_warm)
        startup_s = time.perf_counter() - started
        started = time.perf_counter()
        noop = run_tasks(_noop, [b""] * tasks, cluster, client=client)  # an empty BatchTaskResult each
        noop_s = time.perf_counter() - started
        # Sequential and cluster runs alternate, so that a change in the machine's load hits both alike.
        for _ in range(repeats):
            cpu, started = _cpu_s(), time.perf_counter()
            sequential = sweep_on_cluster(base, grid, None, ClusterOptions(sequential=True))
            sequential_s.append(time.perf_counter() - started)
            sequential_cpu.append(_cpu_s() - cpu)
            before = client.run(_cpu_s)
            cpu, started = _cpu_s(), time.perf_counter()
            distributed = sweep_on_cluster(base, grid, None, cluster, client=client)
            cluster_s.append(time.perf_counter() - started)
            main_cpu.append(_cpu_s() - cpu)
            after = client.run(_cpu_s)
            worker_cpu.append(max(after[w] - before[w] for w in after))

    def timeless(sweep: Any) -> list[Any]:
        return [replace(o, solve_seconds=0.0) for o in sweep.outcomes]

    median = statistics.median
    return {"tasks": tasks, "workers": workers, "repeats": repeats, "sequential_s": median(sequential_s),
            "cluster_s": median(cluster_s), "sequential_runs_s": sequential_s, "cluster_runs_s": cluster_s,
            "sequential_cpu_s": median(sequential_cpu), "busiest_worker_cpu_s": median(worker_cpu),
            "client_cpu_s": median(main_cpu), "startup_s": startup_s, "noop_task_s": noop_s / tasks,
            "noop_ok": len(noop) == tasks,
            "overhead_per_task_s": (workers * median(cluster_s) - median(sequential_s)) / tasks,
            "identical": timeless(sequential) == timeless(distributed), "pareto": len(distributed.pareto),
            "failed": sum(not o.ok for o in distributed.outcomes), "load_average": os.getloadavg()[0],
            "participants": [len(base.mentees), len(base.mentors)]}


def case_sweep(run: dict[str, Any]) -> dict[str, Any]:
    """Case D's row from its worker's measurements."""
    speedup = run["sequential_s"] / run["cluster_s"]
    return {
        "case": "D", "sizes": {"mentees": run["participants"][0], "mentors": run["participants"][1]},
        "ours_s": run["cluster_s"], "baseline": "the same sweep sequentially in one process",
        "baseline_s": run["sequential_s"], "ratio": run["cluster_s"] / run["sequential_s"], "speedup": speedup,
        "ours_objective": run["pareto"], "baseline_objective": run["pareto"],
        "objectives_agree": run["identical"] and not run["failed"], "ours_peak_rss_mb": 0.0,
        "mode": f"Dask LocalCluster, {run['workers']} worker processes x 1 thread, started and warmed beforehand",
        "cluster_startup_s": run["startup_s"], "noop_task_s": run["noop_task_s"],
        "overhead_per_task_s": run["overhead_per_task_s"], "tasks": run["tasks"],
        "sequential_runs_s": run["sequential_runs_s"], "cluster_runs_s": run["cluster_runs_s"],
        # What the cores allowed: the sequential CPU time over the busiest worker's, whatever else ran.
        "cpu_speedup": run["sequential_cpu_s"] / max(run["busiest_worker_cpu_s"], run["client_cpu_s"], 1e-9),
        "sequential_cpu_s": run["sequential_cpu_s"], "busiest_worker_cpu_s": run["busiest_worker_cpu_s"],
        "client_cpu_s": run["client_cpu_s"], "load_average": run["load_average"],
        "target_met": speedup >= TARGET_SPEEDUP and run["identical"],
    }


def describe(row: dict[str, Any]) -> str:
    return (f"D: {row['tasks']} settings, sequential {row['baseline_s']:.2f} s, {row['mode']}: "
            f"{row['ours_s']:.2f} s, speed-up {row['speedup']:.2f}x (target {TARGET_SPEEDUP}x); cluster start-up "
            f"{row['cluster_startup_s']:.2f} s; per-task overhead: no-op round trip {1000 * row['noop_task_s']:.1f} ms, "
            f"beyond the sequential time {1000 * row['overhead_per_task_s']:.1f} ms; CPU: sequential "
            f"{row['sequential_cpu_s']:.2f} s, busiest worker {row['busiest_worker_cpu_s']:.2f} s, client "
            f"{row['client_cpu_s']:.2f} s (speed-up the cores allowed {row['cpu_speedup']:.2f}x); load average "
            f"{row['load_average']:.1f}; identical: {'yes' if row['objectives_agree'] else 'NO'}")
