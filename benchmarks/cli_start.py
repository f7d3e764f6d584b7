"""Case H of `make bench`: how soon the command line answers `mentormatch --help` (issue 18: under 0.3 s).

Ours: `mentormatch --help` from a fresh process, the CPU seconds of that process (user + system, from the
children's rusage), median of a few. Baseline: `python -c pass` with the same interpreter, the floor any Python
command line pays before its own code runs. CPU, not wall: on two shared cores a waiting process is not a slow one.
That `--help` loads no engine at all (polars, OR-Tools, gRPC, numpy) is a behaviour, and tests/test_cli_flags.py
checks it; how long it then takes is measured here, never in a timed test.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

TARGET_S = 0.3
TARGETS = {"H": f"`mentormatch --help` in <= {TARGET_S} s of CPU"}


def _cpu_of(command: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def case_help(quick: bool) -> dict[str, Any]:
    """`mentormatch --help` against `python -c pass`, alternating, median of 3 (quick) or 9 runs each."""
    ours_command = [str(Path(sys.executable).parent / "mentormatch"), "--help"]
    base_command = [sys.executable, "-c", "pass"]
    ours, base = [], []
    for _ in range(3 if quick else 9):
        ours.append(_cpu_of(ours_command))
        base.append(_cpu_of(base_command))
    ours_s, base_s = statistics.median(ours), statistics.median(base)
    return {
        "case": "H", "sizes": {"mentees": 0, "mentors": 0, "candidate_pairs": 0},
        "ours_s": ours_s, "ours_min_s": min(ours), "baseline": "python -c pass (CPU)", "baseline_s": base_s,
        "ratio": ours_s / base_s if base_s else None, "ours_objective": None, "baseline_objective": None,
        "objectives_agree": True, "ours_peak_rss_mb": 0.0, "repeats": {"ours": len(ours), "baseline": len(base)},
        "target_met": ours_s <= TARGET_S,
    }
