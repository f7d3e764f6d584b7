"""Re-matching after drop-outs and late joiners: what is kept, the penalty's exact meaning, problems, batches."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from server.cli_workflows import register
from solver.domain import Cohort, Language, Mentee, Mentor, Rules
from solver.errors import CohortInvalid, ProblemCode
from solver.ingest import load_cohort, write_cohort_dir
from solver.rematch import (
    ChangeKind,
    EndReason,
    NewReason,
    RematchResult,
    read_current_pairs,
    rematch,
    rematch_batch,
)
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, build_model, solve
from solver.workflows import PairRef
from tests.conftest import BUNDLED, SCENARIOS
from tests.oracle import random_cohort

NEVER = 10**9  # far above what any change can gain in these cohorts (checked in each test)


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _best_pairs(cohort: Cohort) -> list[tuple[str, str]]:
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None
    return result.best.pairs(result.candidates)


def _without(cohort: Cohort, person: str) -> Cohort:
    """The cohort without one participant, written out by hand (not the module's helper)."""
    rules = cohort.rules
    return replace(
        cohort,
        mentors=tuple(m for m in cohort.mentors if m.id != person),
        mentees=tuple(m for m in cohort.mentees if m.id != person),
        rankings=tuple(r for r in cohort.rankings if person not in (r.from_id, r.to_id)),
        rules=replace(rules, pins=tuple(p for p in rules.pins if person not in p),
                      bans=tuple(p for p in rules.bans if person not in p)),
    )


def _kinds(result: RematchResult) -> dict[tuple[str, str], tuple[str, str]]:
    return {(c.mentee_id, c.mentor_id): (c.kind, c.reason) for c in result.changes}


# One drop-out, a high penalty: nothing else moves ---------------------------------------------------------


def _check_drop_out_with_high_penalty(cohort: Cohort, pairs: list[tuple[str, str]], person: str) -> None:
    result = rematch(cohort, pairs, left=[person], penalty=NEVER)
    assert result.points_per_matched_mentee * sum(m.priority for m in cohort.mentees) < NEVER
    kinds = _kinds(result)
    for a, b in pairs:
        if person in (a, b):
            assert kinds[(a, b)] == (ChangeKind.ENDED, EndReason.LEFT)
        else:
            assert kinds[(a, b)] == (ChangeKind.KEPT, ""), (a, b)
    assert result.disrupted_pairs == 0
    kept = {(a, b) for a, b in pairs if person not in (a, b)}
    new_pairs = {(p.mentee_id, p.mentor_id) for p in result.pairs} - kept
    assert {(p.mentee_id, p.mentor_id) for p in result.pairs} >= kept
    assert not {a for a, _ in new_pairs} & {a for a, _ in kept}
    # The rest is optimal around the kept pairs: the same as pinning them and solving.
    staying = _without(cohort, person)
    pinned = replace(staying, rules=replace(staying.rules, pins=tuple(sorted(set(staying.rules.pins) | kept))))
    expected = solve(pinned, SolveOptions(alternatives=1)).best
    assert expected is not None and result.objective_value == expected.objective.value


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), mentor_leaves=st.booleans())
def test_one_drop_out_with_a_high_penalty_changes_no_unaffected_pair(seed: int, mentor_leaves: bool) -> None:
    rng = random.Random(seed)
    cohort = random_cohort(rng, rng.randint(2, 14), rng.randint(2, 12), rankings=seed % 2 == 0)
    pairs = _best_pairs(cohort)
    if not pairs:
        return
    a, b = rng.choice(pairs)
    _check_drop_out_with_high_penalty(cohort, pairs, b if mentor_leaves else a)


@pytest.mark.parametrize("name", BUNDLED)
def test_one_drop_out_in_a_bundled_cohort_with_a_high_penalty_changes_no_unaffected_pair(name: str) -> None:
    cohort = load_cohort(SCENARIOS / name)
    pairs = _best_pairs(cohort)
    _check_drop_out_with_high_penalty(cohort, pairs, pairs[len(pairs) // 2][1])


# Penalty zero: a fresh optimum ------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), mentor_leaves=st.booleans())
def test_with_penalty_zero_the_result_is_a_fresh_optimum(seed: int, mentor_leaves: bool) -> None:
    rng = random.Random(seed)
    cohort = random_cohort(rng, rng.randint(2, 14), rng.randint(2, 12), rankings=True)
    pairs = _best_pairs(cohort)
    if not pairs:
        return
    a, b = rng.choice(pairs)
    person = b if mentor_leaves else a
    result = rematch(cohort, pairs, left=[person], penalty=0)
    fresh = solve(_without(cohort, person), SolveOptions(alternatives=1)).best
    assert fresh is not None
    assert result.objective_value == fresh.objective.value == result.fresh_optimum_value
    assert result.rematch_value == result.objective_value


@pytest.mark.parametrize("name", BUNDLED)
def test_with_penalty_zero_a_bundled_cohort_gets_a_fresh_optimum(name: str) -> None:
    cohort = load_cohort(SCENARIOS / name)
    pairs = _best_pairs(cohort)
    person = pairs[0][0]
    result = rematch(cohort, pairs, left=[person], penalty=0)
    fresh = solve(_without(cohort, person), SolveOptions(alternatives=1)).best
    assert fresh is not None and result.objective_value == fresh.objective.value


# The penalty's exact meaning, on a cohort small enough to count by hand ---------------------------------


def _two_by_two() -> Cohort:
    """A can meet M1 or M2; the late joiner B only M1 (another ISCO sub-major group than M2). A is with M1."""
    here = (55.68, 12.57)
    languages = (Language("en", 5),)
    mentors = (Mentor("M1", *here, ("2512", "2411"), languages), Mentor("M2", *here, ("2512",), languages))
    mentees = (Mentee("A", *here, ("2512",), languages), Mentee("B", *here, ("2411",), languages))
    return Cohort(mentors, mentees, rules=Rules(max_distance_km=10.0), name="two_by_two")


def test_a_pair_changes_exactly_when_the_change_buys_more_than_the_penalty() -> None:
    cohort = _two_by_two()
    candidates = candidate_pairs(cohort)
    score = {(cohort.mentees[a].id, cohort.mentors[b].id): s for a, b, s in
             zip(candidates.mentee.tolist(), candidates.mentor.tolist(), candidates.score.tolist(), strict=True)}
    assert ("B", "M2") not in score
    big = build_model(candidates).big
    # Keeping A-M1 leaves B alone; moving A to M2 lets B take M1: one more matched mentee for one change.
    gain = (2 * big + score[("A", "M2")] + score[("B", "M1")]) - (big + score[("A", "M1")])
    changed = rematch(cohort, [("A", "M1")], joined=["B"], penalty=gain - 1)
    assert changed.points_per_matched_mentee == big
    assert _kinds(changed) == {("A", "M1"): (ChangeKind.ENDED, EndReason.CHANGED),
                               ("A", "M2"): (ChangeKind.NEW, NewReason.REASSIGNED),
                               ("B", "M1"): (ChangeKind.NEW, NewReason.JOINED)}
    assert changed.disrupted_pairs == 1 and changed.matched == 2
    assert changed.rematch_value == changed.objective_value - (gain - 1)
    kept = rematch(cohort, [("A", "M1")], joined=["B"], penalty=gain + 1)
    assert _kinds(kept) == {("A", "M1"): (ChangeKind.KEPT, "")}
    assert kept.disrupted_pairs == 0 and kept.matched == 1
    assert [u.mentee_id for u in kept.unmatched] == ["B"] and kept.unmatched[0].reason == "CANDIDATES_ALL_TAKEN"
    capped = rematch(cohort, [("A", "M1")], joined=["B"], penalty=0, max_changes=0)
    assert _kinds(capped) == {("A", "M1"): (ChangeKind.KEPT, "")}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), cap=st.integers(0, 2))
def test_max_changes_caps_the_disrupted_pairs(seed: int, cap: int) -> None:
    rng = random.Random(seed)
    cohort = random_cohort(rng, rng.randint(3, 12), rng.randint(2, 10), rankings=True)
    pairs = _best_pairs(cohort)
    if len(pairs) < 2:
        return
    # Shuffle the current pairs' mentors among themselves, so that many would gain from changing.
    mentors = [b for _, b in pairs]
    rng.shuffle(mentors)
    current = [(a, b) for (a, _), b in zip(pairs, mentors, strict=True)]
    capped = rematch(cohort, current, penalty=0, max_changes=cap)
    free = rematch(cohort, current, penalty=0)
    assert capped.disrupted_pairs <= cap
    assert capped.objective_value <= free.objective_value == free.fresh_optimum_value


# Reasons, problems, keep ------------------------------------------------------------------------------


def test_a_pair_the_rules_no_longer_allow_ends_with_the_rule_named() -> None:
    cohort = _two_by_two()
    far = replace(cohort, mentees=(replace(cohort.mentees[0], lat=56.5), cohort.mentees[1]))  # A moved away
    result = rematch(far, [("A", "M1")], penalty=NEVER)
    change = next(c for c in result.changes if (c.mentee_id, c.mentor_id) == ("A", "M1"))
    assert (change.kind, change.reason) == (ChangeKind.ENDED, EndReason.NOT_ALLOWED)
    assert "DISTANCE" in change.detail and change.score is None
    assert result.disrupted_pairs == 0
    assert {u.mentee_id: u.reason for u in result.unmatched}["A"] == "NO_MENTOR_WITHIN_DISTANCE"


def test_unknown_ids_in_the_current_pairs_are_problems_unless_they_left() -> None:
    cohort = _two_by_two()
    with pytest.raises(CohortInvalid) as caught:
        rematch(cohort, [("A", "M1"), ("GHOST", "M2"), ("B", "A"), ("A", "M2")], left=["NOBODY"])
    found = {(p.code, p.path) for p in caught.value.problems}
    assert (ProblemCode.UNKNOWN_ID, "current[1].mentee_id") in found
    assert (ProblemCode.UNKNOWN_ID, "current[2].mentor_id") in found  # a mentee where a mentor belongs
    assert (ProblemCode.DUPLICATE_ID, "current[3].mentee_id") in found
    assert (ProblemCode.UNKNOWN_ID, "left[0]") in found
    # Someone who left and is no longer in the snapshot is fine: the pair simply ended.
    result = rematch(cohort, [("A", "M1"), ("GONE", "M2")], left=["GONE"], joined=["B"], penalty=NEVER)
    assert _kinds(result)[("GONE", "M2")] == (ChangeKind.ENDED, EndReason.LEFT)
    assert _kinds(result)[("A", "M1")] == (ChangeKind.KEPT, "")


def test_keep_pins_a_pair_even_against_a_zero_penalty() -> None:
    cohort = _two_by_two()
    result = rematch(cohort, [("A", "M1")], joined=["B"], keep=[PairRef("A", "M1")], penalty=0)
    assert _kinds(result)[("A", "M1")] == (ChangeKind.KEPT, "")
    with pytest.raises(CohortInvalid) as caught:
        rematch(cohort, [], keep=[("B", "M2")])  # not allowed by the field rule
    assert caught.value.problems[0].code is ProblemCode.PIN_BREAKS_RULE


def test_to_dict_is_plain_json() -> None:
    cohort = _two_by_two()
    data = json.loads(json.dumps(rematch(cohort, [("A", "M1")], joined=["B"], penalty=0).to_dict()))
    assert data["cohort"] == "two_by_two" and {c["kind"] for c in data["changes"]} == {"ENDED", "NEW"}


# Files, the command line and batches ------------------------------------------------------------------


def _batch_cohort(directory: Path, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    cohort = random_cohort(rng, 10, 8, rankings=True)
    while len(_best_pairs(cohort)) < 2:
        cohort = random_cohort(rng, 10, 8, rankings=True)
    write_cohort_dir(cohort, directory)
    pairs = _best_pairs(cohort)
    (directory / "current.csv").write_text("mentee_id,mentor_id\n" + "".join(f"{a},{b}\n" for a, b in pairs),
                                           encoding="utf-8")
    (directory / "changes.toml").write_text(f'left = ["{pairs[0][1]}"]\npenalty = {NEVER}\n', encoding="utf-8")
    return pairs


def test_batch_reports_a_broken_cohort_and_re_matches_the_rest(tmp_path: Path) -> None:
    _batch_cohort(tmp_path / "a_first", 1)
    _batch_cohort(tmp_path / "c_third", 3)
    _batch_cohort(tmp_path / "b_broken", 2)
    mentors = (tmp_path / "b_broken" / "mentors.csv").read_text(encoding="utf-8").splitlines()
    head, first, *rest = mentors
    cells = first.split(",")
    cells[1] = "north"  # a latitude that is no number
    (tmp_path / "b_broken" / "mentors.csv").write_text("\n".join([head, ",".join(cells), *rest]) + "\n",
                                                       encoding="utf-8")
    (tmp_path / "b_broken" / "changes.toml").write_text('left = ["NOBODY"]\n', encoding="utf-8")
    (tmp_path / "d_no_current").mkdir()
    write_cohort_dir(random_cohort(random.Random(4), 3, 3), tmp_path / "d_no_current")
    seen: list[str] = []
    items = rematch_batch(tmp_path, on_item=lambda item: seen.append(item.name))
    assert [i.name for i in items] == seen == ["a_first", "b_broken", "c_third", "d_no_current"]
    assert [i.ok for i in items] == [True, False, True, False]
    broken = items[1]
    assert broken.result is None and ProblemCode.BAD_VALUE in {p.code for p in broken.problems}
    assert ProblemCode.MISSING_FILE in {p.code for p in items[3].problems}
    for item in (items[0], items[2]):
        assert item.result is not None and item.result.disrupted_pairs == 0 and item.result.ended >= 1
    result = CliRunner().invoke(_cli(), ["rematch-batch", str(tmp_path)])
    assert result.exit_code == 1
    assert "b_broken" in result.stdout and "FAILED" in result.stdout and "a_first" in result.stdout
    as_json = CliRunner().invoke(_cli(), ["rematch-batch", str(tmp_path), "--json"])
    data = json.loads(as_json.stdout)
    assert as_json.exit_code == 1 and data["failed"] == 2
    assert [c["ok"] for c in data["cohorts"]] == [True, False, True, False]


def test_batch_of_good_cohorts_exits_0(tmp_path: Path) -> None:
    _batch_cohort(tmp_path / "one", 5)
    _batch_cohort(tmp_path / "two", 6)
    result = CliRunner().invoke(_cli(), ["rematch-batch", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Re-matched 2 of 2" in result.stdout


def test_rematch_command_json_and_problems(tmp_path: Path) -> None:
    pairs = _batch_cohort(tmp_path / "cohort", 7)
    current = tmp_path / "cohort" / "current.csv"
    assert read_current_pairs(current) == [PairRef(a, b) for a, b in pairs]
    args = ["rematch", str(tmp_path / "cohort"), str(current), "--left", pairs[0][1], "--penalty", str(NEVER),
            "--json"]
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    kinds = {(c["mentee_id"], c["mentor_id"]): c["kind"] for c in data["changes"]}
    assert kinds[pairs[0]] == "ENDED" and all(kinds[p] == "KEPT" for p in pairs[1:])
    table = CliRunner().invoke(_cli(), args[:-1])
    assert table.exit_code == 0 and "KEPT" in table.stdout
    bad = CliRunner().invoke(_cli(), ["rematch", str(tmp_path / "cohort"), str(current), "--left", "NOBODY",
                                      "--keep", "oops"])
    assert bad.exit_code == 2 and "BAD_VALUE" in bad.output
    (tmp_path / "ghost.csv").write_text("mentee_id,mentor_id\nGHOST,M0\n", encoding="utf-8")
    ghost = CliRunner().invoke(_cli(), ["rematch", str(tmp_path / "cohort"), str(tmp_path / "ghost.csv")])
    assert ghost.exit_code == 2 and "UNKNOWN_ID" in ghost.output
