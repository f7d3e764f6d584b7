"""Case R of `make bench`: reading 10^6 mentee rows (and 2,000 mentors) from CSV, side by side with `polars.read_csv`
alone on the same mentees.csv.

Ours: `solver.ingest.load_cohort` on the directory, as `mentormatch validate` and `solve` read it: every cell parsed
and checked, every problem located, the domain objects built, the warnings computed. Baseline: `polars.read_csv` of
mentees.csv with its default type inference, and nothing else. Each runs in a fresh worker process (time and peak
RSS of that process, interpreter and imports included); both read the same files, written once per run by `write`
from a seeded generator whose cells vary the way a real intake does (1-3 occupations, 1-3 languages at any level,
0-5 interests in any order, optional columns mostly empty), so few rows repeat another.
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
SEED = 2026
ROWS = 1_000_000
QUICK_ROWS = 5_000
MENTORS = 2_000
TARGET_S = 5.0
TARGET_MB = 1024.0

LANGUAGES = ("da", "en", "ar", "fa", "uk", "de", "fr", "es", "so", "ti", "tr", "pl", "ro", "ru", "zh", "hi", "ur",
             "ps", "ku", "vi")
LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
COUNTRIES = ("SY", "UA", "AF", "IR", "IQ", "ER", "SO", "TR", "PL", "RO", "IN", "PK", "CN", "VN", "US", "GB", "DE",
             "BR", "PH", "TH", "ET", "LB", "PS", "MA", "EG", "NG", "KE", "RU", "BA", "LT")
INTERESTS = ("running", "chess", "cooking", "football", "film", "choir", "hiking", "reading", "cycling", "music",
             "painting", "photography", "gardening", "yoga", "swimming", "writing", "theatre", "languages", "tech",
             "startups", "knitting", "board_games", "dance", "history", "travel", "volunteering", "climbing",
             "fishing", "baking", "podcasts", "poetry", "science", "politics", "design", "fashion", "crafts",
             "birdwatching", "tennis", "badminton", "sailing")
TAGS = ("social", "aarhus", "odense", "women", "tech", "returning")
GOALS = ("job", "education", "own_business", "social_network", "")
TRACKS = ("spouse", "student", "refugee", "other")


def _choice(rng: np.random.Generator, pool: tuple[str, ...] | list[str], n: int,
            p: list[float] | None = None) -> pl.Series:
    return pl.Series(list(pool), dtype=pl.String).gather(rng.choice(len(pool), size=n, p=p))


def _lists(rng: np.random.Generator, items: list[pl.Series], n: int, low: int, high: int) -> pl.Series:
    """`low`..`high` items a row, `;`-separated; `items[k]` gives the k-th item of each row."""
    count = pl.Series(rng.integers(low, high + 1, size=n))
    parts = [pl.when(count > k).then(items[k]) for k in range(high)]
    return pl.select(pl.concat_str(parts, separator=";", ignore_nulls=True).fill_null("")).to_series()


def _maybe(rng: np.random.Generator, values: pl.Series, share: float) -> pl.Series:
    """`values` in a `share` of the rows, empty in the others."""
    return pl.select(pl.when(pl.Series(rng.random(values.len()) < share)).then(values)).to_series()


def people(n: int, mentors: bool, seed: int) -> pl.DataFrame:
    """`n` mentors or mentees as the text columns of their CSV file, a pure function of the seed."""
    rng = np.random.default_rng(seed)
    occupations = [f"{code:04d}" for code in rng.choice(np.arange(1000, 9999), size=200, replace=False)]
    prefix = "M" if mentors else "E"
    frame: dict[str, pl.Series] = {
        "id": pl.select(pl.lit(prefix) + pl.int_range(n).cast(pl.String).str.zfill(7)).to_series(),
        "lat": pl.Series(np.round(54.6 + 3.1 * rng.random(n), 5)).cast(pl.String),
        "lon": pl.Series(np.round(8.1 + 4.6 * rng.random(n), 5)).cast(pl.String),
        "occupations": _lists(rng, [_choice(rng, occupations, n) for _ in range(3)], n, 1, 3),
        "languages": _lists(rng, [pl.select(pl.concat_str([_choice(rng, LANGUAGES, n), _choice(rng, LEVELS, n)],
                                                          separator=":")).to_series() for _ in range(3)], n, 1, 3),
    }
    if mentors:
        frame |= {
            "years_experience": pl.Series(rng.integers(0, 40, size=n)).cast(pl.String),
            "capacity": pl.Series(rng.integers(1, 3, size=n)).cast(pl.String),
            "leadership": _choice(rng, ("true", "false"), n),
            "gender": _choice(rng, ("f", "m", "x"), n, [0.5, 0.48, 0.02]),
            "interests": _lists(rng, [_choice(rng, INTERESTS, n) for _ in range(5)], n, 0, 5),
            "organisation": _choice(rng, [f"ORG{k:03d}" for k in range(1, 41)], n),
            "markets": _maybe(rng, _choice(rng, COUNTRIES, n), 0.3),
            "returning": _choice(rng, ("true", "false"), n, [0.2, 0.8]),
            "goals": _maybe(rng, _choice(rng, GOALS[:-1], n), 0.4),
            "online": _choice(rng, ("true", "false"), n),
        }
    else:
        frame |= {
            "max_travel_km": _maybe(rng, pl.Series(rng.integers(5, 60, size=n)).cast(pl.String), 0.2),
            "max_travel_minutes": _maybe(rng, pl.Series(rng.integers(10, 90, size=n)).cast(pl.String), 0.1),
            "interests": _lists(rng, [_choice(rng, INTERESTS, n) for _ in range(5)], n, 0, 5),
            "goal": _choice(rng, GOALS, n),
            "gender": _choice(rng, ("f", "m", "x"), n, [0.6, 0.38, 0.02]),
            "requested_mentor_gender": _maybe(rng, _choice(rng, ("f", "m"), n), 0.15),
            "country_of_origin": _choice(rng, COUNTRIES, n),
            "first_language": _choice(rng, LANGUAGES, n),
            "municipality": _choice(rng, [str(code) for code in range(101, 861, 8)], n),
            "track": _choice(rng, TRACKS, n),
            "priority": _choice(rng, ("1", "2"), n, [0.9, 0.1]),
            "online": _choice(rng, ("true", "false"), n, [0.3, 0.7]),
            "tags": _lists(rng, [_choice(rng, TAGS, n) for _ in range(2)], n, 0, 2),
            "avoid_organisations": _maybe(rng, _choice(rng, [f"ORG{k:03d}" for k in range(1, 41)], n), 0.02),
        }
    return pl.DataFrame(frame)


def write(directory: Path, rows: int, seed: int = SEED) -> Path:
    """The cohort directory the case reads: `rows` mentees, `MENTORS` mentors, the programme's rules."""
    directory.mkdir(parents=True, exist_ok=True)
    people(MENTORS, True, seed).write_csv(directory / "mentors.csv")
    people(rows, False, seed + 1).write_csv(directory / "mentees.csv")
    (directory / "rules.toml").write_text("max_distance_km = 30.0\nfield_depth = 2\n")
    return directory


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_read(directory: str, baseline: bool) -> dict[str, Any]:
    """One read in this fresh process: ours (the cohort with its warnings, as the command line reads it), or the
    baseline (polars.read_csv of mentees.csv alone)."""
    started = time.perf_counter()
    cpu = time.process_time()
    if baseline:
        frame = pl.read_csv(Path(directory) / "mentees.csv")
        rows, problems, warnings = frame.height, 0, 0
    else:
        from solver.errors import CohortInvalid, Problem
        from solver.ingest import load_cohort

        found: list[Problem] = []
        try:
            cohort = load_cohort(directory, warnings=found)
            rows, problems = len(cohort.mentees), 0
        except CohortInvalid as invalid:
            rows, problems = -1, len(invalid.problems)
        warnings = len(found)
    return {"seconds": time.perf_counter() - started, "cpu_s": time.process_time() - cpu, "rows": rows,
            "problems": problems, "warnings": warnings, "peak_rss_mb": _peak_mb()}


def _fresh(**kwargs: Any) -> dict[str, Any]:
    """`worker_read` in a fresh interpreter that imports only this module (as light as `mentormatch validate`:
    not the rest of the bench, whose imports would count in the peak)."""
    command = [sys.executable, "-m", "benchmarks.ingest_bench", "--worker", json.dumps(kwargs)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"read worker failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def case_read(quick: bool, log: Any) -> dict[str, Any]:
    """R: the files written once, then ours (twice: the median) and the baseline, each in a fresh process."""
    rows = QUICK_ROWS if quick else ROWS
    with tempfile.TemporaryDirectory(prefix="bench-read-") as tmp:
        started = time.perf_counter()
        directory = write(Path(tmp) / "cohort", rows)
        size_mb = (directory / "mentees.csv").stat().st_size / 2**20
        log(f"  R: wrote {rows:,} mentees ({size_mb:.0f} MB of CSV) in {time.perf_counter() - started:.1f} s")
        ours = [_fresh(directory=str(directory), baseline=False) for _ in range(1 if quick else 2)]
        base = _fresh(directory=str(directory), baseline=True)
        shutil.rmtree(directory)
    ours_s = float(statistics.median(r["seconds"] for r in ours))
    peak = max(r["peak_rss_mb"] for r in ours)
    agree = all(r["rows"] == base["rows"] == rows and r["problems"] == 0 for r in ours)
    return {
        "case": "R", "sizes": {"mentees": rows, "mentors": MENTORS, "candidate_pairs": 0},
        "ours_s": ours_s, "ours_cpu_s": float(statistics.median(r["cpu_s"] for r in ours)),
        "baseline": "polars.read_csv of mentees.csv alone (default type inference)", "baseline_s": base["seconds"],
        "baseline_cpu_s": base["cpu_s"], "ratio": ours_s / base["seconds"], "ours_objective": ours[0]["rows"],
        "baseline_objective": base["rows"], "objectives_agree": agree, "ours_peak_rss_mb": peak,
        "baseline_peak_rss_mb": base["peak_rss_mb"], "csv_mb": size_mb, "warnings": ours[0]["warnings"],
        "repeats": {"ours": len(ours), "baseline": 1}, "ours": ours, "baseline_detail": base,
        "target_met": ours_s <= TARGET_S and peak <= TARGET_MB and agree,
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker_read(**json.loads(sys.argv[2]))))
    else:
        sys.exit("usage: python -m benchmarks.ingest_bench --worker '{\"directory\": ..., \"baseline\": false}'"
                 " (make bench runs case R through benchmarks.run)")
