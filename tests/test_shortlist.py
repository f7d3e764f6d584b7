"""Shortlists against the README's promises, with oracles written from the rules (tests/rules_oracle.py):

every proposal is an allowed pair; the first proposals are the optimum; each cost is the optimum less the best
valid matching with the pair (brute force over every valid matching, and a re-solve with the pair pinned on the
bundled cohorts); every combination of accepted proposals keeps the rules exactly when the answer's clashes say
so (all combinations enumerated); lists keep their size and the per-person list cap, and are filled wherever a
further proposal could go.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import replace

import pytest

from solver.domain import Cohort, GenderQuota, Language, Mentee, Mentor, Ranking, Rules
from solver.errors import CohortInvalid
from solver.explain.codes import Side
from solver.ingest import load_cohort
from solver.shortlist import ClashKind, ShortlistOptions, Shortlists, shortlist
from solver.solve import SolveOptions, solve
from solver.stop import Stopped, StopToken
from tests.conftest import SCENARIOS
from tests.rules_oracle import RulesOracle, valid_matchings

Pair = tuple[str, str]


def dense_cohort(seed: int, n_mentees: int = 5, n_mentors: int = 4, *, caps: bool = True, quota: bool = True,
                 pins: bool = True, seat_cost: int = 100) -> Cohort:
    """A small cohort in one town where most pairs are allowed (a field, a ban and gender requests rule some
    out), with capacities 1-3, an organisation cap, a gender quota and a pin: every limit a clash can name."""
    rng = random.Random(seed)
    fields = ["2511", "2512", "2421"]
    mentors = tuple(Mentor(
        id=f"M{j}", lat=55.68 + rng.uniform(-0.02, 0.02), lon=12.57 + rng.uniform(-0.03, 0.03),
        occupations=(rng.choice(fields),), languages=(Language("en", 5),), years_experience=rng.randint(1, 30),
        capacity=rng.choice([1, 1, 2, 3]), leadership=rng.random() < 0.4, gender=rng.choice("fm"),
        interests=tuple(rng.sample("abcd", 2)), organisation=rng.choice(["O1", "O2"]), returning=rng.random() < 0.3)
        for j in range(n_mentors))
    mentees = tuple(Mentee(
        id=f"E{i}", lat=55.68 + rng.uniform(-0.02, 0.02), lon=12.57 + rng.uniform(-0.03, 0.03),
        occupations=(rng.choice(fields),), languages=(Language("en", 4),), interests=tuple(rng.sample("abcd", 2)),
        requested_mentor_gender=rng.choice(["", "", "", "f"]), priority=rng.choice([1, 1, 1, 2]))
        for i in range(n_mentees))
    ranks = [Ranking(a.id, b.id, k + 1) for a in mentees for k, b in enumerate(rng.sample(mentors, 2))]
    ranks += [Ranking(b.id, a.id, k + 1) for b in mentors for k, a in enumerate(rng.sample(mentees, 2))]
    rules = Rules(max_distance_km=30.0, field_depth=3, extra_seat_cost=seat_cost,
                  bans=((rng.choice(mentees).id, rng.choice(mentors).id),))
    if caps:
        rules = replace(rules, organisation_caps=(("O1", rng.randint(1, 3)),))
    if quota:
        rules = replace(rules, gender_quotas=(GenderQuota("f", rng.randint(0, 2), rng.choice([None, 2, 3])),))
    cohort = Cohort(mentors, mentees, tuple(ranks), rules, name=f"dense{seed}")
    if pins:
        allowed = sorted(RulesOracle(cohort).pairs)
        if allowed and rng.random() < 0.6:
            cohort = replace(cohort, rules=replace(cohort.rules, pins=(rng.choice(allowed),)))
    return cohort


def all_valid(cohort: Cohort, oracle: RulesOracle) -> list[tuple[int, frozenset[Pair]]]:
    """Every valid matching with its value (README, Objective), by brute force."""
    return [(oracle.parts(m).value, m) for m in valid_matchings(cohort, oracle.pairs)]


def compatible_by_answer(answer: Shortlists, accepted: set[Pair]) -> bool:
    """The answer's word on a combination: every clash's count kept."""
    for clash in answer.clashes:
        count = sum(1 for p in clash.proposals if p in accepted)
        if clash.kind is ClashKind.GENDER_QUOTA_MIN:
            if count < clash.limit:
                return False
        elif count > clash.limit:
            return False
    return True


def choices_of(answer: Shortlists) -> list[list[frozenset[Pair]]]:
    """Per list, every set of its open proposals the person may accept (at most `choices` of them)."""
    out = []
    for person in answer.lists:
        open_pairs = [(p.mentee_id, p.mentor_id) for p in person.proposals if not p.pinned]
        options = [frozenset(c) for k in range(min(person.choices, len(open_pairs)) + 1)
                   for c in itertools.combinations(open_pairs, k)]
        out.append(options)
    return out


def check_against_brute_force(cohort: Cohort, options: ShortlistOptions) -> Shortlists:
    oracle = RulesOracle(cohort)
    answer = shortlist(cohort, options)
    everything = all_valid(cohort, oracle)
    if not everything:
        assert answer.lists == () and answer.objective is None
        return answer
    optimum = max(value for value, _ in everything)
    assert answer.complete
    assert answer.objective is not None and answer.objective.value == optimum
    proposals = [p for person in answer.lists for p in person.proposals]
    # 1. Every proposal is allowed by every hard rule.
    assert all((p.mentee_id, p.mentor_id) in oracle.pairs for p in proposals)
    # 2. The first proposals together are the optimum, the same as `solve` gives.
    solved = solve(cohort, SolveOptions(alternatives=1))
    assert solved.best is not None
    first = {(p.mentee_id, p.mentor_id) for p in proposals if p.in_optimum}
    assert first == set(solved.best.pairs(solved.candidates))
    assert oracle.parts(first).value == optimum and not oracle.violations(first)
    for person in answer.lists:
        flags = [p.in_optimum for p in person.proposals]
        assert flags == sorted(flags, reverse=True), "the optimum's proposals come first"
        assert [p.rank for p in person.proposals] == list(range(1, len(flags) + 1))
        assert len(person.proposals) <= max(options.size, flags.count(True))
    # 3. Costs: the optimum less the best valid matching that holds the pair; the stated changes make one.
    best_with: dict[Pair, int] = {}
    for value, matching in everything:
        for pair in matching:
            best_with[pair] = max(best_with.get(pair, value), value)
    for p in proposals:
        pair = (p.mentee_id, p.mentor_id)
        assert p.cost == optimum - best_with[pair], (pair, p.cost)
        after = (first - set(p.pairs_removed)) | set(p.pairs_added)
        assert pair in after and not oracle.violations(after)
        assert oracle.parts(after).value == optimum - p.cost
        assert p.score == oracle.pairs[pair].score
    # 4. A proposed person is on at most max(M, her lists in the optimum) lists.
    proposed_of = (lambda p: p.mentor_id) if options.side is Side.MENTEE else (lambda p: p.mentee_id)
    appearances = Counter(proposed_of(p) for p in proposals)
    in_optimum = Counter(proposed_of(p) for p in proposals if p.in_optimum)
    for person_id, count in appearances.items():
        assert count <= max(options.lists_cap, in_optimum[person_id])
    # 5. Lists are filled: no allowed pair that a valid matching holds could still join a list with room.
    listed = {(p.mentee_id, p.mentor_id) for p in proposals}
    chooser_of = (lambda pair: pair[0]) if options.side is Side.MENTEE else (lambda pair: pair[1])
    room = {person.person_id: person.choices > 0 and len(person.proposals) < options.size for person in answer.lists}
    for pair in best_with:
        other = pair[1] if options.side is Side.MENTEE else pair[0]
        if pair not in listed and room[chooser_of(pair)]:
            assert appearances[other] >= max(options.lists_cap, in_optimum[other]), (pair, "could have been listed")
    # 6. Every combination of accepted proposals: compatible by the answer exactly when the rules hold.
    pins = set(cohort.rules.pins)
    combinations = 0
    for chosen in itertools.product(*choices_of(answer)):
        accepted = set().union(*chosen) | pins
        said = compatible_by_answer(answer, accepted)
        assert said == (not oracle.violations(accepted)), (sorted(accepted), said)
        combinations += 1
    assert combinations >= 1
    return answer


@pytest.mark.parametrize("side", [Side.MENTEE, Side.MENTOR])
@pytest.mark.parametrize("seed", range(12))
def test_shortlists_keep_their_promises_against_brute_force(seed: int, side: Side) -> None:
    rng = random.Random(1000 + seed)
    cohort = dense_cohort(seed, n_mentees=rng.choice([4, 5]), n_mentors=rng.choice([3, 4]),
                          seat_cost=rng.choice([0, 100]))
    options = ShortlistOptions(size=rng.choice([2, 3]), side=side, max_lists=rng.choice([None, 1, 2, 3]))
    check_against_brute_force(cohort, options)


def test_brute_force_cohorts_exercise_every_kind_of_clash_and_the_resolve_path() -> None:
    """The random cohorts above are not vacuous: between them they clash on seats, mentees, organisation caps and
    both quota bounds, and some costs needed a full re-solve (a quota that the cheapest cycle would break)."""
    kinds: set[ClashKind] = set()
    resolves = 0
    for seed in range(40):
        for side in (Side.MENTEE, Side.MENTOR):
            answer = shortlist(dense_cohort(seed), ShortlistOptions(size=3, side=side))
            kinds |= {c.kind for c in answer.clashes}
            resolves += answer.stats.resolves
    assert kinds == set(ClashKind)
    assert resolves > 0


@pytest.mark.parametrize("seed", range(40, 48))
def test_binding_quota_costs_are_exact(seed: int) -> None:
    """A gender quota that binds at the optimum: costs measured against the quota's optimum, not the flow's."""
    cohort = dense_cohort(seed, 5, 4, pins=False)
    rules = replace(cohort.rules, gender_quotas=(GenderQuota("f", 3, None),))
    check_against_brute_force(replace(cohort, rules=rules), ShortlistOptions(size=3))


@pytest.mark.parametrize("name", ["lyngby_career", "copenhagen_career", "ibmp_year/q2"])
def test_costs_equal_a_resolve_with_the_pair_pinned(name: str) -> None:
    """On bundled cohorts (a pin, a ban, speed-dating ranks; organisation caps; ibmp_year/q2: waiting priority
    from `[intake]`, which weighs mentees in the matched count): every cost is what `solve` says when the pair is
    pinned."""
    cohort = load_cohort(SCENARIOS / name)
    answer = shortlist(cohort, ShortlistOptions(size=3))
    assert answer.objective is not None and answer.complete
    checked = 0
    for person in answer.lists:
        for p in person.proposals:
            if p.in_optimum:
                continue
            pins = (*(q for q in cohort.rules.pins if q[0] != p.mentee_id), (p.mentee_id, p.mentor_id))
            forced = solve(replace(cohort, rules=replace(cohort.rules, pins=pins)), SolveOptions(alternatives=1))
            assert forced.best is not None
            assert p.cost == answer.objective.value - forced.best.objective.value
            checked += 1
    assert checked >= 20


def test_lyngby_lists_hold_the_optimum_first_and_name_their_clashes() -> None:
    cohort = load_cohort(SCENARIOS / "lyngby_career")
    answer = shortlist(cohort, ShortlistOptions(size=3))
    by_person = {p.person_id: p for p in answer.lists}
    pinned = [p for p in by_person["E0012"].proposals]
    assert [(p.mentor_id, p.pinned, p.in_optimum) for p in pinned] == [("M0013", True, True)]
    assert by_person["E0012"].choices == 0
    full = [p for p in answer.lists if len(p.proposals) == 3]
    assert len(full) >= 10
    for clash in answer.clashes:
        assert clash.kind is ClashKind.MENTOR_SEATS
        assert clash.subject in clash.sentence and all(person in clash.sentence for person in clash.person_ids)
    for person in full:
        assert person.proposals[0].in_optimum and person.proposals[0].cost == 0
        assert [p.cost for p in person.proposals[1:]] == sorted(p.cost for p in person.proposals[1:])
        assert all(p.explanation.score == p.score and p.explanation.terms for p in person.proposals)


def test_the_readme_walk_through_holds() -> None:
    """README, Shortlists: the lyngby_career walk-through, figure for figure."""
    cohort = load_cohort(SCENARIOS / "lyngby_career")
    answer = shortlist(cohort, ShortlistOptions())
    lists = {x.person_id: x for x in answer.lists}
    assert [(p.mentor_id, p.score, p.cost) for p in lists["E0001"].proposals] == [
        ("M0014", 585, 0), ("M0001", 770, 49), ("M0008", 529, 94)]
    assert set(lists["E0001"].proposals[1].pairs_added) == {("E0001", "M0001"), ("E0004", "M0014")}
    assert [(p.mentor_id, p.cost, p.pairs_removed) for p in lists["E0003"].proposals[1:2]] == [
        ("M0006", 6, (("E0003", "M0004"),))]
    sentences = {c.id: c.sentence for c in answer.clashes}
    assert sentences[1] == ("mentor M0001 has 1 seat and is on the lists of E0001 and E0004: if both accept M0001, "
                            "one of them goes to their next proposal")
    assert answer.clashes[11].subject == "M0014" and answer.clashes[11].person_ids == ("E0001", "E0004", "E0014")
    assert lists["E0012"].choices == 0 and not lists["E0009"].proposals and not lists["E0013"].proposals
    assert sum(len(x.proposals) for x in answer.lists) == 37
    capped = shortlist(cohort, ShortlistOptions(max_lists=2))
    assert sum(len(x.proposals) for x in capped.lists) == 29


def test_same_answer_whatever_the_row_order() -> None:
    cohort = dense_cohort(7, 6, 5)
    shuffled = replace(cohort, mentors=tuple(reversed(cohort.mentors)), mentees=tuple(reversed(cohort.mentees)),
                       rankings=tuple(reversed(cohort.rankings)))
    for side in (Side.MENTEE, Side.MENTOR):
        one, two = (shortlist(c, ShortlistOptions(size=3, side=side)) for c in (cohort, shuffled))
        assert one.lists == two.lists and one.clashes == two.clashes


def test_bad_options_are_every_problem_at_once() -> None:
    with pytest.raises(CohortInvalid) as raised:
        shortlist(dense_cohort(1), ShortlistOptions(size=11, max_lists=0, time_limit_s=0.0))
    assert sorted(p.path for p in raised.value.problems) == ["max_lists", "size", "time_limit_s"]


def test_a_cancelled_shortlist_stops_and_a_short_time_limit_says_so() -> None:
    stop = StopToken()
    stop.set()
    with pytest.raises(Stopped):
        shortlist(dense_cohort(2), ShortlistOptions(stop=stop))
    cohort = load_cohort(SCENARIOS / "kvinfo_network")
    answer = shortlist(cohort, ShortlistOptions(size=3, time_limit_s=0.6))
    assert not answer.complete
    assert any("time limit" in note for note in answer.notes)
    assert answer.stats.wall_s < 2.0
