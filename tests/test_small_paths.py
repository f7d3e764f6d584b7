"""The small-size paths of the solve's fixed per-call work, against independent answers and the general paths.

A 15 x 15 call spends most of its time in numpy's per-call cost, not in arithmetic, so a few steps take a Python
path below a size switch: the min-cost flow's network (`solver.flow.SMALL_FLOW_ROWS`), the pinned rows of the
model, the objective and the violations of a matching (`solver.model.SMALL_ROWS`), reading the year's fields of a request. Each must
give what the rules say (brute force over every matching; the pins by their ids) and exactly what the general
path gives: the same arcs, so the same optimum among ties.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

import solver.flow
import solver.model
from mentormatch.v1 import cohort_pb2 as pb
from solver.cohort_proto import cohort_from_proto_checked, cohort_to_proto
from solver.domain import Cohort, GenderQuota, ObjectiveMode
from solver.flow import flow_optimum
from solver.model import AssignmentModel, build_model, check_matching, evaluate
from solver.scores import candidate_pairs
from tests.oracle import random_cohort


def _cohort(seed: int) -> Cohort:
    """A small cohort with loose rules: pins on some, organisation caps on some, seat costs 0 or not."""
    rng = random.Random(47_000 + seed)
    cohort = random_cohort(rng, rng.randint(2, 7), rng.randint(2, 5), pins=seed % 3 != 0,
                           rankings=seed % 2 == 0)
    rules = replace(cohort.rules, max_distance_km=None, field_depth=1, min_language_level=1, min_mentor_years=0,
                    eligible_municipalities=(), extra_seat_cost=rng.choice([0, 0, 40, 400]))
    if seed % 4 == 1:
        rules = replace(rules, organisation_caps=(("O1", rng.randint(0, 2)), ("O2", rng.randint(0, 1))))
    return replace(cohort, rules=rules)


def _model(cohort: Cohort) -> AssignmentModel:
    return build_model(candidate_pairs(cohort.canonical()))


def _best_value(model: AssignmentModel, weights: list[int], allowed: set[int]) -> int:
    """The most sum(weights) less seat costs over every matching of the allowed rows (pins always in) that keeps
    each mentee at most once, each mentor within capacity and each organisation within its cap (README), by
    enumerating every matching."""
    mentee, mentor = model.mentee.tolist(), model.mentor.tolist()
    capacity, org, caps = model.capacity.tolist(), model.mentor_org.tolist(), model.org_caps.tolist()
    pins = model.pinned_rows.tolist()
    choices: dict[int, list[int]] = {}
    for r in sorted(allowed | set(pins)):
        choices.setdefault(mentee[r], []).append(r)
    for r in pins:
        choices[mentee[r]] = [r]
    people = sorted(choices)
    best = -(10**30)

    def walk(k: int, rows: list[int]) -> None:
        nonlocal best
        if k == len(people):
            load = [0] * len(capacity)
            for r in rows:
                load[mentor[r]] += 1
            per_org = [0] * len(caps)
            for r in rows:
                if org[mentor[r]] >= 0:
                    per_org[org[mentor[r]]] += 1
            if any(x > c for x, c in zip(load, capacity, strict=True)) or any(
                    x > c for x, c in zip(per_org, caps, strict=True)):
                return
            value = sum(weights[r] for r in rows) - model.seat_cost * sum(x * (x - 1) // 2 for x in load)
            best = max(best, value)
            return
        if choices[people[k]][0] not in pins:
            walk(k + 1, rows)  # this mentee unmatched
        for r in choices[people[k]]:
            walk(k + 1, [*rows, r])

    walk(0, [])
    return best


@pytest.mark.parametrize("seed", range(60))
def test_the_small_flow_is_the_brute_force_optimum_and_the_general_paths_answer(seed: int,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cohort = _cohort(seed)
    model = _model(cohort)
    if model.n_rows == 0:
        return
    rng = random.Random(seed)
    primary = np.asarray(model.big * model.priority[model.mentee] + model.score, dtype=np.int64)
    # The k-best and pricing flows use shifted weights, some of them <= 0, and subsets of the rows.
    shifted = primary - rng.randint(0, int(primary.max()))
    subset = np.sort(np.array(rng.sample(range(model.n_rows), rng.randint(0, model.n_rows)), dtype=np.int64))
    for weights, allowed in ((primary, None), (shifted, None), (primary, subset), (shifted, subset)):
        monkeypatch.setattr(solver.flow, "SMALL_FLOW_ROWS", 10**9)
        small = flow_optimum(model, weights, allowed)
        monkeypatch.setattr(solver.flow, "SMALL_FLOW_ROWS", -1)
        general = flow_optimum(model, weights, allowed)
        assert small.dtype == general.dtype == np.int64
        assert small.tolist() == general.tolist()
        rows = set(range(model.n_rows)) if allowed is None else set(allowed.tolist())
        assert set(small.tolist()) <= rows | set(model.pinned_rows.tolist())
        assert model.weight(weights, small) == _best_value(model, weights.tolist(), rows)


def test_the_small_and_general_flows_lay_out_the_same_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same arcs in the same order with the same numbers: OR-Tools then picks the same optimum among ties."""
    networks: list[list[tuple[list[int], ...]]] = [[], []]
    solve_flow = solver.flow._solve_flow
    seen = 0
    for seed in range(40):
        model = _model(_cohort(seed))
        if model.n_rows == 0:
            continue
        weights = np.asarray(model.big * model.priority[model.mentee] + model.score, dtype=np.int64)
        for side, limit in ((0, 10**9), (1, -1)):
            monkeypatch.setattr(solver.flow, "SMALL_FLOW_ROWS", limit)
            def recorded(arcs: tuple[np.ndarray, ...], supplies: np.ndarray, first: int, count: int,
                         stop: object, side: int = side) -> np.ndarray | None:
                networks[side].append((*(a.tolist() for a in arcs), supplies.tolist(), [first, count]))
                return solve_flow(arcs, supplies, first, count, stop)  # type: ignore[arg-type]

            monkeypatch.setattr(solver.flow, "_solve_flow", recorded)
            flow_optimum(model, weights)
        seen += 1
    assert seen >= 30 and networks[0] == networks[1]


def test_every_pin_is_a_pinned_row_of_the_model_few_or_many() -> None:
    for seed in range(12):
        cohort = _cohort(seed)
        candidates = candidate_pairs(cohort.canonical())
        ids = [(candidates.cohort.mentees[a].id, candidates.cohort.mentors[b].id)
               for a, b in zip(candidates.mentee.tolist(), candidates.mentor.tolist(), strict=True)]
        for count in (0, 1, 3, 12):  # 12: more than the few pins compared one by one
            pins = tuple(sorted(random.Random(seed).sample(ids, min(count, len(ids)))))
            model = build_model(candidate_pairs(replace(cohort, rules=replace(cohort.rules, pins=pins)).canonical()))
            pinned = [(model.candidates.cohort.mentees[model.mentee[r]].id,
                       model.candidates.cohort.mentors[model.mentor[r]].id) for r in model.pinned_rows.tolist()]
            assert sorted(pinned) == sorted(pins)
            assert model.pinned_rows.dtype == np.int64


def test_a_request_without_the_year_reads_as_its_cohort_and_bad_dates_are_named_where_they_are() -> None:
    cohort = _cohort(5)
    assert cohort_from_proto_checked(cohort_to_proto(cohort)) == (cohort, [])
    message = cohort_to_proto(cohort)
    message.mentors[1].available_until = "2026-13-01"
    message.mentors[0].available_from = "soon"
    message.mentees[1].waiting_since = "yesterday"
    message.rules.intake.CopyFrom(pb.Intake(start_date="2026-04-15"))
    read, problems = cohort_from_proto_checked(message)
    assert [p.path for p in problems] == ["mentors[0].available_from", "mentors[1].available_until",
                                          "mentees[1].waiting_since"]
    assert all("is not a date YYYY-MM-DD" in p.message for p in problems)
    assert read.mentors[2:] == cohort.mentors[2:] and read.mentees[2:] == cohort.mentees[2:]
    assert read.rules.intake.start_date is not None and read.rules.intake.start_date.isoformat() == "2026-04-15"


@pytest.mark.parametrize("seed", range(20))
def test_the_objective_of_a_matching_is_the_readme_sum_of_its_pairs_either_way(seed: int,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(_cohort(seed))
    rng = random.Random(seed)
    mentee, mentor = model.mentee.tolist(), model.mentor.tolist()
    score, rank, priority = model.score.tolist(), model.mentee_rank.tolist(), model.priority.tolist()
    top = max(rank, default=0)
    weights = np.asarray(model.big * model.priority[model.mentee] + model.score, dtype=np.int64)
    matchings = [flow_optimum(model, weights), np.zeros(0, dtype=np.int64)]
    for _ in range(5):  # any set of rows has an objective (one row per mentee here)
        by_mentee: dict[int, int] = {}
        for r in rng.sample(range(model.n_rows), rng.randint(0, model.n_rows)):
            by_mentee.setdefault(mentee[r], r)
        matchings.append(np.array(sorted(by_mentee.values()), dtype=np.int64))
    for rows in matchings:
        chosen = rows.tolist()
        theirs = [mentor[r] for r in chosen]
        load = [theirs.count(b) for b in set(theirs)]
        seats = model.seat_cost * sum(k * (k - 1) // 2 for k in load)
        matched_priority = sum(priority[mentee[r]] for r in chosen)
        total = sum(score[r] for r in chosen)
        expected = (len(chosen), matched_priority, total, min((score[r] for r in chosen), default=0),
                    tuple(sum(1 for r in chosen if rank[r] == k) for k in range(1, top + 1)),
                    model.big * matched_priority + total - seats, seats)
        for limit in (10**9, -1):  # the lists' way and numpy's
            monkeypatch.setattr(solver.model, "SMALL_ROWS", limit)
            got = evaluate(AssignmentModel(**{f: getattr(model, f) for f in model.__dataclass_fields__}), rows,
                           ObjectiveMode.SCORE)
            assert (got.matched, got.matched_priority, got.total_score, got.worst_score, got.rank_profile,
                    got.value, got.seat_cost) == expected
            assert model.weight(weights, rows) == int(weights[rows].sum()) - seats


@pytest.mark.parametrize("seed", range(20))
def test_a_matchings_violations_are_the_rules_it_breaks_either_way(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    cohort = _cohort(seed)
    cohort = replace(cohort, rules=replace(cohort.rules, organisation_caps=(("O1", 1), ("O3", 0)),
                                           gender_quotas=(GenderQuota("f", 1, 2), GenderQuota("m", 0, None))))
    model = _model(cohort)
    rng = random.Random(seed)
    mentee, mentor = model.mentee.tolist(), model.mentor.tolist()
    orgs = sorted(cohort.rules.organisation_cap_map)
    people = {b.id: b for b in cohort.mentors}
    for _ in range(12):  # any rows, a mentee twice and over-full mentors included
        rows = np.array(sorted(rng.sample(range(model.n_rows), rng.randint(0, min(model.n_rows, 9)))),
                        dtype=np.int64)
        chosen = rows.tolist()
        theirs = [model.candidates.cohort.mentors[mentor[r]] for r in chosen]
        expected = []
        if len({mentee[r] for r in chosen}) < len(chosen):
            expected.append("a mentee is matched twice")
        if any(sum(1 for b in theirs if b.id == m.id) > min(m.capacity, len(cohort.mentees)) for m in theirs):
            expected.append("a mentor is over capacity")
        if not set(model.pinned_rows.tolist()) <= set(chosen):
            expected.append("a pinned pair is missing")
        for k, name in enumerate(orgs):
            if sum(1 for b in theirs if b.organisation == name) > cohort.rules.organisation_cap_map[name]:
                expected.append(f"organisation cap {k} exceeded")
        for quota, code in zip(cohort.rules.gender_quotas, (1, 2), strict=True):
            count = sum(1 for b in theirs if people[b.id].gender == quota.gender)
            if count < quota.min_pairs or (quota.max_pairs is not None and count > quota.max_pairs):
                expected.append(f"gender quota {code} not met ({count})")
        for limit in (10**9, -1):  # the lists' way and numpy's
            monkeypatch.setattr(solver.model, "SMALL_ROWS", limit)
            fresh = AssignmentModel(**{f: getattr(model, f) for f in model.__dataclass_fields__})
            assert check_matching(fresh, rows) == expected
