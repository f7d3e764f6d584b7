"""What-if sweeps: a grid of rule settings over one base cohort, one outcome per setting, and their Pareto frontier.

A grid is a list of axes, each a rule (or the weights, caps, quotas) and the values it takes; the settings
are the product of the axes' values, the last axis varying fastest. Every setting is a what-if scenario
(`solver.compare.apply_changes`) solved for its best matching and measured like one (`compare_scenarios`);
the sweep keeps the measures a coordinator weighs: matched, mean and worst score, mean travel, unmatched
by reason. This module is pure: `run_sweep` solves the settings one after another; `server.distributed`
runs the same settings as tasks on a Dask cluster.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from solver.budget import MAX_CANDIDATE_PAIRS
from solver.compare import (
    DENSITY_RULES,
    ScenarioChanges,
    apply_changes,
    compare_scenarios,
    density_problem,
    label_problems,
)
from solver.domain import Cohort
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.fileio import read_toml
from solver.solve import SolveOptions
from solver.workflows import ReasonCount

GRID_KEYS = (
    "max_distance_km", "field_depth", "min_language_level", "min_mentor_years", "weights", "organisation_caps",
    "gender_quotas", "gender_requests_hard", "max_travel_minutes", "eligible_municipalities", "eligible_tracks",
)  # fmt: skip
"""Rules a grid may vary (each with rules.toml's meaning); pins and bans are people, not settings."""
GRID_FILE_KEYS = ("label", "description", "axes")
MAX_SETTINGS = 1000
"""The most settings one sweep solves: a grid is meant to be read by people, a table of hundreds at most."""
NO_LIMIT = "none"
"""`max_distance_km = [..., "none"]`: the setting without a programme distance limit (TOML has no null)."""


@dataclass(frozen=True)
class AxisValue:
    """One value of an axis: its label ("max_distance_km 40") and the change it makes to the base."""

    label: str
    changes: ScenarioChanges
    path: str  # where the value is in its source, for problems: "axes.max_distance_km[2]"


@dataclass(frozen=True)
class GridAxis:
    name: str
    values: tuple[AxisValue, ...]


@dataclass(frozen=True)
class Grid:
    """The axes of a sweep; `settings()` lists their product in order."""

    axes: tuple[GridAxis, ...]
    label: str = ""
    description: str = ""
    source: str = ""
    problems: tuple[Problem, ...] = ()  # the label's and description's: `check_values` lists them with the values'

    def size(self) -> int:
        size = 1
        for axis in self.axes:
            size *= len(axis.values)
        return size

    def settings(self) -> list[Setting]:
        return [Setting(i, combo) for i, combo in enumerate(itertools.product(*(a.values for a in self.axes)))]


@dataclass(frozen=True)
class Setting:
    """One point of the grid: a value of every axis."""

    index: int
    values: tuple[AxisValue, ...]

    @property
    def label(self) -> str:
        return "; ".join(v.label for v in self.values)

    def changes(self) -> ScenarioChanges:
        """The axes' changes together: rule keys and weights merged (axes vary different keys)."""
        rules: dict[str, Any] = {}
        weights: dict[str, int] = {}
        for value in self.values:
            rules.update(value.changes.rules)
            weights.update(value.changes.weights)
        return ScenarioChanges(rules=rules, weights=weights)


@dataclass(frozen=True)
class SweepOutcome:
    """One setting solved and measured (as `ScenarioOutcome` measures; scores under the setting's weights)."""

    index: int
    label: str
    values: list[str]  # the value label of each axis
    status: str  # a `SolveStatus` value; "FAILED" when the setting could not be solved
    mentees: int
    matched: int
    matched_share: float
    mean_score: float | None
    worst_score: int | None
    mean_travel_km: float | None
    unmatched_by_reason: list[ReasonCount]
    solve_seconds: float
    error: str = ""  # why a setting failed ("" when solved)
    pareto: bool = False  # on the frontier of matched share, mean score and mean travel

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class Sweep:
    """Every setting's outcome in grid order, and the indexes of the Pareto-optimal ones."""

    label: str
    axes: list[str]
    outcomes: list[SweepOutcome]
    pareto: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Reading a grid --------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as people read it in a label: 40, B1, travel=6, IDA=10, f>=150, none."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        if "gender" in value:  # one gender quota
            bounds = [f">={value['min_pairs']}" if "min_pairs" in value else "",
                      f"<={value['max_pairs']}" if "max_pairs" in value else ""]
            return f"{value['gender']}{''.join(bounds)}"
        return ",".join(f"{k}={_show(v)}" for k, v in value.items()) or "as base"
    if isinstance(value, list):
        return ",".join(_show(v) for v in value) or "none"
    return str(value)


def axis_value(key: str, value: Any, path: str) -> AxisValue:
    """A grid file's value of rule `key` as a change to the base (rules.toml's meaning)."""
    if key == "weights":  # a table of weights (grid_from_mapping refuses anything else)
        changes = ScenarioChanges(weights=dict(value))
    elif key == "max_distance_km" and value == NO_LIMIT:
        changes = ScenarioChanges(rules={"no_distance_limit": True})
    else:
        changes = ScenarioChanges(rules={key: value})
    return AxisValue(f"{key} {_show(value)}", changes, path)


def grid_from_mapping(data: Mapping[str, Any], where: str = "grid") -> Grid:
    """A grid from a parsed TOML table (`[axes]` with one list of values per rule); CohortInvalid listing every
    problem with its field path (unknown keys, an axis that is no list or is empty, too many settings)."""
    problems: list[Problem] = []
    texts: list[Problem] = []

    def bad(path: str, message: str, code: ProblemCode = ProblemCode.BAD_VALUE) -> None:
        problems.append(Problem(code, path, message, f"{where} {path}"))

    for key in data:
        if key not in GRID_FILE_KEYS:
            bad(key, f"unknown key '{key}' (known: {', '.join(GRID_FILE_KEYS)})")
    for key in ("label", "description"):
        if not isinstance(data.get(key, ""), str):
            bad(key, "expected text")
        else:  # printed in the sweep's report, as a what-if label: plain text (it changes no setting, so the
            # values are checked all the same and its problem is listed with theirs: `check_values`)
            texts += [replace(p, location=f"{where} {key}") for p in label_problems({key: data.get(key, "")})]
    raw_axes = data.get("axes")
    axes: list[GridAxis] = []
    if not isinstance(raw_axes, Mapping) or not raw_axes:
        bad("axes", "expected a table [axes] with at least one rule and its list of values, e.g. "
                    "max_distance_km = [20, 30, 40]")
    else:
        for key, values in raw_axes.items():
            path = f"axes.{key}"
            if key not in GRID_KEYS:
                bad(path, f"'{key}' is no rule a grid can vary (known: {', '.join(GRID_KEYS)})")
            elif not isinstance(values, list) or not values:
                bad(path, "expected a non-empty list of values")
            elif key == "weights" and not all(isinstance(v, Mapping) for v in values):
                bad(path, "expected a list of tables of weights, e.g. [{}, {travel = 6}]")
            else:
                axes.append(GridAxis(key, tuple(axis_value(key, v, f"{path}[{k}]") for k, v in enumerate(values))))
    grid = Grid(tuple(axes), label=str(data.get("label", "")), description=str(data.get("description", "")),
                source=where, problems=tuple(texts))
    if axes and grid.size() > MAX_SETTINGS:
        bad("axes", f"{grid.size()} settings; a sweep solves at most {MAX_SETTINGS}", ProblemCode.TOO_LARGE)
    if problems:
        raise CohortInvalid(problems + texts)
    return grid


def load_grid(path: str | Path) -> Grid:
    path = Path(path)
    return replace(grid_from_mapping(read_toml(path, location=path.name), path.name), source=str(path))


# Settings as scenarios -------------------------------------------------------------------------------------


def _under(value_path: str, problem: Problem, where: str, rule: str = "") -> Problem:
    """A problem found applying a grid value (or a setting), placed at that value in the grid: its path is the
    value's and the problem's (`axes.field_depth[1].rules.field_depth`), its location the value as the grid file
    has it (`grid.toml: axes.field_depth[1]`; `axes.weights[1].travel` for a weight; the problem's own path after
    a comma when it is elsewhere: `axes.eligible_municipalities[0], rules.pins[0]`)."""
    inner = f"{value_path}.{problem.path}" if problem.path else value_path
    own = f"rules.{rule}"
    if not rule:
        place = inner
    elif not problem.path or problem.path == own:
        place = value_path
    elif problem.path.startswith((f"{own}.", f"{own}[")):
        place = value_path + problem.path[len(own):]
    else:
        place = f"{value_path}, {problem.path}"
    return Problem(problem.code, inner, problem.message, f"{where}: {place}" if where else place)


def check_values(base: Cohort, grid: Grid, where: str | None = None, *, max_pairs: int = MAX_CANDIDATE_PAIRS) -> None:
    """Every grid value checked before anything is solved; CohortInvalid with every problem at its place in the
    grid (path `axes.field_depth[1].rules.field_depth`, location `grid.toml: axes.field_depth[1]`; `where` is the
    grid file's name, by default its `source`'s).

    Each axis value is applied alone to the base, so a bad value is reported once rather than once per setting;
    values good alone are good together (the pins they are checked against are checked rule by rule). What only
    a combination shows, a setting too dense to solve (more than `max_pairs` candidate pairs, at the widest
    distance and the shallowest field, say), is counted for every combination of the axes that change the pairs
    (`DENSITY_RULES`) and reported at those values (TOO_LARGE), also before anything is solved. The grid's own
    label problems (`Grid.problems`) come first, with the values'."""
    where = where if where is not None else Path(grid.source).name if grid.source else ""
    problems = list(grid.problems)
    for axis in grid.axes:
        for value in axis.values:
            try:
                apply_changes(base, value.changes, label=value.label, where=value.path)
            except CohortInvalid as invalid:
                problems += [_under(value.path, p, where, axis.name) for p in invalid.problems]
    if problems:
        raise CohortInvalid(problems)
    dense = [a for a in grid.axes if a.name in DENSITY_RULES]
    for combination in itertools.product(*(a.values for a in dense)):
        try:
            cohort = apply_changes(base, Setting(0, combination).changes(), label="").cohort
        except CohortInvalid:
            continue  # a combination the values' own checks did not foresee: its settings fail with their problems
        problem = density_problem(cohort, max_pairs)
        if problem is None:
            continue
        if not combination:  # no axis changes the pairs: the base itself is too dense
            problems.append(replace(problem, location=f"the base cohort: {problem.path}"))
            continue
        named = next((v for a, v in zip(dense, combination, strict=True) if problem.path == f"rules.{a.name}"),
                     combination[0])
        settings = "; ".join(v.label for v in combination)
        places = ", ".join(v.path for v in combination)
        problems.append(Problem(ProblemCode.TOO_LARGE, named.path, f"with {settings}: {problem.message}",
                                f"{where}: {places}" if where else places))
    if problems:
        raise CohortInvalid(problems)


# Outcomes and the frontier ---------------------------------------------------------------------------------


def problems_text(problems: Sequence[Problem]) -> str:
    """A failed setting's problems in one line: the first, and how many more."""
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}" if problems else "no answer"


def failed_outcome(index: int, values: Sequence[str], error: str) -> SweepOutcome:
    """A setting that could not be solved: its place, its values and why."""
    return SweepOutcome(index=index, label="; ".join(values), values=list(values), status="FAILED", mentees=0,
                        matched=0, matched_share=0.0, mean_score=None, worst_score=None, mean_travel_km=None,
                        unmatched_by_reason=[], solve_seconds=0.0, error=error)


def solve_changes(base: Cohort, index: int, values: Sequence[str], changes: ScenarioChanges,
                  options: SolveOptions | None = None, *, source: str = "") -> SweepOutcome:
    """One setting (the base with `changes`) solved for its best matching and measured; never raises: a setting
    that breaks a rule, or whose solve fails, is a failed outcome with its problems or error."""
    label = "; ".join(values)
    try:
        scenario = apply_changes(base, changes, label=label, source=source)
        outcome = compare_scenarios([scenario], replace(options or SolveOptions(), alternatives=1)).scenarios[0]
    except CohortInvalid as invalid:
        return failed_outcome(index, values,
                              problems_text([_under(f"settings[{index}]", p, "") for p in invalid.problems]))
    except Exception as error:  # one setting's failure is its row, not the sweep's end
        return failed_outcome(index, values, f"{type(error).__name__}: {error}")
    return SweepOutcome(
        index=index, label=label, values=list(values), status=outcome.status, mentees=outcome.mentees,
        matched=outcome.matched, matched_share=outcome.matched_share, mean_score=outcome.mean_score,
        worst_score=outcome.worst_score, mean_travel_km=outcome.mean_travel_km,
        unmatched_by_reason=list(outcome.unmatched_by_reason), solve_seconds=outcome.solve_seconds)


def solve_setting(base: Cohort, setting: Setting, options: SolveOptions | None = None, *, source: str = ""
                  ) -> SweepOutcome:
    return solve_changes(base, setting.index, [v.label for v in setting.values], setting.changes(), options,
                         source=source)


def _criteria(o: SweepOutcome) -> tuple[float, float, float]:
    """Larger is better on each: matched share, mean score, minus mean travel (nobody matched: worst possible)."""
    score = o.mean_score if o.mean_score is not None else float("-inf")
    travel = -o.mean_travel_km if o.mean_travel_km is not None else float("-inf")
    return (o.matched_share, score, travel)


def pareto_front(outcomes: Sequence[SweepOutcome]) -> list[int]:
    """Indexes of the solved outcomes that no other solved outcome dominates (at least as good on matched share,
    mean score and mean travel, better on one); settings with equal measures are all kept. Ascending."""
    solved = [(o.index, _criteria(o)) for o in outcomes if o.ok]
    front = []
    for index, mine in solved:
        dominated = any(all(a >= b for a, b in zip(other, mine, strict=True)) and other != mine
                        for _, other in solved)
        if not dominated:
            front.append(index)
    return sorted(front)


def finish(label: str, grid: Grid, outcomes: Sequence[SweepOutcome]) -> Sweep:
    """The outcomes in grid order, each marked on or off the Pareto frontier."""
    ordered = sorted(outcomes, key=lambda o: o.index)
    front = pareto_front(ordered)
    on = set(front)
    return Sweep(label=label, axes=[a.name for a in grid.axes],
                 outcomes=[replace(o, pareto=o.index in on) for o in ordered], pareto=front)


def run_sweep(base: Cohort, grid: Grid, options: SolveOptions | None = None, *,
              on_outcome: Callable[[SweepOutcome], None] | None = None) -> Sweep:
    """Solve every setting one after another (the library's sweep; `server.distributed` spreads the same settings
    over a cluster). The values are checked first (CohortInvalid, nothing solved); a setting that fails is a
    failed outcome with its problems or error, and the rest go on."""
    check_values(base, grid)
    outcomes = []
    for setting in grid.settings():
        outcome = solve_setting(base, setting, options, source=grid.source)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return finish(grid.label or base.name, grid, outcomes)
