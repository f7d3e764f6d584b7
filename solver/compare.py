"""What-if scenarios: a base cohort with changes (rules, weights, people, pins), solved and compared side by side."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from solver.arrays import cohort_arrays
from solver.budget import MAX_CANDIDATE_PAIRS, estimate_pairs, too_dense
from solver.defaults import COMPARE_EXPLAIN_PEOPLE
from solver.domain import Cohort, FieldFamily, Mentee, Mentor, Segment, Weights, cefr_name
from solver.errors import CohortInvalid, Problem, ProblemCode, did_you_mean
from solver.explain import ExplainOptions
from solver.explain.wording import reason_words
from solver.fileio import read_toml
from solver.ingest import (
    MENTEE_COLUMNS,
    MENTEE_REQUIRED,
    MENTOR_COLUMNS,
    MENTOR_REQUIRED,
    RowReader,
    load_cohort,
    people_from_rows,
)
from solver.rules_toml import RULE_KEYS, rules_from_mapping
from solver.solve import SolveOptions, solve
from solver.stability import BlockingPair, blocking_pairs
from solver.validate import control_characters, validate
from solver.workflows import (
    PairRecord,
    PairRef,
    ReasonCount,
    UnmatchedRecord,
    changed_pairs,
    id_pairs,
    pair_records,
    reason_counts,
    text_list,
    top_choice_counts,
    unmatched_records,
    without_people,
)

SCENARIO_KEYS = (
    "label", "description", "cohort", "rules", "weights", "add_mentors", "add_mentees", "remove",
    "absent_organisations", "add_pins", "add_bans",
)  # fmt: skip
TOP_CHOICES = 3
COUNTERFACTUAL_BUDGET = ExplainOptions(max_people=COMPARE_EXPLAIN_PEOPLE, time_budget_s=20.0, resolve_time_limit_s=5.0)
"""Re-solves for counterfactuals per scenario: enough for a report, bounded for large cohorts."""


@dataclass(frozen=True)
class ScenarioChanges:
    """What a what-if changes in its base cohort. Applied in this order: remove, add, rules, pins and bans."""

    rules: Mapping[str, Any] = field(default_factory=dict)  # rules.toml keys; tables merge key by key
    weights: Mapping[str, int] = field(default_factory=dict)  # merged over the base weights
    add_mentors: tuple[Mentor, ...] = ()
    add_mentees: tuple[Mentee, ...] = ()
    remove: tuple[str, ...] = ()  # participant ids, either side
    absent_organisations: tuple[str, ...] = ()  # every mentor of these organisations is away
    add_pins: tuple[tuple[str, str], ...] = ()  # (mentee_id, mentor_id), on top of the base's pins
    add_bans: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A cohort to solve under a label; `changes` describes, for people, how it differs from its base."""

    label: str
    cohort: Cohort
    source: str = ""  # the file or directory it came from
    description: str = ""
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScenarioOutcome:
    """One scenario's solved matching and its measures. Scores are under the scenario's own weights."""

    label: str
    source: str
    description: str
    changes: list[str]
    status: str  # a `SolveStatus` value
    mentees: int
    mentors: int
    capacity: int  # places offered by all mentors together
    matched: int
    matched_share: float  # matched / mentees (0 when there are no mentees)
    objective_value: int
    total_score: int
    mean_score: float | None  # None when nobody is matched
    worst_score: int | None
    mean_travel_km: float | None
    ranking_mentees: int  # mentees who ranked at least one mentor
    top_choice_mentees: int  # of them, matched to one of their first three choices
    top_choice_share: float | None  # None when nobody ranked
    blocking_pairs: int
    unmatched_by_reason: list[ReasonCount]
    pairs_kept: int  # against the base (the first scenario), by participant id
    pairs_removed: int
    pairs_added: int
    pairs: list[PairRecord]
    unmatched: list[UnmatchedRecord]
    blocking: list[BlockingPair]
    removed_vs_base: list[PairRef]
    added_vs_base: list[PairRef]
    solve_seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    """Scenarios solved side by side; the first is the base the others are diffed against."""

    base_label: str
    scenarios: list[ScenarioOutcome]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Reading scenario files ------------------------------------------------------------------------------


class BaseCohorts:
    """Base cohorts read once for several scenario files: a base several what-ifs share is read (and its problems
    reported) once, and the problems of a broken base do not hide those of the files built on it."""

    def __init__(self) -> None:
        self._read: dict[Path, Cohort | CohortInvalid] = {}

    def load(self, path: Path) -> tuple[Cohort | None, list[Problem]]:
        """The cohort at `path` (None when it has problems), and its problems the first time they are asked for."""
        key = path.resolve()
        if key in self._read:
            known = self._read[key]
            return (known, []) if isinstance(known, Cohort) else (None, [])
        try:
            cohort = load_cohort(key)
        except CohortInvalid as invalid:
            self._read[key] = invalid
            return None, invalid.problems
        self._read[key] = cohort
        return cohort, []


def load_scenario(path: str | Path, bases: BaseCohorts | None = None) -> Scenario:
    """A what-if TOML file (base cohort + changes) or a plain cohort directory / .json file (no changes).

    CohortInvalid lists every problem at once: the file's own (keys, rules, weights, added people, label) also
    when its base cohort is broken, beside the base's. `bases` shares base cohorts between the files of one
    comparison (a base's problems are then reported with the first file that names it)."""
    path = Path(path)
    bases = bases if bases is not None else BaseCohorts()
    if path.is_dir() or path.suffix.lower() == ".json":
        cohort, found = bases.load(path)
        if cohort is None:
            raise CohortInvalid(found)
        return Scenario(label=path.name if path.is_dir() else path.stem, cohort=cohort, source=str(path))
    where = path.name
    if not path.exists():
        raise CohortInvalid([Problem(ProblemCode.MISSING_FILE, "", f"no scenario file or cohort at {path}", str(path))])
    data = read_toml(path, location=where)
    problems: list[Problem] = []

    def bad(key: str, message: str, code: ProblemCode = ProblemCode.BAD_VALUE) -> None:
        problems.append(Problem(code, key, message, f"{where} {key}"))

    for key in data:
        if key not in SCENARIO_KEYS:
            bad(key, f"unknown scenario key '{key}'{did_you_mean(key, SCENARIO_KEYS)} (known: "
                f"{', '.join(SCENARIO_KEYS)})")
    base_ref = data.get("cohort")
    base: Cohort | None = None
    base_problems: list[Problem] = []
    if not isinstance(base_ref, str) or not base_ref:
        bad("cohort", "expected the base cohort's path, relative to this file", ProblemCode.MISSING_FILE)
    else:
        base, found = bases.load(path.parent / base_ref)
        base_problems = [_at(p, f"{where} -> {base_ref}") for p in found]
    # The file's own problems are found whatever the state of its base, so one run lists them all.
    changes = _changes_from_mapping(data, path, problems)
    label = data.get("label", path.stem)
    description = data.get("description", "")
    for key, value in (("label", label), ("description", description)):
        if not isinstance(value, str):
            bad(key, "expected text")
        elif (problem := control_characters(key, value, key)) is not None:
            bad(key, problem.message)
    if base is None:  # what needs no base is checked all the same: the rules' values, the added people's
        _changed_rules(Cohort((), ()), changes, problems, [], where)
        _add_validation(Cohort(changes.add_mentors, changes.add_mentees), {"mentors": 0, "mentees": 0}, problems,
                        where, added_only=True)
        raise CohortInvalid(problems + base_problems)
    return _apply(base, changes, problems, label=str(label), source=str(path), description=str(description),
                  where=where)


def label_problems(texts: Mapping[str, str]) -> list[Problem]:
    """BAD_VALUE at each path whose label (a what-if's `label` or `description`, a base or grid value's label) holds
    a control character or one that prints as nothing or turns the text around (`solver.validate`'s check of ids):
    a label is echoed into outcomes and reports, where a terminal would act on it. The last part of the path names
    the label in the message ('the base label holds ...')."""
    found = (control_characters(path, text, path.rpartition(".")[2].replace("_", " ")) for path, text in texts.items())
    return [p for p in found if p is not None]


def _at(problem: Problem, where: str) -> Problem:
    return replace(problem, location=f"{where}: {problem.location or problem.path}")


def _text_cell(value: Any) -> str:
    """A TOML value as the text a CSV cell would hold (lists joined with ';', booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(_text_cell(v) for v in value)
    return str(value)


def _people(data: Mapping[str, Any], key: str, path: Path, problems: list[Problem]) -> list[Any]:
    """Mentors or mentees added by a scenario: inline tables, or a CSV / Parquet file beside the scenario."""
    raw = data.get(key)
    if raw is None:
        return []
    mentors = key == "add_mentors"
    required, known = (MENTOR_REQUIRED, MENTOR_COLUMNS) if mentors else (MENTEE_REQUIRED, MENTEE_COLUMNS)
    stem = "mentors" if mentors else "mentees"
    reader = RowReader()
    rows: list[dict[str, str]] | None
    if isinstance(raw, str):
        table = (path.parent / raw).resolve()
        file_name = table.name
        if table.suffix.lower() not in (".csv", ".parquet"):
            problems.append(Problem(ProblemCode.NOT_CSV, key, f"'{raw}' is not a .csv or .parquet file",
                                    f"{path.name} {key}"))
            return []
        rows = reader.table(table.parent, table.stem, required, known)
    elif isinstance(raw, list) and all(isinstance(item, dict) for item in raw):
        file_name = f"{path.name} {key}"
        reader.first_row = 1  # inline tables have no header: the first is row 1
        rows = []
        for k, item in enumerate(raw):
            for column in item:
                if column not in known:
                    reader.problem(ProblemCode.MISSING_COLUMN, f"{key}[{k}].{column}", f"unknown column "
                                   f"'{column}'{did_you_mean(column, known)} (known: {', '.join(known)})", file_name)
            for column in required:
                if column not in item and column not in ("years_experience", "capacity"):
                    reader.problem(ProblemCode.MISSING_COLUMN, f"{key}[{k}].{column}",
                                   f"required column '{column}' is missing", file_name)
            row = {column: _text_cell(item.get(column, "")) for column in known}
            rows.append(row)
    else:
        problems.append(Problem(ProblemCode.BAD_VALUE, key, "expected an array of tables or a .csv path",
                                f"{path.name} {key}"))
        return []
    people = people_from_rows(reader, rows or [], mentors)  # all rows at once, by columns
    for problem in reader.problems:
        location = problem.location.replace(f"{stem}.csv", file_name, 1) if problem.location else file_name
        path_in_file = key + problem.path[len(stem):] if problem.path.startswith(f"{stem}[") else problem.path
        problems.append(replace(problem, path=path_in_file, location=location))
    return people


def _changes_from_mapping(data: Mapping[str, Any], path: Path, problems: list[Problem]) -> ScenarioChanges:
    where = path.name
    rules = data.get("rules", {})
    weights = data.get("weights", {})
    for key, value in (("rules", rules), ("weights", weights)):
        if not isinstance(value, dict):
            problems.append(Problem(ProblemCode.BAD_VALUE, key, "expected a table", f"{where} [{key}]"))
    return ScenarioChanges(
        rules=rules if isinstance(rules, dict) else {},
        weights=weights if isinstance(weights, dict) else {},
        add_mentors=tuple(_people(data, "add_mentors", path, problems)),
        add_mentees=tuple(_people(data, "add_mentees", path, problems)),
        remove=text_list(data, "remove", where, problems),
        absent_organisations=text_list(data, "absent_organisations", where, problems),
        add_pins=tuple((p.mentee_id, p.mentor_id) for p in id_pairs(data, "add_pins", where, problems)),
        add_bans=tuple((p.mentee_id, p.mentor_id) for p in id_pairs(data, "add_bans", where, problems)),
    )


# Applying changes ------------------------------------------------------------------------------------


def apply_changes(base: Cohort, changes: ScenarioChanges, *, label: str, source: str = "", description: str = "",
                  where: str = "scenario") -> Scenario:
    """The base cohort with the changes applied; raises CohortInvalid with every problem found."""
    return _apply(base, changes, [], label=label, source=source, description=description, where=where)


def _apply(base: Cohort, changes: ScenarioChanges, problems: list[Problem], *, label: str, source: str,
           description: str, where: str) -> Scenario:
    """`apply_changes`, adding to the problems already found in the scenario file. The changed cohort is always
    validated, so every problem comes at once; a value already reported (an added mentor's unreadable latitude)
    is not reported again by validation."""
    described: list[str] = []
    mentor_ids = {m.id for m in base.mentors}
    mentee_ids = {m.id for m in base.mentees}
    gone: set[str] = set()
    for k, person in enumerate(changes.remove):
        if person not in mentor_ids and person not in mentee_ids:
            problems.append(Problem(ProblemCode.UNKNOWN_ID, f"remove[{k}]", f"'{person}' is no mentor or mentee",
                                    f"{where} remove[{k}]"))
        gone.add(person)
    if changes.remove:
        described.append(f"without {len(changes.remove)} participant(s): {', '.join(changes.remove)}")
    for k, org in enumerate(changes.absent_organisations):
        away = {m.id for m in base.mentors if m.organisation == org}
        if not away:
            problems.append(Problem(ProblemCode.UNKNOWN_ID, f"absent_organisations[{k}]",
                                    f"no mentor belongs to organisation '{org}'", f"{where} absent_organisations[{k}]"))
        described.append(f"organisation {org} absent ({len(away)} mentor(s))")
        gone |= away
    for side, added in (("mentor", changes.add_mentors), ("mentee", changes.add_mentees)):
        if added:
            described.append(f"{len(added)} more {side}(s): {', '.join(p.id for p in added)}")
    rules = _changed_rules(base, changes, problems, described, where)
    described += [f"pin {a} with {b}" for a, b in changes.add_pins]
    described += [f"ban {a} with {b}" for a, b in changes.add_bans]
    staying = without_people(replace(base, rules=rules, name=label), gone)
    cohort = replace(
        staying,
        mentors=staying.mentors + changes.add_mentors,
        mentees=staying.mentees + changes.add_mentees,
        rules=replace(staying.rules, pins=staying.rules.pins + changes.add_pins,
                      bans=staying.rules.bans + changes.add_bans),
    )
    _add_validation(cohort, {"mentors": len(staying.mentors), "mentees": len(staying.mentees)}, problems, where)
    if problems:
        raise CohortInvalid(problems)
    return Scenario(label=label, cohort=cohort, source=source, description=description, changes=tuple(described))


def _add_validation(cohort: Cohort, staying: Mapping[str, int], problems: list[Problem], where: str, *,
                    added_only: bool = False) -> None:
    """`validate(cohort)`'s problems added to `problems`, but none at a value already reported (an added mentor's
    unreadable latitude); with `added_only` only those of the people a scenario adds."""
    reported = [p.path for p in problems]
    for problem in validate(cohort):
        own = _scenario_path(problem.path, staying)  # an added person's problem at its place in the scenario
        if added_only and not own.startswith("add_"):
            continue
        if not any(own == path or own.startswith((f"{path}.", f"{path}[")) for path in reported):
            problems.append(replace(problem, location=f"{where}: {problem.location or own}"))


def _scenario_path(path: str, staying: Mapping[str, int]) -> str:
    """A path of the changed cohort as the scenario names it: the people it adds come after those who stay, so
    `mentors[12].lat` with 10 mentors staying is `add_mentors[2].lat`."""
    side, bracket, rest = path.partition("[")
    if not bracket or side not in staying:
        return path
    index, _, tail = rest.partition("]")
    if not index.isdigit() or int(index) < staying[side]:
        return path
    return f"add_{side}[{int(index) - staying[side]}]{tail}"


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Segment | FieldFamily):  # by id, and for a segment what it changes
        if isinstance(value, FieldFamily):
            return f"family {value.id}"
        given = [f"{f.name} {_show(getattr(value, f.name))}" for f in dataclasses.fields(value)
                 if f.name != "id" and getattr(value, f.name) not in (None, (), False)]
        return f"segment {value.id} ({', '.join(given)})" if given else f"segment {value.id}"
    if isinstance(value, StrEnum):
        return value.value
    return f"{value:g}" if isinstance(value, float) else str(value)


def _changed_rules(base: Cohort, changes: ScenarioChanges, problems: list[Problem], described: list[str],
                   where: str) -> Any:
    """The base rules with the scenario's rule keys parsed by `rules_from_mapping` and laid over them."""
    overrides = dict(changes.rules)
    weights = dict(overrides.pop("weights", {}) or {})
    weights.update(changes.weights)
    parsed_input = dict(overrides)
    if weights:
        parsed_input["weights"] = weights
    found: list[Problem] = []
    parsed = rules_from_mapping(parsed_input, found, base.rules.travel_times)
    problems += [replace(p, location=f"{where} {p.path}") for p in found]
    updates: dict[str, Any] = {}
    for key in overrides:
        if key not in RULE_KEYS:
            continue  # reported by rules_from_mapping
        if key == "field_families_file":  # a file of families: what it holds replaces the families
            updates["field_families"] = parsed.field_families
        elif key == "no_distance_limit":  # as in rules.toml: true lifts the limit, false changes nothing
            if parsed.max_distance_km is None:
                updates["max_distance_km"] = None
        elif key == "organisation_caps":
            updates[key] = tuple({**dict(base.rules.organisation_caps), **dict(parsed.organisation_caps)}.items())
        else:
            updates[key] = getattr(parsed, key)
    if weights:
        merged = base.rules.weights.as_dict()
        merged.update({k: getattr(parsed.weights, k) for k in weights if k in merged})
        updates["weights"] = Weights(**merged)
    for key, value in updates.items():
        if key == "weights":
            before = base.rules.weights.as_dict()
            after = value.as_dict()
            described += [f"weight {k}: {before[k]} -> {after[k]}" for k in after if before[k] != after[k]]
        elif key == "min_language_level":
            described.append(f"{key}: {cefr_name(base.rules.min_language_level)} -> {cefr_name(value)}")
        else:
            described.append(f"{key}: {_show(getattr(base.rules, key))} -> {_show(value)}")
    return replace(base.rules, **updates)


# Comparing -------------------------------------------------------------------------------------------


DENSITY_RULES = ("max_distance_km", "no_distance_limit", "field_depth", "min_mentor_years", "max_travel_minutes",
                 "eligible_municipalities", "eligible_tracks", "field_rule", "field_families", "field_families_file",
                 "segments")
"""The rules that change how many candidate pairs a cohort makes (`solver.budget` counts the join of field group
and distance cell among the eligible people); weights, caps, quotas, pins and the language level do not."""


def may_densify(changes: ScenarioChanges) -> bool:
    """Whether a scenario can make more candidate pairs than its base: it adds people or changes a rule the pairs
    depend on (removing people, or changing weights, caps or quotas, never does)."""
    return bool(changes.add_mentors or changes.add_mentees or set(changes.rules) & set(DENSITY_RULES))


def density_problem(cohort: Cohort, max_pairs: int = MAX_CANDIDATE_PAIRS) -> Problem | None:
    """The TOO_LARGE problem of a valid cohort that makes more than `max_pairs` candidate pairs (`solver.budget`,
    naming the rule that makes it so dense), found by counting before any pair is built; None when it fits."""
    arrays = cohort_arrays(cohort)
    return too_dense(arrays, estimate_pairs(arrays), max_pairs)


def load_scenarios(scenarios: Sequence[str | Path | Scenario], *, max_pairs: int = MAX_CANDIDATE_PAIRS
                   ) -> list[Scenario]:
    """Every scenario read (Scenario objects kept as they are) and checked before anything is solved: CohortInvalid
    with the problems of all files at once, a scenario too dense to solve (more than `max_pairs` candidate pairs)
    included. A base several files share is read once."""
    loaded: list[Scenario] = []
    problems: list[Problem] = []
    bases = BaseCohorts()
    for item in scenarios:
        if isinstance(item, Scenario):
            loaded.append(item)
            continue
        try:
            loaded.append(load_scenario(item, bases))
        except CohortInvalid as invalid:
            problems += invalid.problems
    for scenario in loaded:
        dense = density_problem(scenario.cohort, max_pairs)
        if dense is not None:
            where = Path(scenario.source).name if scenario.source else scenario.label
            problems.append(replace(dense, location=f"{where}: {dense.path}"))
    if problems:
        raise CohortInvalid(problems)
    return loaded


def compare_scenarios(scenarios: Sequence[str | Path | Scenario], options: SolveOptions | None = None, *,
                      counterfactuals: bool = False, explain_options: ExplainOptions | None = None) -> Comparison:
    """Solve each scenario (the best matching only) and measure it; the first is the base for diffs.

    Every scenario is read before anything is solved, so one call reports the problems of all files.
    With `counterfactuals`, each unmatched mentee's hints include the single changes that would get her
    matched (re-solves within `explain_options`' budget, by default `COUNTERFACTUAL_BUDGET` per scenario).
    """
    if not scenarios:
        raise ValueError("compare at least one scenario")
    loaded = load_scenarios(scenarios)
    options = replace(options or SolveOptions(), alternatives=1)
    explain_options = explain_options or COUNTERFACTUAL_BUDGET
    outcomes: list[ScenarioOutcome] = []
    for scenario in loaded:
        base = [PairRef(p.mentee_id, p.mentor_id) for p in outcomes[0].pairs] if outcomes else None
        outcomes.append(solve_and_measure(scenario, options, base, counterfactuals, explain_options))
    return Comparison(base_label=loaded[0].label, scenarios=outcomes)


def solve_and_measure(scenario: Scenario, options: SolveOptions, base_pairs: list[PairRef] | None,
                       counterfactuals: bool, explain_options: ExplainOptions) -> ScenarioOutcome:
    """Solve one scenario; diff its pairs against `base_pairs` (None: this is the base)."""
    cohort = scenario.cohort
    started = time.monotonic()
    result = solve(cohort, options)
    seconds = time.monotonic() - started
    candidates = result.candidates
    best = result.best
    rows = best.rows if best is not None else candidates.mentee[:0]
    pairs = pair_records(candidates, rows)
    unmatched, explain_notes = unmatched_records(result, counterfactuals=counterfactuals, options=explain_options)
    blocking = blocking_pairs(candidates, rows)
    ranking, top = top_choice_counts(candidates, rows, TOP_CHOICES)
    refs = [PairRef(p.mentee_id, p.mentor_id) for p in pairs]
    kept, removed, added = changed_pairs(refs if base_pairs is None else base_pairs, refs)
    scores = [p.score for p in pairs]
    return ScenarioOutcome(
        label=scenario.label,
        source=scenario.source,
        description=scenario.description,
        changes=list(scenario.changes),
        status=(best.status if best is not None else result.status).value,
        mentees=len(cohort.mentees),
        mentors=len(cohort.mentors),
        capacity=sum(max(m.capacity, 0) for m in cohort.mentors),
        matched=len(pairs),
        matched_share=len(pairs) / len(cohort.mentees) if cohort.mentees else 0.0,
        objective_value=best.objective.value if best is not None else 0,
        total_score=sum(scores),
        mean_score=sum(scores) / len(scores) if scores else None,
        worst_score=min(scores) if scores else None,
        mean_travel_km=sum(p.distance_km for p in pairs) / len(pairs) if pairs else None,
        ranking_mentees=ranking,
        top_choice_mentees=top,
        top_choice_share=top / ranking if ranking else None,
        blocking_pairs=len(blocking),
        unmatched_by_reason=reason_counts(unmatched),
        pairs_kept=kept,
        pairs_removed=len(removed),
        pairs_added=len(added),
        pairs=pairs,
        unmatched=unmatched,
        blocking=blocking,
        removed_vs_base=removed,
        added_vs_base=added,
        solve_seconds=round(seconds, 4),
        notes=list(result.notes) + explain_notes,
    )


# Presenting ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    """One measure across the scenarios, formatted for people (the command line's table and the report)."""

    measure: str
    values: list[str]


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else f"{part}/0"


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summary_rows(comparison: Comparison) -> list[SummaryRow]:
    """The side-by-side table: one row per measure, one value per scenario (a value may hold line breaks)."""
    outcomes = comparison.scenarios

    def row(measure: str, value: Callable[[ScenarioOutcome], str]) -> SummaryRow:
        return SummaryRow(measure, [value(o) for o in outcomes])

    return [
        row("status", lambda o: o.status),
        row("mentees / mentors", lambda o: f"{o.mentees} / {o.mentors}"),
        row("mentor places", lambda o: str(o.capacity)),
        row("matched", lambda o: _share(o.matched, o.mentees)),
        row("mean pair score", lambda o: _number(o.mean_score)),
        row("worst pair score", lambda o: "–" if o.worst_score is None else str(o.worst_score)),
        row("mean travel km", lambda o: _number(o.mean_travel_km)),
        row(f"got a top-{TOP_CHOICES} choice", lambda o: (
            _share(o.top_choice_mentees, o.ranking_mentees) if o.ranking_mentees else "– (no rankings)")),
        row("blocking pairs", lambda o: str(o.blocking_pairs) if o.ranking_mentees else "–"),
        row("unmatched by reason", lambda o: "\n".join(f"{reason_words(r.reason)}: {r.count}"
                                                       for r in o.unmatched_by_reason) or "none"),
        row("pairs vs base", lambda o: f"{o.pairs_kept} kept\n-{o.pairs_removed} +{o.pairs_added}"),
    ]
