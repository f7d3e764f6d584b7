"""The speed-dating planner: optimal against brute force, hard properties on random cohorts, rankings -> matching.

The brute force and the checks are written from the README ("Speed-dating kick-off") and the rules oracle
(`tests/rules_oracle.py`), not from the planner's arrays: a schedule is any sequence of rounds, each a set of
allowed pairs with nobody twice, and its objective is computed from the text.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.domain import Cohort, Ranking
from solver.errors import CohortInvalid
from solver.ingest import load_cohort
from solver.model import SolveStatus
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, solve
from solver.speeddating import PlanOptions, SpeedDatingPlan, plan_speed_dating
from solver.speeddating.cpsat import select_meetings_cpsat
from solver.speeddating.flow import select_meetings
from solver.speeddating.instance import PlanInstance, objective_parts
from solver.speeddating.rounds import assign_rounds
from solver.speeddating.sheet import plan_dict, round_csv, write_plan_files
from solver.stop import StopToken
from tests.conftest import SCENARIOS, mentee, mentor
from tests.oracle import random_cohort
from tests.rules_oracle import allowed_pairs

Pair = tuple[str, str]


# The README's objective, from the text -------------------------------------------------------------------


def readme_objective(cohort: Cohort, meetings: set[Pair], options: PlanOptions, best: set[Pair],
                     alternatives: set[Pair]) -> tuple[int, ...]:
    """(breaks, best pairs met, alternative pairs met, mentee coverage, mentor share, meetings, score)."""
    rounds = options.rounds
    present = {b.id for b in cohort.mentors if b.capacity > 0}
    allowed = {p for p in allowed_pairs(cohort) if p[1] in present}
    score = pair_scores(cohort)
    degree = Counter(a for a, _ in meetings) + Counter(b for _, b in meetings)
    partners = Counter(a for a, _ in allowed) + Counter(b for _, b in allowed)

    def f(count: int) -> int:  # the i-th unit is worth R + 1 - i
        return sum(rounds + 1 - i for i in range(1, count + 1))

    breaks = 0
    if options.max_breaks is not None:
        people = [a.id for a in cohort.mentees] + sorted(present)
        breaks = sum(min(degree[v], min(rounds - options.max_breaks, partners[v])) for v in people)
    coverage = 0
    for a in cohort.mentees:
        listed = sorted((p for p in allowed if p[0] == a.id), key=lambda p: (-score[p], p[1]))[:rounds]
        coverage += f(sum(1 for p in listed if p in meetings))
    share = sum(f(degree[b]) for b in present)
    return (breaks, len(meetings & best), len(meetings & alternatives), coverage, share, len(meetings),
            sum(score[p] for p in meetings))


def pair_scores(cohort: Cohort) -> dict[Pair, int]:
    """Each allowed pair's score (README, soft terms; the engine's scores are checked by the rules oracle)."""
    canonical = cohort.canonical()
    candidates = candidate_pairs(canonical)
    return {(canonical.mentees[a].id, canonical.mentors[b].id): s for a, b, s in
            zip(candidates.mentee.tolist(), candidates.mentor.tolist(), candidates.score.tolist(), strict=True)}


def matchings_of(cohort: Cohort, options: PlanOptions) -> tuple[set[Pair], set[Pair]]:
    result = solve(cohort, SolveOptions(alternatives=options.alternatives, seed=options.seed))
    pairs = [set(m.pairs(result.candidates)) for m in result.matchings]
    best = pairs[0] if pairs else set()
    return best, set().union(*pairs[1:]) - best if len(pairs) > 1 else set()


def brute_force(cohort: Cohort, options: PlanOptions) -> tuple[int, ...]:
    """The best objective over every schedule: each round a set of allowed pairs, nobody twice, no pair twice."""
    present = {b.id for b in cohort.mentors if b.capacity > 0}
    allowed = sorted(p for p in allowed_pairs(cohort) if p[1] in present)
    per_round = [frozenset(c) for k in range(len(allowed) + 1) for c in itertools.combinations(allowed, k)
                 if len({a for a, _ in c}) == k and len({b for _, b in c}) == k
                 and (options.tables is None or k <= options.tables)]
    best, alternatives = matchings_of(cohort, options)
    seen: set[frozenset[Pair]] = set()
    top: tuple[int, ...] | None = None
    for schedule in itertools.product(per_round, repeat=options.rounds):
        union = frozenset().union(*schedule)
        if sum(len(r) for r in schedule) != len(union) or union in seen:
            continue
        seen.add(union)
        value = readme_objective(cohort, set(union), options, best, alternatives)
        top = value if top is None or value > top else top
    assert top is not None
    return top


def dense_cohort(rng: random.Random, n: int, m: int, capacity_zero: bool = False) -> Cohort:
    """Everybody in one place, field and language (every pair allowed), with interests making scores differ."""
    tags = ["a", "b", "c", "d"]
    mentors = tuple(mentor(f"M{j}", rng.uniform(0, 5), interests=tuple(rng.sample(tags, rng.randint(0, 3))),
                           capacity=0 if capacity_zero and j == 0 else 1) for j in range(m))
    mentees = tuple(mentee(f"E{i}", rng.uniform(0, 5), interests=tuple(rng.sample(tags, rng.randint(0, 3))))
                    for i in range(n))
    return Cohort(mentors, mentees, name="dense")


# Optimal against brute force ----------------------------------------------------------------------------


BRUTE_CASES = [
    (seed, rounds, tables, breaks)
    for seed, (rounds, tables, breaks) in enumerate([(2, None, None), (3, None, None), (2, 2, None), (3, 2, 1),
                                                     (2, None, 0), (3, 1, None), (2, 2, 1)])
]


@pytest.mark.parametrize(("seed", "rounds", "tables", "max_breaks"), BRUTE_CASES)
def test_the_plan_is_optimal_against_brute_force_on_3_x_3(seed: int, rounds: int, tables: int | None,
                                                          max_breaks: int | None) -> None:
    rng = random.Random(seed)
    cohort = dense_cohort(rng, 3, 3, capacity_zero=seed % 3 == 2)
    if seed % 2:  # some pairs forbidden, so that the choice is not the same for everybody
        cohort = replace(cohort, rules=replace(cohort.rules, bans=(("E0", "M1"), ("E2", "M2"))))
    options = PlanOptions(rounds=rounds, minutes=5, tables=tables, max_breaks=max_breaks)
    plan = plan_speed_dating(cohort, options)
    assert plan.status is SolveStatus.OPTIMAL
    best, alternatives = matchings_of(cohort, options)
    met = {(x.mentee_id, x.mentor_id) for x in plan.meetings}
    assert plan.objective.key() == readme_objective(cohort, met, options, best, alternatives)
    assert plan.objective.key() == brute_force(cohort, options)


def test_brute_force_on_a_random_cohort_with_capacity_zero_and_rules() -> None:
    rng = random.Random(5)
    cohort = random_cohort(rng, 3, 3)
    cohort = replace(cohort, mentors=(replace(cohort.mentors[0], capacity=0), *cohort.mentors[1:]))
    for options in (PlanOptions(rounds=2, minutes=5), PlanOptions(rounds=3, minutes=5, tables=1, max_breaks=1)):
        plan = plan_speed_dating(cohort, options)
        assert plan.objective.key() == brute_force(cohort, options)
        assert cohort.mentors[0].id in plan.absent_mentors


# Hard properties on random cohorts ----------------------------------------------------------------------


def check_plan(cohort: Cohort, plan: SpeedDatingPlan, options: PlanOptions) -> None:
    """What every plan must be, from the README: checked from the plan's own output."""
    present = {b.id for b in cohort.mentors if b.capacity > 0}
    allowed = {p for p in allowed_pairs(cohort) if p[1] in present}
    pairs = [(x.mentee_id, x.mentor_id) for x in plan.meetings]
    assert len(pairs) == len(set(pairs)), "a pair meets twice"
    assert set(pairs) <= allowed, "a meeting that the hard rules forbid (or with a mentor of capacity 0)"
    seats = Counter((x.round, x.mentee_id) for x in plan.meetings) + Counter((x.round, x.mentor_id)
                                                                          for x in plan.meetings)
    assert max(seats.values(), default=1) == 1, "someone has two meetings in one round"
    tables = Counter((x.round, x.table) for x in plan.meetings)
    assert max(tables.values(), default=1) == 1, "two meetings at one table"
    assert all(1 <= x.round <= options.rounds and x.table >= 1 for x in plan.meetings)
    assert all(x.starts_min == (x.round - 1) * options.minutes and x.ends_min == x.round * options.minutes
               for x in plan.meetings)
    if options.tables is not None:
        assert all(x.table <= options.tables for x in plan.meetings)
    absent = {b.id for b in cohort.mentors} - present
    assert set(plan.absent_mentors) == absent
    assert not absent & {t.person_id for t in plan.timetables}
    # Nobody is idle while a useful meeting is possible: no allowed pair that has not met has both people free
    # in a round with a table free.
    busy = {(x.round, x.mentee_id) for x in plan.meetings} | {(x.round, x.mentor_id) for x in plan.meetings}
    per_round = Counter(x.round for x in plan.meetings)
    for r in range(1, options.rounds + 1):
        if options.tables is not None and per_round[r] >= options.tables:
            continue
        idle = [p for p in allowed - set(pairs) if (r, p[0]) not in busy and (r, p[1]) not in busy]
        assert not idle, f"round {r}: {idle[0]} could meet"
    # Timetables agree with the meetings; coverage counts the top mentors she meets.
    for t in plan.timetables:
        assert len(t.slots) == options.rounds
        for s in t.slots:
            if s.partner_id is not None:
                meeting = (t.person_id, s.partner_id) if t.side == "mentee" else (s.partner_id, t.person_id)
                assert meeting in set(pairs) and (s.round, t.person_id) in busy
            else:
                assert (s.round, t.person_id) not in busy
    for c in plan.coverage:
        assert len(c.top_mentors) <= options.rounds
        assert set(c.met_top) == {b for b in c.top_mentors if (c.mentee_id, b) in set(pairs)}
    assert plan.best_matching_missed == tuple(p for p in plan.best_matching if p not in set(pairs))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 12), m=st.integers(1, 12), rounds=st.integers(1, 7),
       tables=st.one_of(st.none(), st.integers(1, 8)), breaks=st.one_of(st.none(), st.integers(0, 7)),
       zero=st.integers(0, 3))
def test_hard_properties_on_random_cohorts(seed: int, n: int, m: int, rounds: int, tables: int | None,
                                           breaks: int | None, zero: int) -> None:
    rng = random.Random(seed)
    cohort = random_cohort(rng, n, m, pins=rng.random() < 0.3)
    pinned = {b for _, b in cohort.rules.pins}
    mentors = tuple(replace(b, capacity=0) if k < zero and b.id not in pinned else b
                    for k, b in enumerate(cohort.mentors))
    cohort = replace(cohort, mentors=mentors)
    options = PlanOptions(rounds=rounds, minutes=7, tables=tables,
                          max_breaks=None if breaks is None else min(breaks, rounds))
    plan = plan_speed_dating(cohort, options)
    assert plan.status is SolveStatus.OPTIMAL
    check_plan(cohort, plan, options)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), rounds=st.integers(1, 4), tables=st.one_of(st.none(), st.integers(1, 5)),
       breaks=st.one_of(st.none(), st.integers(0, 2)))
def test_the_flow_agrees_with_the_cp_sat_models(seed: int, rounds: int, tables: int | None,
                                                breaks: int | None) -> None:
    """Three formulations of one objective: the exact flow, CP-SAT per pair, CP-SAT per pair and round."""
    rng = random.Random(seed)
    k = rng.randint(2, 6)
    n = len(mentees := list(range(k)))
    pairs = [(a, b) for a in mentees for b in range(rng.randint(2, 6)) if rng.random() < 0.6]
    if not pairs:
        return
    mentee_of = np.array([a for a, _ in pairs], dtype=np.int64)
    mentor_of = np.array([b for _, b in pairs], dtype=np.int64)
    m = int(mentor_of.max()) + 1
    limit = None if breaks is None else max(0, rounds - breaks)
    score = np.array([rng.randint(0, 9) for _ in pairs], dtype=np.int64)
    place = np.zeros(len(pairs), dtype=np.int64)
    for a in range(n):
        rows = np.flatnonzero(mentee_of == a)
        place[rows[np.lexsort((mentor_of[rows], -score[rows]))]] = np.arange(1, len(rows) + 1)
    chosen = rng.sample(range(len(pairs)), min(len(pairs), 3))
    best = np.isin(np.arange(len(pairs)), chosen[:1])
    instance = PlanInstance(n, m, mentee_of, mentor_of, score, best, np.isin(np.arange(len(pairs)), chosen[1:]),
                            place <= rounds, rounds, tables,
                            np.minimum(np.bincount(mentee_of, minlength=n), limit or 0),
                            np.minimum(np.bincount(mentor_of, minlength=m), limit or 0))
    stop = StopToken.within(60.0)
    flow = select_meetings(instance, stop)
    assert flow.status is SolveStatus.OPTIMAL
    for per_round in (False, True):
        reference = select_meetings_cpsat(instance, stop, per_round=per_round)
        assert reference.status is SolveStatus.OPTIMAL
        assert objective_parts(instance, flow.chosen) == objective_parts(instance, reference.chosen), per_round


def test_rounds_are_equal_and_nobody_is_seated_twice() -> None:
    rng = np.random.default_rng(3)
    edges = {(int(a), int(b)) for a, b in rng.integers(0, 9, size=(60, 2))}
    mentee_of, mentor_of = (np.array(x, dtype=np.int64) for x in zip(*sorted(edges), strict=True))
    rounds = int(max(np.bincount(mentee_of).max(), np.bincount(mentor_of).max()))
    round_of = assign_rounds(mentee_of, mentor_of, 9, 9, rounds)
    for people in (mentee_of, mentor_of):
        assert len(set(zip(round_of.tolist(), people.tolist(), strict=True))) == len(people)
    sizes = np.bincount(round_of, minlength=rounds)
    assert sizes.max() - sizes.min() <= 1 and list(sizes) == sorted(sizes, reverse=True)
    with pytest.raises(ValueError, match="more than the"):
        assign_rounds(mentee_of, mentor_of, 9, 9, rounds - 1)


# The bundled programmes, rankings, outputs ---------------------------------------------------------------


def simulated_rankings(cohort: Cohort, plan: SpeedDatingPlan, rng: random.Random) -> Cohort:
    """After the event: each person ranks everybody she met, by the pair's score plus noise (ties by id)."""
    seen: dict[str, list[tuple[int, str]]] = {}
    for x in plan.meetings:
        seen.setdefault(x.mentee_id, []).append((x.score + rng.randint(-80, 80), x.mentor_id))
        seen.setdefault(x.mentor_id, []).append((x.score + rng.randint(-80, 80), x.mentee_id))
    ranks = [Ranking(person, other, k + 1) for person, met in sorted(seen.items())
             for k, (_, other) in enumerate(sorted(met, key=lambda s: (-s[0], s[1])))]
    return replace(cohort, rankings=tuple(ranks))


@pytest.mark.parametrize(("scenario", "rounds"), [("lyngby_career", 6), ("copenhagen_business", 8),
                                                  ("copenhagen_career", 6)])
def test_plan_then_rankings_then_solve_matches_only_people_who_met(scenario: str, rounds: int) -> None:
    cohort = load_cohort(SCENARIOS / scenario)
    plan = plan_speed_dating(cohort, PlanOptions(rounds=rounds, minutes=8))
    assert plan.status is SolveStatus.OPTIMAL and plan.all_best_pairs_meet
    check_plan(cohort, plan, PlanOptions(rounds=rounds, minutes=8))
    met = {(x.mentee_id, x.mentor_id) for x in plan.meetings}
    for seed in range(3):
        after = simulated_rankings(cohort, plan, random.Random(seed))
        result = solve(after, SolveOptions(alternatives=1))
        assert result.best is not None
        matched = result.best.pairs(result.candidates)
        assert matched and set(matched) <= met, sorted(set(matched) - met)


def test_random_cohorts_plan_rankings_solve() -> None:
    for seed in range(15):
        rng = random.Random(seed)
        cohort = replace(random_cohort(rng, rng.randint(4, 12), rng.randint(4, 12)), rankings=())
        plan = plan_speed_dating(cohort, PlanOptions(rounds=rng.randint(2, 5), minutes=8))
        met = {(x.mentee_id, x.mentor_id) for x in plan.meetings}
        result = solve(simulated_rankings(cohort, plan, rng), SolveOptions(alternatives=1))
        assert result.best is not None and set(result.best.pairs(result.candidates)) <= met, seed


def test_the_same_input_and_seed_give_the_same_plan_whatever_the_row_order() -> None:
    cohort = load_cohort(SCENARIOS / "lyngby_career")
    shuffled = replace(cohort, mentors=cohort.mentors[::-1], mentees=cohort.mentees[::-1])
    options = PlanOptions(rounds=6, minutes=8, tables=10, max_breaks=2)
    first, second = plan_speed_dating(cohort, options), plan_speed_dating(shuffled, options)
    assert first.meetings == second.meetings and first.timetables == second.timetables


def test_mentors_keep_their_table_when_there_are_tables_enough() -> None:
    plan = plan_speed_dating(load_cohort(SCENARIOS / "lyngby_career"), PlanOptions(rounds=6, minutes=8))
    tables: dict[str, int] = {}
    for x in plan.meetings:
        assert tables.setdefault(x.mentor_id, x.table) == x.table


def test_bad_options_are_every_one_listed_with_a_field_path() -> None:
    cohort = dense_cohort(random.Random(1), 2, 2)
    with pytest.raises(CohortInvalid) as raised:
        plan_speed_dating(cohort, PlanOptions(rounds=0, minutes=0, tables=0, max_breaks=-1, alternatives=0))
    paths = {p.path for p in raised.value.problems}
    assert paths == {"options.rounds", "options.minutes", "options.tables", "options.max_breaks",
                     "options.alternatives"}
    with pytest.raises(CohortInvalid, match="out of range"):
        plan_speed_dating(cohort, PlanOptions(rounds=3, minutes=5, max_breaks=4))


def test_a_stopped_plan_is_still_valid_and_says_so() -> None:
    cohort = load_cohort(SCENARIOS / "copenhagen_business")
    stop = StopToken()
    plan_options = PlanOptions(rounds=8, minutes=8, stop=stop)
    from solver.speeddating import plan as plan_module

    real = plan_module.select_meetings

    def stop_first(instance: PlanInstance, token: StopToken) -> object:
        stop.set()  # cancelled once the matching is done: the flow does no stage
        return real(instance, token)

    plan_module.select_meetings = stop_first  # type: ignore[assignment]
    try:
        plan = plan_speed_dating(cohort, plan_options)
    finally:
        plan_module.select_meetings = real
    assert plan.status is SolveStatus.FEASIBLE and any("not proven best" in note for note in plan.notes)
    check_plan(cohort, plan, plan_options)


def test_outputs_csv_per_round_json_and_never_over_an_input(tmp_path: Path) -> None:
    cohort = load_cohort(SCENARIOS / "lyngby_career")
    plan = plan_speed_dating(cohort, PlanOptions(rounds=6, minutes=8, tables=12))
    written = write_plan_files(plan, out_dir=tmp_path / "out", html=tmp_path / "sheet.html")
    assert [p.name for p in written] == [f"round_{r}.csv" for r in range(1, 7)] + ["sheet.html"]
    lines = (tmp_path / "out" / "round_2.csv").read_text().splitlines()
    assert lines[0] == "round,table,mentee,mentor,from_minute,to_minute"
    assert len(lines) - 1 == sum(1 for x in plan.meetings if x.round == 2)
    assert all(line.startswith("2,") and line.endswith(",8,16") for line in lines[1:])
    data = plan_dict(plan)
    assert data["best_matching"]["all_meet"] is True and len(data["meetings"]) == len(plan.meetings)
    from solver.fileio import record_inputs

    inputs_dir = tmp_path / "cohort"
    inputs_dir.mkdir()
    for name in ("mentors.csv", "mentees.csv"):
        (inputs_dir / name).write_bytes((SCENARIOS / "lyngby_career" / name).read_bytes())
    with record_inputs() as inputs:
        load_cohort(inputs_dir)
    before = (inputs_dir / "mentors.csv").read_bytes()
    with pytest.raises(CohortInvalid) as refused:
        write_plan_files(plan, out_dir=tmp_path / "fresh", html=inputs_dir / "mentors.csv", inputs=inputs)
    assert [p.code.value for p in refused.value.problems] == ["OVERWRITES_INPUT"]
    assert (inputs_dir / "mentors.csv").read_bytes() == before and not (tmp_path / "fresh").exists()
    assert round_csv(plan, 7) == "round,table,mentee,mentor,from_minute,to_minute\n"
