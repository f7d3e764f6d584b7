"""The seeded cohort generator and the bundled scenarios: determinism, realistic shape, decisions that hold."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from scenarios import generate as gen
from scenarios import geography as geo
from solver.data import builtin_field_families
from solver.domain import GENDERS, Cohort, FieldRule, Goal, Mentee, Mentor, MutualChoice, Rules, Track

SCENARIO_ROOT = Path(gen.__file__).resolve().parent
EXPECTED_SIZES = {  # (mentees, mentors)
    "lyngby_career": (15, 15),
    "copenhagen_business": (80, 80),
    "ibm_refugees": (25, 25),
    "kvinfo_network": (300, 280),
    "copenhagen_career": (40, 44),
    "ibmp_2026_q1": (20, 20),
    "ibmp_2026_q2": (21, 20),
    "ibmp_2026_q3": (21, 20),
    "ibmp_2026_q4": (21, 20),
}


@pytest.fixture(scope="module")
def scenarios() -> dict[str, Cohort]:
    return {name: build() for name, build in gen.SCENARIOS.items()}


@pytest.fixture(scope="module")
def broken(scenarios) -> dict[str, list[list[set[str]]]]:
    """Per scenario, mentee x mentor: the hard rules each pair breaks, by the oracle below."""
    return {name: broken_matrix(cohort) for name, cohort in scenarios.items()}


# An oracle for the hard rules, written apart from the generator's own check on purpose -------------


def _km(a: Mentee, b: Mentor) -> float:
    # Haversine with the mean Earth radius; agrees with any sane implementation to well under the
    # 0.5 km margin the generator keeps pins inside the limit.
    r = 6371.0
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    d_phi, d_lambda = phi2 - phi1, math.radians(b.lon - a.lon)
    s = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * r * math.atan2(math.sqrt(s), math.sqrt(1 - s))


def _her(rules: Rules, mentee: Mentee, key: str) -> Any:
    """Her rules' value: the first segment whose given selectors all match her overrides the programme's."""
    for segment in rules.segments:
        if ((not segment.goals or mentee.goal in segment.goals) and (not segment.tracks or mentee.track in segment.tracks)
                and (not segment.municipalities or mentee.municipality in segment.municipalities)
                and (not segment.tags or set(segment.tags) & set(mentee.tags))):
            if key == "max_distance_km" and segment.no_distance_limit:
                return None
            value = getattr(segment, key)
            return value if value not in (None, ()) else getattr(rules, key, ())
    return getattr(rules, key, ())


def _families(codes: tuple[str, ...]) -> set[str]:
    return {f.id for f in builtin_field_families() if any(c.startswith(p) for c in codes for p in f.prefixes)}


def broken_rules(cohort: Cohort, mentee: Mentee, mentor: Mentor) -> set[str]:
    rules = cohort.rules
    broken = set()
    if rules.eligible_municipalities and mentee.municipality not in rules.eligible_municipalities:
        broken.add("eligibility")
    if rules.eligible_tracks and mentee.track not in rules.eligible_tracks:
        broken.add("eligibility")
    if mentor.years_experience < _her(rules, mentee, "min_mentor_years"):
        broken.add("eligibility")
    d = _her(rules, mentee, "field_depth")
    if d and not {c[:d] for c in mentee.occupations} & {c[:d] for c in mentor.occupations} and not (
            _her(rules, mentee, "field_rule") is FieldRule.FAMILY
            and _families(mentee.occupations) & _families(mentor.occupations)):
        broken.add("field")
    own = mentee.max_travel_km
    limit = (own if _her(rules, mentee, "personal_limits_extend") and own is not None else
             min([x for x in (_her(rules, mentee, "max_distance_km"), own) if x is not None], default=math.inf))
    online = _her(rules, mentee, "online_meetings") and mentee.online and mentor.online
    if _km(mentee, mentor) > limit and not online:
        broken.add("distance")
    good = _her(rules, mentee, "min_language_level")
    only = _her(rules, mentee, "programme_languages") or ()
    if not ({x.code for x in mentee.languages if x.level >= good}
            & {x.code for x in mentor.languages if x.level >= good}
            & (set(only) or {x.code for x in mentee.languages})):
        broken.add("language")
    if rules.gender_requests_hard and mentee.requested_mentor_gender not in ("", mentor.gender):
        broken.add("gender")
    wanted = _her(rules, mentee, "mentor_goals")
    if wanted and mentor.goals and not set(wanted) & set(mentor.goals):
        broken.add("goal")
    if mentor.organisation and mentor.organisation in mentee.avoid_organisations:
        broken.add("conflict")
    if (mentee.id, mentor.id) in set(rules.bans):
        broken.add("ban")
    return broken


def broken_matrix(cohort: Cohort) -> list[list[set[str]]]:
    assert cohort.rules.mutual_choice is MutualChoice.NONE  # no bundled cohort asks for it (a what-if does)
    return [[broken_rules(cohort, mentee, mentor) for mentor in cohort.mentors] for mentee in cohort.mentees]


def max_matched(cohort: Cohort, broken: list[list[set[str]]], mentor_ok=lambda m: True) -> int:
    """Maximum bipartite matching over mentor capacity slots (scipy), ignoring caps and quotas."""
    slots = [j for j, m in enumerate(cohort.mentors) if mentor_ok(m) for _ in range(m.capacity)]
    rows, cols = [], []
    for i in range(len(cohort.mentees)):
        for s, j in enumerate(slots):
            if not broken[i][j]:
                rows.append(i)
                cols.append(s)
    if not rows:
        return 0
    graph = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(cohort.mentees), len(slots)))
    return int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())


def _small(seed: int, rankings: bool = True) -> Cohort:
    return gen.generate_cohort(seed=seed, n_mentees=40, n_mentors=35, towns=("copenhagen", "aarhus"),
                               rankings=rankings)


# Reference data -----------------------------------------------------------------------------------


def test_geography_codes_and_places_are_consistent() -> None:
    assert len(geo.MUNICIPALITIES) == 98
    known = {"copenhagen": "101", "frederiksberg": "147", "lyngby": "173", "gentofte": "157", "gladsaxe": "159",
             "aarhus": "751", "odense": "461", "aalborg": "851", "esbjerg": "561", "roskilde": "265",
             "vejle": "630", "kolding": "621", "broendby": "153"}
    assert {key: geo.TOWNS[key].municipality for key in known} == known
    for town in geo.TOWNS.values():
        assert town.municipality in geo.MUNICIPALITIES
        for place in town.districts:
            assert place.municipality == town.municipality and geo.in_denmark(place.lat, place.lon)
            assert geo.distance_km(place.lat, place.lon, town.lat, town.lon) < 12
    for site in geo.SITES.values():
        assert site.municipality in geo.MUNICIPALITIES and geo.in_denmark(site.lat, site.lon)
    assert set(geo.NATIONAL_TOWNS) <= set(geo.TOWNS) and len(geo.NATIONAL_TOWNS) == 15
    for field in geo.FIELDS.values():
        assert all(re.fullmatch(r"\d{4}", c) and c in geo.OCCUPATION_LABELS for c in (*field.codes, field.manager_code))
    assert set(geo.FIRST_LANGUAGE.values()) <= set(geo.LANGUAGE_NAMES)


# The generator ------------------------------------------------------------------------------------


def test_same_seed_gives_an_identical_cohort() -> None:
    a, b = _small(7), _small(7)
    assert a == b
    assert repr(a) == repr(b)
    assert gen.national_pool(3, 500, 400, with_rankings=True) == gen.national_pool(3, 500, 400, with_rankings=True)


def test_different_seeds_give_different_cohorts() -> None:
    a, b = _small(7), _small(8)
    assert a.mentees != b.mentees
    assert a.mentors != b.mentors
    assert a.rankings != b.rankings


@pytest.mark.parametrize(("n_mentees", "n_mentors"), [(0, 0), (1, 3), (15, 15), (123, 77)])
def test_sizes_as_asked_and_ids_unique(n_mentees, n_mentors) -> None:
    cohort = gen.generate_cohort(seed=1, n_mentees=n_mentees, n_mentors=n_mentors, towns=("odense",),
                                 rankings=True)
    assert len(cohort.mentees) == n_mentees
    assert len(cohort.mentors) == n_mentors
    ids = [m.id for m in cohort.mentees] + [m.id for m in cohort.mentors]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"E\d{4}", m.id) for m in cohort.mentees)
    assert all(re.fullmatch(r"M\d{4}", m.id) for m in cohort.mentors)


def test_ids_are_zero_padded_to_the_size() -> None:
    cohort = gen.national_pool(2, 10_000, 12)
    assert (cohort.mentees[0].id, cohort.mentees[-1].id) == ("E00001", "E10000")
    assert (cohort.mentors[0].id, cohort.mentors[-1].id) == ("M0001", "M0012")


def test_rankings_are_partial_valid_and_sometimes_tied() -> None:
    cohort = _small(11)
    mentee_ids = {m.id for m in cohort.mentees}
    mentor_ids = {m.id for m in cohort.mentors}
    lists: dict[str, list[int]] = {}
    for r in cohort.rankings:
        assert (r.from_id in mentee_ids and r.to_id in mentor_ids) or (r.from_id in mentor_ids and r.to_id in mentee_ids)
        lists.setdefault(r.from_id, []).append(r.rank)
    assert set(lists) == mentee_ids | mentor_ids  # everyone ranks at the kick-off
    assert all(3 <= len(ranks) <= 5 and ranks[0] == 1 for ranks in lists.values())
    assert len(lists) * 5 < len(mentee_ids) * len(mentor_ids) * 2  # partial, never everyone by everyone
    assert any(len(set(ranks)) < len(ranks) for ranks in lists.values())  # ties occur


def test_people_live_and_work_in_denmark_near_the_towns_asked_for() -> None:
    cohort = gen.national_pool(5, 600, 600)
    centres = [p for key in geo.NATIONAL_TOWNS for p in geo.TOWNS[key].districts]
    people: list[Mentee | Mentor] = [*cohort.mentees, *cohort.mentors]
    for person in people:
        assert geo.in_denmark(person.lat, person.lon)
        assert min(geo.distance_km(person.lat, person.lon, p.lat, p.lon) for p in centres) < 6.0


def test_attributes_use_real_codes() -> None:
    cohort = gen.national_pool(9, 1_500, 1_500)
    for mentee in cohort.mentees:
        assert mentee.municipality in geo.MUNICIPALITIES
        assert mentee.country_of_origin in geo.FIRST_LANGUAGE
        assert mentee.first_language == geo.FIRST_LANGUAGE[mentee.country_of_origin]
        assert mentee.gender in GENDERS
        assert mentee.requested_mentor_gender in ("", "f", "m")
        # Every mentee of the national pool can work in English or Danish at B1 or better.
        assert any(lang.code in ("en", "da") and lang.level >= 3 for lang in mentee.languages)
    people: list[Mentee | Mentor] = [*cohort.mentees, *cohort.mentors]
    for person in people:
        assert person.occupations and all(code in geo.OCCUPATION_LABELS for code in person.occupations)
        assert all(lang.code in geo.LANGUAGE_NAMES and 1 <= lang.level <= 6 for lang in person.languages)
        assert len({lang.code for lang in person.languages}) == len(person.languages)
    capacities = Counter(m.capacity for m in cohort.mentors)
    assert set(capacities) == {1, 2} and capacities[1] > 5 * capacities[2]  # mostly one mentee each
    assert all(any(lang.code == "da" for lang in m.languages) for m in cohort.mentors)


def test_national_pool_is_quick_at_benchmark_scale_small() -> None:
    started = time.perf_counter()
    cohort = gen.national_pool(1, 2_000, 2_000)
    assert time.perf_counter() - started < 2.0
    assert len({m.organisation for m in cohort.mentors}) == 40


@pytest.mark.slow
def test_national_pool_ten_thousand_by_ten_thousand_in_seconds() -> None:
    started = time.perf_counter()
    cohort = gen.national_pool(1, 10_000, 10_000)
    assert time.perf_counter() - started < 10.0
    assert (len(cohort.mentees), len(cohort.mentors), len(cohort.rankings)) == (10_000, 10_000, 0)


# The bundled scenarios -----------------------------------------------------------------------------


def test_scenario_sizes(scenarios) -> None:
    assert {name: (len(c.mentees), len(c.mentors)) for name, c in scenarios.items()} == EXPECTED_SIZES
    for name, cohort in scenarios.items():
        assert cohort.name == name
        for person in (*cohort.mentees, *cohort.mentors):
            assert geo.in_denmark(person.lat, person.lon)


def test_every_pin_satisfies_every_hard_rule_and_fits(scenarios) -> None:
    pinned = 0
    for name, cohort in scenarios.items():
        mentees, mentors = cohort.mentee_index(), cohort.mentor_index()
        per_mentor = Counter(mentor_id for _, mentor_id in cohort.rules.pins)
        per_org = Counter(cohort.mentors[mentors[mentor_id]].organisation for _, mentor_id in cohort.rules.pins)
        assert len({mentee_id for mentee_id, _ in cohort.rules.pins}) == len(cohort.rules.pins), name
        for mentee_id, mentor_id in cohort.rules.pins:
            mentee, mentor = cohort.mentees[mentees[mentee_id]], cohort.mentors[mentors[mentor_id]]
            assert not broken_rules(cohort, mentee, mentor), (name, mentee_id, mentor_id)
            assert per_mentor[mentor_id] <= mentor.capacity
            pinned += 1
        for org, cap in cohort.rules.organisation_caps:
            assert per_org[org] <= cap, (name, org)
    assert pinned >= 5


def test_bans_rule_out_pairs_that_would_otherwise_be_allowed(scenarios) -> None:
    for name, cohort in scenarios.items():
        assert cohort.rules.bans, name
        assert not set(cohort.rules.bans) & set(cohort.rules.pins)
        unbanned = replace(cohort, rules=replace(cohort.rules, bans=()))
        mentees, mentors = cohort.mentee_index(), cohort.mentor_index()
        for mentee_id, mentor_id in cohort.rules.bans:
            mentee, mentor = cohort.mentees[mentees[mentee_id]], cohort.mentors[mentors[mentor_id]]
            assert broken_rules(cohort, mentee, mentor) == {"ban"}
            assert not broken_rules(unbanned, mentee, mentor)


def test_most_but_not_all_mentees_can_be_matched(scenarios, broken) -> None:
    for name, cohort in scenarios.items():
        share = max_matched(cohort, broken[name]) / len(cohort.mentees)
        assert 0.7 <= share < 1.0, (name, share)


def test_unmatched_mentees_have_different_single_reasons(broken) -> None:
    """Somebody is stranded by distance alone, by field alone, by language alone, by eligibility alone."""
    reasons: Counter[str] = Counter()
    for matrix in broken.values():
        for row in matrix:
            if all(row):
                shared = set.intersection(*row)
                reasons.update(r for r in shared if {r} in row)
    assert {"distance", "field", "language", "eligibility"} <= set(reasons)


def test_scenarios_follow_their_programmes(scenarios) -> None:
    lyngby = scenarios["lyngby_career"]
    assert lyngby.rankings and {m.track for m in lyngby.mentees} == {Track.SPOUSE}
    assert {r.from_id[0] for r in lyngby.rankings} == {"E", "M"}  # both directions
    assert {"DTU", "Lyngby-Taarbæk Kommune"} <= {m.organisation for m in lyngby.mentors}
    assert sum(m.returning for m in lyngby.mentors) >= 4

    business = scenarios["copenhagen_business"]
    assert set(business.rules.eligible_municipalities) == {"101", "147"}
    assert any(m.capacity == 2 for m in business.mentors)

    ibm = scenarios["ibm_refugees"]
    assert {m.organisation for m in ibm.mentors} == {"IBM"}
    assert ibm.rules.min_mentor_years == 5 and ibm.rules.min_language_level == 3
    assert ibm.rules.programme_languages == ("en", "da") and ibm.rules.field_rule is FieldRule.FAMILY
    assert [(s.id, s.goals, s.field_depth) for s in ibm.rules.segments] == [("own_business", (Goal.OWN_BUSINESS,), 0)]
    assert sum(m.leadership for m in ibm.mentors) > len(ibm.mentors) / 2
    assert 2 <= sum(m.years_experience < 5 for m in ibm.mentors) <= 4  # the five-year rule shows
    assert sum(not any(x.code in ("en", "da") and x.level >= 3 for x in m.languages) for m in ibm.mentees) == 1
    sites = [geo.SITES["ibm_lyngby"], geo.SITES["ibm_broendby"]]
    assert all(min(geo.distance_km(m.lat, m.lon, s.lat, s.lon) for s in sites) < 0.5 for m in ibm.mentors)

    kvinfo = scenarios["kvinfo_network"]
    assert {m.gender for m in kvinfo.mentees} == {"f"}
    assert {m.goal for m in kvinfo.mentees} == {Goal.JOB, Goal.SOCIAL_NETWORK}
    assert {m.track for m in kvinfo.mentees} <= {Track.REFUGEE, Track.OTHER}
    assert any(m.requested_mentor_gender == "f" for m in kvinfo.mentees)
    assert {g for m in kvinfo.mentors for g in m.goals} == {Goal.JOB, Goal.SOCIAL_NETWORK}
    assert [s.id for s in kvinfo.rules.segments] == ["social_aalborg", "job_aalborg", "social_esbjerg", "job_esbjerg",
                                                     "social", "job"]
    assert any(m.online for m in kvinfo.mentees) and any(m.online for m in kvinfo.mentors)
    assert kvinfo.rules.personal_limits_extend and any(m.max_travel_km == 100.0 for m in kvinfo.mentees)

    career = scenarios["copenhagen_career"]
    assert career.rules.eligible_municipalities == ("101",)
    assert 2 <= sum(m.municipality != "101" for m in career.mentees) <= 3
    assert {m.organisation for m in career.mentors} == {"Foreningen Nydansker", "Perspectiv", "IDA", "PROSA"}
    assert all(code[:2] in ("25", "35", "13") for m in career.mentors if m.organisation == "PROSA"
               for code in m.occupations)
    assert career.rules.field_depth == 2 and set(dict(career.rules.organisation_caps)) == {
        m.organisation for m in career.mentors}
    assert [m.avoid_organisations for m in career.mentees if m.avoid_organisations] == [("Perspectiv",)]

    intakes = [scenarios[f"ibmp_2026_q{q}"] for q in (1, 2, 3, 4)]
    programme = {replace(c.rules, pins=(), bans=()) for c in intakes}  # one programme, its own decisions per intake
    assert len(programme) == 1
    assert set(intakes[0].rules.eligible_municipalities) == {"101", "147"}
    assert sum(len(c.mentees) + len(c.mentors) for c in intakes) == 163  # the seed: 160 on four teams
    assert all(any(m.returning for m in c.mentors) and any(m.avoid_organisations for m in c.mentees) for c in intakes)
    assert [sum(m.priority == 2 for m in c.mentees) for c in intakes] == [0, 1, 1, 1]


def test_gender_quota_is_attainable(scenarios, broken) -> None:
    quotas = [(name, q) for name, c in scenarios.items() for q in c.rules.gender_quotas]
    assert quotas
    for name, quota in quotas:
        attainable = max_matched(scenarios[name], broken[name], lambda m, g=quota.gender: m.gender == g)
        assert 0 < quota.min_pairs <= attainable


def test_committed_files_regenerate_byte_for_byte(tmp_path, scenarios) -> None:
    # The fixture's cohorts were built afresh in this process: writing them is regenerating.
    for name, cohort in scenarios.items():
        gen.write_scenario(cohort, tmp_path / name)
    for name in gen.SCENARIOS:
        committed, fresh = SCENARIO_ROOT / name, tmp_path / name
        assert committed.is_dir(), f"{committed} missing: run `python -m scenarios.generate`"
        files = sorted(p.name for p in fresh.iterdir())
        assert files == sorted(p.name for p in committed.iterdir() if p.name in gen.COHORT_FILES), name
        for file in files:
            assert (committed / file).read_bytes() == (fresh / file).read_bytes(), f"{name}/{file} is stale"


def test_command_line_writes_the_chosen_scenario(tmp_path, capsys) -> None:
    assert gen.main(["--out", str(tmp_path), "--only", "ibm_refugees"]) == 0
    assert sorted(p.name for p in (tmp_path / "ibm_refugees").iterdir()) == ["mentees.csv", "mentors.csv", "rules.toml"]
    assert [p.name for p in tmp_path.iterdir()] == ["ibm_refugees"]  # no temporary directory left behind
    assert "25 mentees" in capsys.readouterr().out
