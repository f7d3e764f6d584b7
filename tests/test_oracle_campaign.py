"""The engine's answers against `tests/rules_oracle.py` on seeded random cohorts that mix every rule and mode.

Each cohort mixes modes (score, fairness, rank-maximal), `stable`, pins, bans, organisation caps, gender quotas,
priorities, travel-time tables (with pairs far apart in km but near in minutes), personal limits, capacities
0-3 with seat costs (0 to 150), partial and tied rankings, places on both sides of longitude 180, and the
programme rules of issue 15: segments (random selectors and overrides), online meetings, extending limits,
programme languages, the family rule (built-in or the programme's own families), mutual choice, mentor goals,
and organisations to avoid. For each, the engine's answer
(library `solve`, and for some the CLI's `solve --json`) must have: the oracle's status; every matching valid
under the README's rules; each matching's objective tuple equal to the oracle's best given the better
matchings the engine returned (alternatives too); the reported objective parts and pair scores recomputed
from the pairs; `bound` equal to the best value when OPTIMAL; and fewer than K matchings only when the
oracle finds no further one. On small cohorts the oracle is itself checked by brute force.

`make test` runs a quick slice (30 cohorts); `make oracle` the full campaign (MENTORMATCH_ORACLE_COHORTS,
300 by default) with a summary: cohorts, per-mode counts, disagreements, time. One cohort again, with every
disagreement printed: `python -m tests.test_oracle_campaign 17 18` (seed 17).
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from solver import candidates as candidates_module
from solver.domain import (
    Cohort,
    FieldFamily,
    FieldRule,
    GenderQuota,
    Goal,
    Language,
    Mentee,
    Mentor,
    MutualChoice,
    ObjectiveMode,
    Ranking,
    Rules,
    Segment,
    Track,
    TravelTime,
    Weights,
)
from solver.ingest import write_cohort_dir
from solver.output import objective_dict
from solver.solve import SolveOptions, solve
from solver.validate import validate
from tests.rules_oracle import Pair, RulesOracle, brute_force, default_min_difference, valid_matchings

ROOT = Path(__file__).resolve().parent.parent
QUICK_COHORTS = 30
FULL_COHORTS = int(os.environ.get("MENTORMATCH_ORACLE_COHORTS", "300") or 300)
CLI_EVERY = 10  # every tenth cohort is also solved through `mentormatch solve --json`
BRUTE_FORCE_LIMIT = 60_000  # matchings to enumerate at most when checking the oracle itself

# Places: one city, two cities 135 km apart (travel tables with fast trains), and Fiji across longitude 180.
REGIONS = {
    "copenhagen": [(55.676, 12.568)],
    "two_cities": [(55.676, 12.568), (55.403, 10.388)],
    "antimeridian": [(-17.80, 179.985)],
}
FIELDS = ["2512", "2519", "2511", "2521", "2512", "2513", "2141"]
LANGS = ["da", "en", "ar", "uk"]
TAGS = ["chess", "cycling", "music", "food", "hiking"]
COUNTRIES = ["SY", "UA", "IN", "IR"]
SEGMENT_TAGS = ["social", "aarhus", "job", "intake2"]
# Occupations the built-in ISCO-08 families join across digits (ICT manager and technician, electrical,
# butcher and retail manager, health) and a programme's own families that group them otherwise.
FAMILY_FIELDS = ["1330", "3512", "3114", "2151", "7511", "1420", "2211", "3221"]
OWN_FAMILIES = (FieldFamily("it_and_power", ("25", "3114", "2151"), "campaign"),
                FieldFamily("food_retail", ("7511", "142"), "campaign"), FieldFamily("care", ("22", "32"), "campaign"))
T = TypeVar("T")


# Cohorts ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One campaign cohort with the options it is solved with."""

    seed: int
    cohort: Cohort
    options: SolveOptions
    region: str
    join_path: bool  # candidates built by the grid join (as above 2,000,000 eligible pairs), not the full product

    def describe(self) -> str:
        o, rules = self.options, self.cohort.rules
        return (f"seed={self.seed} mode={o.mode.value} stable={o.stable} k={o.alternatives} "
                f"min_difference={o.min_difference} region={self.region} join_path={self.join_path} "
                f"size={len(self.cohort.mentees)}x{len(self.cohort.mentors)} "
                f"travel_table={bool(rules.travel_times)} pins={list(rules.pins)} "
                f"segments={[s.id for s in rules.segments]} online={rules.online_meetings} "
                f"extend={rules.personal_limits_extend} languages={list(rules.programme_languages)} "
                f"field_rule={rules.field_rule.value}{'+own' if rules.field_families else ''} "
                f"choice={rules.mutual_choice.value} seat_cost={rules.extra_seat_cost}")


def _lon(value: float) -> float:
    return value - 360.0 if value > 180.0 else value + 360.0 if value < -180.0 else value


def _place(rng: random.Random, region: str) -> tuple[float, float]:
    lat, lon = rng.choice(REGIONS[region])
    return lat + rng.gauss(0, 0.025), _lon(lon + rng.gauss(0, 0.035))


def _languages(rng: random.Random) -> tuple[Language, ...]:
    """English at B1 or better for most (so that most pairs share a language), and another language or two."""
    english = (Language("en", rng.choice([2, 3, 4, 5, 6, 6])),) if rng.random() < 0.92 else ()
    return english + tuple(Language(code, rng.randint(1, 6)) for code in rng.sample(LANGS[:1] + LANGS[2:], rng.randint(0, 2)))


def campaign_case(seed: int) -> Case:
    """A random cohort and options; every one valid under the README (pins are allowed pairs)."""
    rng = random.Random(seed)
    region = rng.choice(["copenhagen", "copenhagen", "antimeridian", "antimeridian", "two_cities"])
    n_mentees, n_mentors = rng.randint(2, 8), rng.randint(2, 7)
    mentors = []
    for j in range(n_mentors):
        lat, lon = _place(rng, region)
        mentors.append(Mentor(
            id=f"M{j:02d}", lat=lat, lon=lon, occupations=tuple(rng.sample(FIELDS, rng.randint(1, 2))),
            languages=_languages(rng), years_experience=rng.randint(0, 30),
            capacity=rng.choice([0, 1, 1, 1, 2, 2, 3]), leadership=rng.random() < 0.3,
            gender=rng.choice(["f", "f", "m", "m", "x", ""]), interests=tuple(rng.sample(TAGS, rng.randint(0, 3))),
            organisation=rng.choice(["O1", "O2", "O3", ""]), markets=tuple(rng.sample(COUNTRIES, rng.randint(0, 2))),
            returning=rng.random() < 0.3,
            goals=tuple(rng.sample([g for g in Goal if g is not Goal.UNSPECIFIED], rng.choice([0, 0, 1, 2])))))
    mentees = []
    for i in range(n_mentees):
        lat, lon = _place(rng, region)
        mentees.append(Mentee(
            id=f"E{i:02d}", lat=lat, lon=lon, occupations=tuple(rng.sample(FIELDS, rng.randint(1, 2))),
            languages=_languages(rng), max_travel_km=rng.choice([None, None, None, None, 4.0, 12.0]),
            max_travel_minutes=rng.choice([None, None, None, 20.0, 40.0]),
            interests=tuple(rng.sample(TAGS, rng.randint(0, 3))), goal=rng.choice(list(Goal)),
            gender=rng.choice(["f", "m", ""]), requested_mentor_gender=rng.choice(["", "", "", "", "", "", "f", "m"]),
            country_of_origin=rng.choice(["", *COUNTRIES]), first_language=rng.choice(["", *LANGS]),
            municipality=rng.choice(["101", "101", "147", "173"]), track=rng.choice(list(Track)),
            priority=rng.choice([1, 1, 1, 2, 3])))
    rankings: list[Ranking] = []
    style = rng.choice(["none", "partial", "partial", "tied"])
    if style != "none":
        sides: tuple[tuple[list[Any], list[Any]], ...] = ((mentees, mentors), (mentors, mentees))
        for who, others in sides:
            for person in who:
                ranked = rng.sample(others, rng.randint(0, len(others)))
                for position, other in enumerate(ranked, start=1):
                    rank = rng.randint(1, len(ranked)) if style == "tied" else position
                    rankings.append(Ranking(person.id, other.id, rank))
    travel: tuple[TravelTime, ...] = ()
    if rng.random() < (0.8 if region == "two_cities" else 0.2):  # some pairs far apart in km, near in minutes
        travel = tuple(TravelTime(a.id, b.id, float(rng.choice([5, 12, 25, 25, 38, 55, 80])))
                       for a in mentees for b in mentors if rng.random() < 0.85)
    rules = Rules(
        max_distance_km=rng.choice([None, 8.0, 15.0, 25.0, 30.0, 200.0]),
        field_depth=rng.choice([0, 0, 1, 1, 1, 2, 2, 3, 4]),
        min_language_level=rng.choice([1, 2, 3, 3]),
        min_mentor_years=rng.choice([0, 0, 0, 0, 3]),
        eligible_municipalities=rng.choice([(), (), (), ("101", "147")]),
        eligible_tracks=rng.choice([(), (), (), (Track.UNSPECIFIED, Track.SPOUSE, Track.REFUGEE, Track.OTHER)]),
        gender_requests_hard=rng.random() < 0.8,
        weights=rng.choice([Weights(), Weights(), Weights(**{name: rng.randint(0, 5) for name in Weights.__slots__})]),
        travel_times=travel,
        max_travel_minutes=rng.choice([None, 30.0, 45.0, 60.0]) if travel else None,
        bans=tuple((rng.choice(mentees).id, rng.choice(mentors).id) for _ in range(rng.choice([0, 0, 1, 2]))),
        organisation_caps=tuple((org, rng.randint(0, 3)) for org in rng.sample(["O1", "O2"], rng.choice([0, 0, 1, 2]))),
        gender_quotas=tuple(GenderQuota(rng.choice("fm"), rng.randint(0, 2), rng.choice([None, 1, 2, 3]))
                            for _ in range(rng.choice([0, 0, 1]))),
    )
    rules = replace(rules, gender_quotas=tuple(q for q in rules.gender_quotas
                                               if q.max_pairs is None or q.min_pairs <= q.max_pairs))
    cohort = with_programme_rules(Cohort(tuple(mentors), tuple(mentees), tuple(rankings), rules,
                                         name=f"campaign-{seed}"), random.Random(f"programme-rules-{seed}"))
    rules = cohort.rules
    if rng.random() < 0.4:  # pins: allowed pairs (by the README), one per mentee, within capacity
        oracle = RulesOracle(cohort)
        pins: list[Pair] = []
        for a, b in rng.sample(sorted(oracle.pairs), min(len(oracle.pairs), rng.randint(1, 2))):
            taken = sum(1 for _, other in pins if other == b)
            if all(a != x for x, _ in pins) and taken < oracle.mentors[b].capacity and (a, b) not in rules.bans:
                pins.append((a, b))
        cohort = replace(cohort, rules=replace(rules, pins=tuple(pins)))
    mode = list(ObjectiveMode)[seed % 3]
    options = SolveOptions(mode=mode, alternatives=rng.choice([1, 2, 3, 3]),
                           min_difference=rng.choice([None, None, 1, 2]), stable=rng.random() < 0.3,
                           time_limit_s=60.0)
    return Case(seed, cohort, options, region, join_path=rng.random() < 0.2)


def _some(rng: random.Random, values: Sequence[T], most: int) -> tuple[T, ...]:
    return tuple(rng.sample(list(values), rng.randint(1, min(most, len(values)))))


def _segment(rng: random.Random, k: int, travel_table: bool) -> Segment:
    """A segment with one or two selectors and a few overrides (each README override appears in some)."""
    selectors: dict[str, Any] = {}
    for name in rng.sample(["goals", "tracks", "municipalities", "tags"], rng.choice([1, 1, 2])):
        selectors[name] = {"goals": lambda: _some(rng, [g for g in Goal if g is not Goal.UNSPECIFIED], 2),
                           "tracks": lambda: _some(rng, [t for t in Track if t is not Track.UNSPECIFIED], 2),
                           "municipalities": lambda: _some(rng, ["101", "147", "173"], 2),
                           "tags": lambda: _some(rng, SEGMENT_TAGS, 2)}[name]()
    overrides: dict[str, Any] = {}
    choices: dict[str, Any] = {
        "field_depth": lambda: rng.choice([0, 1, 2, 4]),
        "field_rule": lambda: rng.choice(list(FieldRule)),
        "min_language_level": lambda: rng.choice([1, 2, 4]),
        "min_mentor_years": lambda: rng.choice([0, 5, 10]),
        "programme_languages": lambda: _some(rng, ["da", "en", "ar"], 2),
        "online_meetings": lambda: rng.random() < 0.7,
        "personal_limits_extend": lambda: rng.random() < 0.7,
        "mutual_choice": lambda: rng.choice(list(MutualChoice)),
        "mentor_goals": lambda: _some(rng, [g for g in Goal if g is not Goal.UNSPECIFIED], 2),
        "max_travel_minutes": lambda: rng.choice([20.0, 50.0]),
    }
    for name, draw in choices.items():
        if rng.random() < (0.3 if name != "max_travel_minutes" or travel_table else 0.0):
            overrides[name] = draw()
    distance = rng.choice(["none", "none", "none", "km", "no_limit"])
    if distance == "km":
        overrides["max_distance_km"] = rng.choice([5.0, 20.0, 60.0])
    elif distance == "no_limit":
        overrides["no_distance_limit"] = True
    return Segment(f"S{k}", **selectors, **overrides)


def with_programme_rules(cohort: Cohort, rng: random.Random) -> Cohort:
    """Issue 15's rules on a campaign cohort: online flags, tags, organisations to avoid, occupations in field
    families, and the programme's online meetings, extending limits, programme languages, field rule (with its
    own families at times), mutual choice, seat cost and segments; each on in a part of the cohorts."""
    mentors = tuple(replace(m, online=rng.random() < 0.4,
                            occupations=m.occupations + ((rng.choice(FAMILY_FIELDS),) if rng.random() < 0.3 else ()))
                    for m in cohort.mentors)
    # Some personal limits longer than the programme's, which count only where limits extend.
    mentees = tuple(replace(e, max_travel_km=rng.choice([40.0, 90.0, 250.0]) if rng.random() < 0.35 else e.max_travel_km,
                            max_travel_minutes=rng.choice([50.0, 90.0]) if rng.random() < 0.2 else e.max_travel_minutes,
                            online=rng.random() < 0.4, tags=tuple(rng.sample(SEGMENT_TAGS, rng.randint(0, 2))),
                            avoid_organisations=_some(rng, ["O1", "O2", "O3"], 2) if rng.random() < 0.25 else (),
                            occupations=((rng.choice(FAMILY_FIELDS),) if rng.random() < 0.25 else e.occupations))
                    for e in cohort.mentees)
    rules = cohort.rules
    field_rule = FieldRule.FAMILY if rng.random() < 0.35 else FieldRule.PREFIX
    rules = replace(
        rules,
        online_meetings=rng.random() < 0.3,
        personal_limits_extend=rng.random() < 0.25,
        programme_languages=rng.choice([(), (), (), ("da", "en"), ("en",), ("en", "ar")]),
        field_rule=field_rule,
        field_families=OWN_FAMILIES if field_rule is FieldRule.FAMILY and rng.random() < 0.3 else (),
        mutual_choice=rng.choice([MutualChoice.NONE] * 4 + [m for m in MutualChoice if m is not MutualChoice.NONE]),
        extra_seat_cost=rng.choice([100, 100, 100, 0, 30, 150]),
        segments=tuple(_segment(rng, k, bool(rules.travel_times)) for k in range(rng.choice([0, 0, 1, 2, 3]))),
    )
    return replace(cohort, mentors=mentors, mentees=mentees, rules=rules)


# The engine's answer, from the library or from the CLI's JSON --------------------------------------------------


@dataclass(frozen=True)
class AnswerMatching:
    pairs: frozenset[Pair]
    parts: dict[str, Any]  # objective_parts as reported
    pair_scores: dict[Pair, int]
    status: str


@dataclass(frozen=True)
class Answer:
    status: str
    bound: int
    matchings: list[AnswerMatching]
    notes: list[str]
    min_difference: int
    candidate_pairs: frozenset[Pair] | None = None  # the engine's allowed pairs (library only)


@contextmanager
def _join_path(on: bool) -> Iterator[None]:
    """Candidate pairs by the grid join, as the engine builds them above 2,000,000 eligible pairs."""
    saved = candidates_module.CROSS_PRODUCT_LIMIT
    if on:
        candidates_module.CROSS_PRODUCT_LIMIT = 0
    try:
        yield
    finally:
        candidates_module.CROSS_PRODUCT_LIMIT = saved


def library_answer(case: Case) -> Answer:
    with _join_path(case.join_path):
        result = solve(case.cohort, case.options)
    scores = dict(zip(zip(result.candidates.mentee.tolist(), result.candidates.mentor.tolist(), strict=True),
                      result.candidates.score.tolist(), strict=True))
    cohort = result.candidates.cohort
    matchings = []
    for m in result.matchings:
        pairs = m.pairs(result.candidates)
        rows = zip(result.candidates.mentee[m.rows].tolist(), result.candidates.mentor[m.rows].tolist(), strict=True)
        matchings.append(AnswerMatching(
            frozenset(pairs), objective_dict(m.objective),
            {(cohort.mentees[a].id, cohort.mentors[b].id): int(scores[(a, b)]) for a, b in rows},
            m.status.value))
    candidates = frozenset((cohort.mentees[a].id, cohort.mentors[b].id) for a, b in scores)
    return Answer(result.status.value, result.bound, matchings, list(result.notes), result.stats.min_difference,
                  candidates)


def cli_answer(case: Case) -> Answer:
    """`mentormatch solve DIR --json` on the cohort written as a directory."""
    o = case.options
    with tempfile.TemporaryDirectory() as tmp:
        directory = write_cohort_dir(case.cohort, Path(tmp) / "cohort")
        command = [str(Path(sys.executable).parent / "mentormatch"), "solve", str(directory), "--json",
                   "--mode", o.mode.value, "-k", str(o.alternatives), "--time-limit", str(o.time_limit_s)]
        if o.min_difference is not None:
            command += ["--min-difference", str(o.min_difference)]
        if o.stable:
            command.append("--stable")
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-500:]}")
    data = json.loads(done.stdout)  # the MatchResponse in the protobuf JSON mapping (README, "In the JSON")

    def status(value: str) -> str:
        return value.removeprefix("SOLVE_STATUS_")

    return Answer(status(data["status"]), int(data.get("objective_bound", 0)), [
        AnswerMatching(frozenset((p["mentee_id"], p["mentor_id"]) for p in m["pairs"]), m["objective"],
                       {(p["mentee_id"], p["mentor_id"]): p["score"] for p in m["pairs"]}, status(m["status"]))
        for m in data["matchings"]], data["notes"], data["statistics"]["min_difference"])


# The comparison ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Disagreement:
    cause: str  # a short fixed label, to group by
    case: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.cause}] {self.case}: {self.detail}"


def compare(case: Case, answer: Answer, oracle: RulesOracle, via: str) -> list[Disagreement]:
    """Every way the engine's answer departs from the README's rules and objective."""
    o = case.options
    where = f"{case.describe()} via={via}"
    out: list[Disagreement] = []

    def say(cause: str, detail: str) -> None:
        out.append(Disagreement(cause, where, detail))

    if answer.candidate_pairs is not None and answer.candidate_pairs != set(oracle.pairs):
        # Everything after this is likely a consequence: say what differs first, to group by cause.
        missing, extra = set(oracle.pairs) - answer.candidate_pairs, answer.candidate_pairs - set(oracle.pairs)
        say("candidate pairs", f"allowed by the README but not candidates: {sorted(missing)}; "
                               f"candidates the README forbids: {sorted(extra)}")
    first = oracle.best(o.mode, stable=o.stable)
    if first is None:
        if answer.status != "INFEASIBLE" or answer.matchings:
            say("status", f"expected INFEASIBLE (no valid matching), got {answer.status} with "
                          f"{len(answer.matchings)} matching(s)")
        return out
    if answer.status != "OPTIMAL" or not answer.matchings:
        say("status", f"expected OPTIMAL with key {first.key} (e.g. {sorted(first.pairs)}), got {answer.status} "
                      f"with {len(answer.matchings)} matching(s); notes {answer.notes}")
        return out
    d = o.min_difference if o.min_difference is not None else default_min_difference(len(answer.matchings[0].pairs))
    if answer.min_difference != d:
        say("min_difference", f"expected D={d}, got {answer.min_difference}")
    previous: list[frozenset[Pair]] = []
    for k, m in enumerate(answer.matchings, start=1):
        broken = oracle.violations(m.pairs, stable=o.stable)
        if broken:
            say("invalid matching", f"matching {k} breaks rules: {broken}")
            return out
        expected = oracle.best(o.mode, stable=o.stable, differ_from=previous, min_difference=d) if previous else first
        got = oracle.key(m.pairs, o.mode)
        if expected is None:
            say("alternative that should not exist", f"matching {k} {sorted(m.pairs)}: no valid matching differs "
                                                      f"from the better ones in {d} pairs")
        elif got != expected.key:
            say(f"objective of matching {'1' if k == 1 else 'k>1'}",
                f"matching {k}: expected key {expected.key} (e.g. {sorted(expected.pairs)}), got {got} "
                f"({sorted(m.pairs)})")
        for prior in previous:
            if len(prior - m.pairs) < d:
                say("alternative too close", f"matching {k} keeps all but {len(prior - m.pairs)} pairs of a better one")
        if m.status != "OPTIMAL":
            say("status", f"matching {k} is {m.status}, expected OPTIMAL")
        wrong_scores = {p: (s, oracle.pairs[p].score) for p, s in m.pair_scores.items() if s != oracle.pairs[p].score}
        if wrong_scores:
            say("pair score", f"matching {k}: (engine, README) scores {wrong_scores}")
        parts = oracle.parts(m.pairs).as_json()
        if m.parts != parts:
            say("objective parts", f"matching {k}: reported {m.parts}, README gives {parts}")
        previous.append(m.pairs)
    if answer.bound != answer.matchings[0].parts["value"]:
        say("bound", f"OPTIMAL but bound {answer.bound} != best value {answer.matchings[0].parts['value']}")
    if len(answer.matchings) < o.alternatives:
        more = oracle.best(o.mode, stable=o.stable, differ_from=previous, min_difference=d)
        if more is not None:
            say("missing alternative", f"{len(answer.matchings)} of {o.alternatives} returned, but matching "
                                       f"{len(answer.matchings) + 1} exists: key {more.key} {sorted(more.pairs)}; "
                                       f"notes {answer.notes}")
        elif not answer.notes:
            say("missing note", f"{len(answer.matchings)} of {o.alternatives} returned with no note why")
    return out


def enumerable(case: Case, oracle: RulesOracle) -> bool:
    """Small enough to enumerate every matching (at most 7 x 7, and few options per mentee)."""
    cohort = case.cohort
    options = Counter(a for a, _ in oracle.pairs)
    return (len(cohort.mentees) <= 7 and len(cohort.mentors) <= 7
            and math.prod(options[a.id] + 1 for a in cohort.mentees) <= BRUTE_FORCE_LIMIT)


def check_oracle_by_brute_force(case: Case, oracle: RulesOracle) -> list[Disagreement]:
    """The CP-SAT oracle against enumeration: the same key for each matching of the brute-force sequence."""
    o = case.options
    expected = brute_force(case.cohort, o.mode, stable=o.stable, k=o.alternatives, min_difference=o.min_difference)
    d = o.min_difference if o.min_difference is not None else (
        default_min_difference(len(expected[0].pairs)) if expected else 1)
    out = []
    for k in range(min(len(expected) + 1, o.alternatives)):
        found = oracle.best(o.mode, stable=o.stable, differ_from=[s.pairs for s in expected[:k]], min_difference=d)
        want = expected[k].key if k < len(expected) else None
        if (found.key if found else None) != want:
            out.append(Disagreement("oracle vs brute force", case.describe(),
                                    f"matching {k + 1}: CP-SAT oracle {found.key if found else None}, brute force {want}"))
    return out


@dataclass
class Campaign:
    cohorts: int = 0
    modes: Counter[str] = field(default_factory=Counter)
    features: Counter[str] = field(default_factory=Counter)
    disagreements: list[Disagreement] = field(default_factory=list)
    brute_forced: int = 0
    via_cli: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        causes = Counter(d.cause for d in self.disagreements)
        bad = len({d.case.split(" ")[0] for d in self.disagreements})
        lines = [f"oracle campaign: {self.cohorts} cohorts in {self.seconds:.1f} s "
                 f"({self.via_cli} also via the CLI, {self.brute_forced} oracle checks by brute force)",
                 "modes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.modes.items())),
                 "features: " + ", ".join(f"{k} {v}" for k, v in sorted(self.features.items())),
                 f"disagreements: {len(self.disagreements)} in {bad} cohort(s)"
                 + ("".join(f"\n  {cause}: {n}" for cause, n in causes.most_common()))]
        return "\n".join(lines)


def run_case(case: Case, campaign: Campaign, *, cli: bool) -> list[Disagreement]:
    o, rules = case.options, case.cohort.rules
    campaign.cohorts += 1
    campaign.modes[o.mode.value + ("+stable" if o.stable else "")] += 1
    for name, present in (("pins", rules.pins), ("bans", rules.bans), ("org caps", rules.organisation_caps),
                          ("quotas", rules.gender_quotas), ("travel table", rules.travel_times),
                          ("rankings", case.cohort.rankings), ("alternatives", o.alternatives > 1),
                          ("antimeridian", case.region == "antimeridian"), ("join path", case.join_path),
                          ("segments", rules.segments), ("online meetings", rules.online_meetings or any(
                              s.online_meetings for s in rules.segments)),
                          ("extend", rules.personal_limits_extend), ("programme languages", rules.programme_languages),
                          ("family rule", rules.field_rule is FieldRule.FAMILY), ("own families", rules.field_families),
                          ("mutual choice", rules.mutual_choice is not MutualChoice.NONE),
                          ("avoid organisations", any(e.avoid_organisations for e in case.cohort.mentees)),
                          ("seat cost 0", rules.extra_seat_cost == 0),
                          ("seat cost not 100", rules.extra_seat_cost not in (0, 100)),
                          ("a mentor with 2+ seats", any(m.capacity >= 2 for m in case.cohort.mentors))):
        campaign.features[name] += bool(present)
    out: list[Disagreement] = []
    oracle = RulesOracle(case.cohort)
    problems = validate(case.cohort)
    if problems:
        out.append(Disagreement("validation refuses a valid cohort", case.describe(),
                                "; ".join(f"{p.path}: {p.message}" for p in problems)))
        return out
    if enumerable(case, oracle):
        campaign.brute_forced += 1
        out += check_oracle_by_brute_force(case, oracle)
    answers = [("library", library_answer)] + ([("cli", cli_answer)] if cli else [])
    for via, get in answers:
        try:
            answer = get(case)
        except Exception as error:  # an engine crash is a disagreement to report, not the end of the campaign
            out.append(Disagreement("engine error", f"{case.describe()} via={via}", f"{type(error).__name__}: {error}"))
            continue
        out += compare(case, answer, oracle, via)
    campaign.via_cli += cli
    return out


def run_campaign(seeds: range) -> Campaign:
    campaign = Campaign()
    started = time.monotonic()
    for seed in seeds:
        campaign.disagreements += run_case(campaign_case(seed), campaign, cli=seed % CLI_EVERY == 0)
    campaign.seconds = time.monotonic() - started
    return campaign


# The tests --------------------------------------------------------------------------------------------------


def test_the_oracle_enumerates_only_valid_matchings() -> None:
    """The brute force's own ground truth: every matching it lists meets every rule, and it lists the empty one."""
    case = campaign_case(4)
    oracle = RulesOracle(case.cohort)
    every = list(valid_matchings(case.cohort, oracle.pairs))
    assert every
    assert all(oracle.violations(m) == [] for m in every)
    if not case.cohort.rules.pins and not any(q.min_pairs for q in case.cohort.rules.gender_quotas):
        assert frozenset() in every


def test_the_campaign_mixes_every_mode_and_side_constraint() -> None:
    cases = [campaign_case(seed) for seed in range(QUICK_COHORTS)]
    assert {c.options.mode for c in cases} == set(ObjectiveMode)
    assert any(c.options.stable for c in cases) and any(c.cohort.rules.pins for c in cases)
    assert any(c.cohort.rules.travel_times for c in cases) and any(c.region == "antimeridian" for c in cases)
    assert any(c.cohort.rules.gender_quotas for c in cases) and any(c.cohort.rules.organisation_caps for c in cases)
    assert {m.capacity for c in cases for m in c.cohort.mentors} == {0, 1, 2, 3}
    assert any(c.options.alternatives > 1 for c in cases) and any(c.join_path for c in cases)
    programmes = [c.cohort.rules for c in cases]
    assert sum(bool(r.segments) for r in programmes) >= 5 and any(r.online_meetings for r in programmes)
    assert any(r.personal_limits_extend for r in programmes) and any(r.programme_languages for r in programmes)
    assert any(r.field_rule is FieldRule.FAMILY and r.field_families for r in programmes)
    assert any(r.field_rule is FieldRule.FAMILY and not r.field_families for r in programmes)
    assert {r.mutual_choice for r in programmes} == set(MutualChoice)
    assert {r.extra_seat_cost for r in programmes} >= {0, 100, 30}
    assert any(e.avoid_organisations for c in cases for e in c.cohort.mentees)
    assert any(e.tags and any(s.tags for s in c.cohort.rules.segments) for c in cases for e in c.cohort.mentees)


@pytest.mark.parametrize("seed", range(QUICK_COHORTS))
def test_quick_slice_agrees_with_the_oracle(seed: int) -> None:
    campaign = Campaign()
    found = run_case(campaign_case(seed), campaign, cli=seed % CLI_EVERY == 0)
    assert not found, "\n".join(map(str, found))


@pytest.mark.oracle
@pytest.mark.skipif(not os.environ.get("MENTORMATCH_ORACLE_COHORTS"),
                    reason="the full campaign runs with `make oracle` (MENTORMATCH_ORACLE_COHORTS)")
def test_full_campaign_agrees_with_the_oracle() -> None:
    campaign = run_campaign(range(FULL_COHORTS))
    print()
    for d in campaign.disagreements:
        print(d)
    print(campaign.summary())
    assert campaign.cohorts >= 300 or FULL_COHORTS < 300
    assert not campaign.disagreements, campaign.summary()


if __name__ == "__main__":
    # python -m tests.test_oracle_campaign [N | START END]: cohorts 0..N-1, or START..END-1 (one seed: 17 18).
    bounds = [int(x) for x in sys.argv[1:3]] or [FULL_COHORTS]
    report = run_campaign(range(*bounds))
    for item in report.disagreements:
        print(item)
    print(report.summary())
