"""The seeded cohort generator and the five bundled scenarios: same seed, same cohort, byte for byte.

This module writes them (`python -m scenarios.generate`); the generator is `scenarios.synthetic`, the
scenarios `scenarios.bundled`, their checks and shaping `scenarios.shaping`, and the reference tables
live in `scenarios/data/` (typed by `scenarios.geography`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scenarios.bundled import (
    SCENARIOS,
    copenhagen_business,
    copenhagen_career,
    ibm_refugees,
    kvinfo_network,
    lyngby_career,
)
from scenarios.shaping import allowed_mentors, max_matching_size
from scenarios.synthetic import generate_cohort, national_pool
from solver.domain import Cohort

__all__ = [
    "COHORT_FILES",
    "SCENARIOS",
    "copenhagen_business",
    "copenhagen_career",
    "describe",
    "generate_cohort",
    "ibm_refugees",
    "kvinfo_network",
    "lyngby_career",
    "main",
    "national_pool",
    "write_scenario",
]

# The files `solver.ingest.write_cohort_dir` may write; regenerating clears exactly these.
COHORT_FILES = ("mentors.csv", "mentees.csv", "rankings.csv", "travel_times.csv", "rules.toml")


# Writing -----------------------------------------------------------------------------------------


def write_scenario(cohort: Cohort, directory: Path) -> Path:
    """Write through a fresh directory, then swap the cohort files in, so no stale file survives."""
    from solver.ingest import write_cohort_dir  # the engine's writer: one file format, owned there

    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=f".{directory.name}-") as tmp:
        written = write_cohort_dir(cohort, Path(tmp) / "cohort")
        for name in COHORT_FILES:
            (directory / name).unlink(missing_ok=True)
        for path in sorted(written.iterdir()):
            shutil.move(str(path), directory / path.name)
    return directory


def describe(cohort: Cohort) -> str:
    """One line of counts: sizes, capacity, rankings, coordinator decisions and matchability."""
    allowed = allowed_mentors(cohort)
    stranded = sum(1 for row in allowed if not row)
    return (f"{cohort.name}: {len(cohort.mentees)} mentees, {len(cohort.mentors)} mentors "
            f"(capacity {sum(m.capacity for m in cohort.mentors)}), {len(cohort.rankings)} rankings, "
            f"{len(cohort.rules.pins)} pins, {len(cohort.rules.bans)} bans; "
            f"{stranded} mentees with no allowed mentor; at most {max_matching_size(cohort, allowed)} matched")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.generate", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="directory to write the scenario directories into (default: scenarios/)")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append",
                        help="write only this scenario (repeatable)")
    args = parser.parse_args(argv)
    for name in args.only or SCENARIOS:
        cohort = SCENARIOS[name]()
        path = write_scenario(cohort, args.out / name)
        print(f"{path}: {describe(cohort)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
