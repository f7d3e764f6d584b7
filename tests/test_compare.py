"""What-if scenarios: the file format, the comparison's numbers recomputed by hand, and relaxing never losing people."""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from server.cli_workflows import register
from solver.compare import (
    Comparison,
    Scenario,
    ScenarioChanges,
    ScenarioOutcome,
    apply_changes,
    compare_scenarios,
    load_scenario,
    summary_rows,
)
from solver.domain import Cohort, Language, Mentor
from solver.errors import CohortInvalid, ProblemCode
from solver.ingest import load_cohort, write_cohort_dir
from tests.conftest import BUNDLED, SCENARIOS
from tests.oracle import km, pair_allowed, random_cohort

WHATIF = SCENARIOS / "whatif"


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _small_cohort(seed: int = 7) -> Cohort:
    return replace(random_cohort(random.Random(seed), 12, 9, rankings=True), name="small")


# The scenario file -----------------------------------------------------------------------------------


def test_every_key_of_a_scenario_file_changes_the_base(tmp_path: Path) -> None:
    base = _small_cohort()
    write_cohort_dir(base, tmp_path / "base")
    gone_mentee, gone_mentor = base.mentees[0].id, base.mentors[0].id
    org = base.mentors[1].organisation
    (tmp_path / "more_mentees.csv").write_text(
        "id,lat,lon,occupations,languages,priority\n"
        "N1,55.68,12.57,2512;2519,en:C1;da:B2,2\n", encoding="utf-8")
    keep_pin = (base.mentees[1].id, base.mentors[2].id)
    banned = next(m.id for m in base.mentors[1:] if m.organisation != org)
    (tmp_path / "what_if.toml").write_text(f"""
label = "Everything at once"
description = "a test of every key"
cohort = "base"
remove = ["{gone_mentee}", "{gone_mentor}"]
absent_organisations = ["{org}"]
add_mentees = "more_mentees.csv"
add_bans = [["{base.mentees[3].id}", "{banned}"]]

[rules]
no_distance_limit = true
field_depth = 1
min_language_level = "A2"

[weights]
travel = 7

[[add_mentors]]
id = "X1"
lat = 55.68
lon = 12.57
occupations = ["2512"]
languages = ["en:C1", "da:C2"]
capacity = 2
leadership = true
""", encoding="utf-8")
    scenario = load_scenario(tmp_path / "what_if.toml")
    cohort = scenario.cohort
    assert scenario.label == "Everything at once" and scenario.description == "a test of every key"
    mentor_ids = {m.id for m in cohort.mentors}
    mentee_ids = {m.id for m in cohort.mentees}
    assert gone_mentee not in mentee_ids and gone_mentor not in mentor_ids
    assert not any(m.organisation == org for m in cohort.mentors)
    assert "X1" in mentor_ids and "N1" in mentee_ids
    added = next(m for m in cohort.mentors if m.id == "X1")
    assert added.capacity == 2 and added.leadership and added.languages == (Language("en", 5), Language("da", 6))
    assert next(m for m in cohort.mentees if m.id == "N1").priority == 2
    rules = cohort.rules
    assert rules.max_distance_km is None and rules.field_depth == 1 and rules.min_language_level == 2
    assert rules.weights.travel == 7 and rules.weights.mutual_rank == base.rules.weights.mutual_rank
    assert (base.mentees[3].id, banned) in rules.bans
    assert not any({gone_mentee, gone_mentor} & {r.from_id, r.to_id} for r in cohort.rankings)
    assert any("max_distance_km" in c for c in scenario.changes)
    # add_pins too (kept apart: a pin must be allowed, which the changes above could break)
    pinned = apply_changes(base, ScenarioChanges(add_pins=(keep_pin,)), label="pin") if pair_allowed(
        base, base.mentees[1], base.mentors[2]) else None
    if pinned is not None:
        assert keep_pin in pinned.cohort.rules.pins


def test_a_cohort_directory_is_a_scenario_without_changes(tmp_path: Path) -> None:
    base = _small_cohort()
    write_cohort_dir(base, tmp_path / "plain")
    scenario = load_scenario(tmp_path / "plain")
    assert scenario.label == "plain" and scenario.changes == ()
    assert scenario.cohort.mentees == base.mentees


def test_problems_in_a_scenario_file_are_reported_all_at_once(tmp_path: Path) -> None:
    write_cohort_dir(_small_cohort(), tmp_path / "base")
    (tmp_path / "bad.toml").write_text("""
cohort = "base"
colour = "blue"
remove = ["nobody"]
absent_organisations = ["No such org"]
[rules]
max_distance_km = "far"
[weights]
charm = 3
[[add_mentors]]
id = "X1"
lat = "north"
lon = 12.5
occupations = ["2512"]
languages = ["en:Z9"]
""", encoding="utf-8")
    with pytest.raises(CohortInvalid) as caught:
        load_scenario(tmp_path / "bad.toml")
    problems = caught.value.problems
    codes = {p.code for p in problems}
    assert {ProblemCode.BAD_VALUE, ProblemCode.UNKNOWN_ID, ProblemCode.MALFORMED_CEFR} <= codes
    paths = " ".join(p.path for p in problems)
    for expected in ("colour", "remove[0]", "absent_organisations[0]", "max_distance_km", "weights.charm",
                     "add_mentors[0].lat", "add_mentors[0].languages"):
        assert expected in paths, (expected, paths)
    assert all("bad.toml" in p.location for p in problems)


def test_a_scenario_that_breaks_the_rules_reports_validation_problems(tmp_path: Path) -> None:
    base = _small_cohort()
    with pytest.raises(CohortInvalid) as caught:
        apply_changes(base, ScenarioChanges(rules={"field_depth": 9}, add_pins=(("nobody", base.mentors[0].id),)),
                      label="broken")
    assert {p.code for p in caught.value.problems} >= {ProblemCode.INVALID_RULE, ProblemCode.UNKNOWN_ID}


@pytest.mark.skipif(not WHATIF.is_dir(), reason="no bundled what-if files")
def test_every_bundled_what_if_file_loads_and_names_a_bundled_cohort() -> None:
    files = sorted(WHATIF.glob("*.toml"))
    assert len(files) >= 10
    for path in files:
        scenario = load_scenario(path)
        assert scenario.label and scenario.cohort.mentees
        assert path.name.endswith("_base.toml") or scenario.changes, path.name


# Relaxing the distance limit never matches fewer people ------------------------------------------------


def _matched(cohort: Cohort) -> int:
    comparison = compare_scenarios([Scenario("only", cohort)])
    return comparison.scenarios[0].matched


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 14), m=st.integers(1, 12),
       extra=st.sampled_from([1.0, 5.0, 20.0, 60.0, None]))
def test_relaxing_the_distance_limit_never_matches_fewer(seed: int, n: int, m: int, extra: float | None) -> None:
    base = random_cohort(random.Random(seed), n, m, rankings=seed % 2 == 0)
    limit = base.rules.max_distance_km
    assert limit is not None
    change = {"no_distance_limit": True} if extra is None else {"max_distance_km": limit + extra}
    relaxed = apply_changes(base, ScenarioChanges(rules=change), label="relaxed")
    comparison = compare_scenarios([Scenario("base", base), relaxed])
    before, after = comparison.scenarios
    assert after.matched >= before.matched


@pytest.mark.parametrize("name", BUNDLED)
def test_relaxing_the_distance_limit_of_a_bundled_cohort_never_matches_fewer(name: str) -> None:
    base = load_cohort(SCENARIOS / name)
    assert base.rules.max_distance_km is not None
    matched = [_matched(replace(base, rules=replace(base.rules, max_distance_km=base.rules.max_distance_km + extra)))
               for extra in (0.0, 5.0, 15.0)]
    assert matched == sorted(matched)


# The comparison's numbers, recomputed by hand from the pairs --------------------------------------------


def _check_outcome_by_hand(cohort: Cohort, outcome: ScenarioOutcome, base_pairs: set[tuple[str, str]]) -> None:
    """Every number of one scenario, recomputed in plain Python from its pairs and the cohort."""
    mentees = {m.id: m for m in cohort.mentees}
    mentors = {m.id: m for m in cohort.mentors}
    pairs = [(p.mentee_id, p.mentor_id) for p in outcome.pairs]
    # The matching is valid: allowed pairs, one mentor per mentee, capacities held.
    assert all(pair_allowed(cohort, mentees[a], mentors[b]) for a, b in pairs)
    assert len({a for a, _ in pairs}) == len(pairs)
    for b in mentors:
        assert sum(1 for _, x in pairs if x == b) <= mentors[b].capacity
    assert outcome.mentees == len(mentees) and outcome.mentors == len(mentors)
    assert outcome.capacity == sum(m.capacity for m in cohort.mentors)
    assert outcome.matched == len(pairs)
    assert outcome.matched_share == pytest.approx(len(pairs) / len(mentees))
    scores = [p.score for p in outcome.pairs]
    assert outcome.total_score == sum(scores)
    assert outcome.mean_score == (pytest.approx(statistics.fmean(scores)) if scores else None)
    assert outcome.worst_score == (min(scores) if scores else None)
    travel = [km(mentees[a].lat, mentees[a].lon, mentors[b].lat, mentors[b].lon) for a, b in pairs]
    assert outcome.mean_travel_km == (pytest.approx(statistics.fmean(travel), abs=1e-6) if travel else None)
    # Top-3 choices, straight from the rankings.
    mentee_rank: dict[tuple[str, str], int] = {}
    mentor_rank: dict[tuple[str, str], int] = {}
    for r in cohort.rankings:
        if r.from_id in mentees and r.to_id in mentors:
            mentee_rank[(r.from_id, r.to_id)] = min(r.rank, mentee_rank.get((r.from_id, r.to_id), r.rank))
        elif r.from_id in mentors and r.to_id in mentees:
            mentor_rank[(r.to_id, r.from_id)] = min(r.rank, mentor_rank.get((r.to_id, r.from_id), r.rank))
    ranking = {a for a, _ in mentee_rank}
    top = sum(1 for a, b in pairs if mentee_rank.get((a, b), 99) <= 3)
    assert (outcome.ranking_mentees, outcome.top_choice_mentees) == (len(ranking), top)
    assert outcome.top_choice_share == (pytest.approx(top / len(ranking)) if ranking else None)
    assert [(p.mentee_rank, p.mentor_rank) for p in outcome.pairs] == [
        (mentee_rank.get(pair, 0), mentor_rank.get(pair, 0)) for pair in pairs]
    # Blocking pairs: both ranked each other, allowed, and both prefer each other to their lot.
    partner = dict(pairs)
    held = {b: [a for a, x in pairs if x == b] for b in mentors}
    blocking = set()
    for (a, b), rank_ab in mentee_rank.items():
        if (a, b) not in mentor_rank or partner.get(a) == b or not pair_allowed(cohort, mentees[a], mentors[b]):
            continue
        mine = partner.get(a)
        mentee_wants = mine is None or rank_ab < mentee_rank.get((a, mine), 10**9)
        worst = max((mentor_rank.get((x, b), 10**9) for x in held[b]), default=-1)
        mentor_wants = len(held[b]) < mentors[b].capacity or mentor_rank[(a, b)] < worst
        if mentee_wants and mentor_wants:
            blocking.add((a, b))
    assert outcome.blocking_pairs == len(blocking)
    assert {(p.mentee_id, p.mentor_id) for p in outcome.blocking} == blocking
    # Unmatched: every mentee without a pair; a rule is the reason exactly when no mentor is allowed.
    unmatched = {u.mentee_id: u.reason for u in outcome.unmatched}
    assert set(unmatched) == set(mentees) - set(partner)
    for a, reason in unmatched.items():
        has_partner = any(pair_allowed(cohort, mentees[a], b) for b in cohort.mentors)
        assert (reason in ("CANDIDATES_ALL_TAKEN", "NO_MENTOR_CAPACITY", "SIDE_CONSTRAINTS")) == has_partner, (a, reason)
    by_reason: dict[str, int] = {}
    for reason in unmatched.values():
        by_reason[reason] = by_reason.get(reason, 0) + 1
    assert {r.reason: r.count for r in outcome.unmatched_by_reason} == by_reason
    # Against the base, by participant id.
    these = set(pairs)
    assert (outcome.pairs_kept, outcome.pairs_removed, outcome.pairs_added) == (
        len(these & base_pairs), len(base_pairs - these), len(these - base_pairs))
    assert {(p.mentee_id, p.mentor_id) for p in outcome.removed_vs_base} == base_pairs - these
    assert {(p.mentee_id, p.mentor_id) for p in outcome.added_vs_base} == these - base_pairs


def _check_comparison_by_hand(scenarios: list[Scenario], comparison: Comparison) -> None:
    assert [o.label for o in comparison.scenarios] == [s.label for s in scenarios]
    assert comparison.base_label == scenarios[0].label
    base_pairs = {(p.mentee_id, p.mentor_id) for p in comparison.scenarios[0].pairs}
    for scenario, outcome in zip(scenarios, comparison.scenarios, strict=True):
        _check_outcome_by_hand(scenario.cohort, outcome, base_pairs)


@pytest.mark.skipif("lyngby_career" not in BUNDLED, reason="bundled cohort not generated yet")
def test_comparison_numbers_of_the_bundled_lyngby_what_ifs_match_a_hand_count() -> None:
    paths = [WHATIF / "lyngby_base.toml", WHATIF / "lyngby_weights_rankings_heavy.toml",
             WHATIF / "lyngby_no_distance_limit.toml"]
    scenarios = [load_scenario(p) for p in paths]
    comparison = compare_scenarios(paths)
    _check_comparison_by_hand(scenarios, comparison)
    assert comparison.scenarios[0].ranking_mentees > 0  # the rankings measures were really exercised


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6))
def test_comparison_numbers_of_generated_what_ifs_match_a_hand_count(seed: int) -> None:
    rng = random.Random(seed)
    base = random_cohort(rng, rng.randint(1, 12), rng.randint(1, 10), rankings=True)
    gone = rng.choice(base.mentors).id
    extra = Mentor("X1", base.mentees[0].lat, base.mentees[0].lon, base.mentees[0].occupations,
                   (Language("da", 6), Language("en", 6)), capacity=2)
    scenarios = [
        Scenario("base", base),
        apply_changes(base, ScenarioChanges(remove=(gone,), weights={"mutual_rank": 9}), label="one mentor out"),
        apply_changes(base, ScenarioChanges(add_mentors=(extra,), rules={"min_language_level": "A2"}), label="more"),
    ]
    _check_comparison_by_hand(scenarios, compare_scenarios(scenarios))


def test_to_dict_is_plain_json_and_the_summary_has_one_value_per_scenario() -> None:
    base = _small_cohort()
    comparison = compare_scenarios([Scenario("a", base), Scenario("b", base)])
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["base_label"] == "a" and [s["label"] for s in data["scenarios"]] == ["a", "b"]
    assert isinstance(data["scenarios"][0]["unmatched_by_reason"], list)
    assert data["scenarios"][1]["pairs_removed"] == 0  # the same cohort gives the same matching
    for row in summary_rows(comparison):
        assert len(row.values) == 2


# The command line ------------------------------------------------------------------------------------


def test_compare_command_prints_json_and_writes_a_report(tmp_path: Path) -> None:
    base = _small_cohort()
    write_cohort_dir(base, tmp_path / "base")
    (tmp_path / "wider.toml").write_text('cohort = "base"\nlabel = "wider"\n[rules]\nmax_distance_km = 80\n',
                                         encoding="utf-8")
    report = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(_cli(), ["compare", str(tmp_path / "base"), str(tmp_path / "wider.toml"), "--json",
                                         "--report", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [s["label"] for s in data["scenarios"]] == ["base", "wider"]
    assert data["scenarios"][1]["matched"] >= data["scenarios"][0]["matched"]
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    table = CliRunner().invoke(_cli(), ["compare", str(tmp_path / "base"), str(tmp_path / "wider.toml")])
    assert table.exit_code == 0 and "matched" in table.stdout and "wider" in table.stdout


def test_compare_command_reports_problems_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text('cohort = "missing_dir"\n', encoding="utf-8")
    result = CliRunner().invoke(_cli(), ["compare", str(tmp_path / "broken.toml")])
    assert result.exit_code == 2
    assert "MISSING_FILE" in result.output
