"""The independent re-check of every matching before it leaves the engine: the README's rules, written once more.

Nothing here reads the solver's arrays or masks: each pair is checked from the cohort's plain domain objects
(haversine, ISCO prefixes, CEFR levels, eligibility, requests, bans), the whole matching against capacities,
pins, caps, quotas and stability, each pair's score is recomputed term by term, and the reported objective
from the pairs. A disagreement means an engine bug: `AnswerCheckFailed` is raised, and the caller reports an
internal error instead of a wrong answer. Its cost is linear in the matched pairs (and the rankings, with
`stable`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import repeat
from typing import Any

import numpy as np

from solver.data import builtin_field_families
from solver.domain import Cohort, FieldRule, Goal, Mentee, Mentor, MutualChoice, ObjectiveMode, Segment
from solver.errors import AnswerCheckFailed
from solver.model import Matching, mode_key
from solver.scores import CandidatePairs

_RADIUS_KM = 6371.0088
_NO_LIMIT = 50.0  # TRAVEL's scale, km or minutes, when there is no limit
_SLACK = 1e-9  # distances are real numbers: a different libm may differ in the last bits near a limit


def _km(mentee: Mentee, mentor: Mentor) -> float:
    p1, p2 = math.radians(mentee.lat), math.radians(mentor.lat)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(mentor.lon - mentee.lon) / 2) ** 2)
    return 2 * _RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, a))))


def _smaller(limit: float | None, own: float | None) -> float | None:
    """The smaller of two limits, either of which may be absent (None)."""
    return own if limit is None else limit if own is None else min(limit, own)


@dataclass(frozen=True, slots=True)
class _Her:
    """A mentee's per-pair rules (README: Her rules): her segment's overrides over the programme's."""

    field_depth: int
    field_rule: FieldRule
    max_distance_km: float | None
    max_travel_minutes: float | None
    min_language_level: int
    min_mentor_years: int
    programme_languages: tuple[str, ...]
    online_meetings: bool
    personal_limits_extend: bool
    mutual_choice: MutualChoice
    mentor_goals: tuple[Goal, ...]


_HER_KEYS = tuple(f.name for f in fields(_Her))


class _Rules:
    """The cohort's rules as the README states them, per pair."""

    def __init__(self, cohort: Cohort) -> None:
        self._checked: dict[tuple[str, str], tuple[list[str], int, int]] = {}
        self.cohort = cohort
        self.mentees = {p.id: p for p in cohort.mentees}
        self.mentors = {p.id: p for p in cohort.mentors}
        self.rules = rules = cohort.rules
        self.travel = {(t.mentee_id, t.mentor_id): t.minutes for t in rules.travel_times}
        self.bans = set(rules.bans)
        intake = rules.intake
        self.start = intake.start_date  # README, Availability
        self.met_before = set() if intake.allow_repeat_pairs else {  # README, Repeat: finished earlier rounds
            (h.mentee_id, h.mentor_id) for h in cohort.history if h.ended is not None}
        self.returning = {m.id for m in cohort.mentors if m.returning} | {h.mentor_id for h in cohort.history}
        self._families = rules.field_families  # empty: the built-in ones, read on a family rule's first use
        self._family_of_prefix: dict[str, set[str]] | None = None  # each prefix's families, made on first use
        self._priorities: dict[str, int] | None = None
        self.segments: dict[str, Segment | None] = {}
        self._her: dict[int, _Her] = {}  # by id() of her segment (None: the programme's rules)
        # Each ranking's best (lowest) rank, by (from, to). Ids are unique across both sides (README), so a
        # mentee's rank of a mentor is ranked[(mentee, mentor)] and his of her ranked[(mentor, mentee)]: one
        # comprehension without a side test per entry (the per-side views, for stability, are made on demand).
        self.ranked = ranked = {(r.from_id, r.to_id): r.rank for r in cohort.rankings}
        if len(ranked) < len(cohort.rankings):  # a pair ranked twice: its best
            for r in cohort.rankings:
                key = (r.from_id, r.to_id)
                ranked[key] = min(ranked[key], r.rank)

    @property
    def priorities(self) -> dict[str, int]:
        """Each mentee's priority, by id (README: Waiting priority), for every matching checked."""
        if self._priorities is None:
            self._priorities = dict(zip((m.id for m in self.cohort.mentees), self.cohort.priorities(), strict=True))
        return self._priorities

    def segment(self, mentee: Mentee) -> Segment | None:
        """Her segment: the first whose every given selector matches her (README: Segments); looked up once."""
        if mentee.id not in self.segments:
            self.segments[mentee.id] = self._first_segment(mentee)
        return self.segments[mentee.id]

    def _first_segment(self, mentee: Mentee) -> Segment | None:
        for segment in self.rules.segments:
            if ((not segment.goals or mentee.goal in segment.goals)
                    and (not segment.tracks or mentee.track in segment.tracks)
                    and (not segment.municipalities or mentee.municipality in segment.municipalities)
                    and (not segment.tags or bool(set(segment.tags) & set(mentee.tags)))):
                return segment
        return None

    def her(self, mentee: Mentee, key: str) -> Any:
        """Her rules' value of a per-pair rule: her segment's override, else the programme's (README: Her rules)."""
        if not self.rules.segments:  # everyone has the programme's rules
            return () if key == "mentor_goals" else getattr(self.rules, key)
        segment = self.segment(mentee)
        if segment is not None:
            if key == "max_distance_km" and segment.no_distance_limit:
                return None
            if key == "mentor_goals":
                return segment.mentor_goals
            if getattr(segment, key) is not None:
                return getattr(segment, key)
        return () if key == "mentor_goals" else getattr(self.rules, key)

    def her_rules(self, mentee: Mentee) -> _Her:
        """Every per-pair rule's value for her (`her`), read once per segment: they depend on her segment alone."""
        segment = self.segment(mentee) if self.rules.segments else None
        found = self._her.get(id(segment))
        if found is None:
            found = self._her[id(segment)] = _Her(**{key: self.her(mentee, key) for key in _HER_KEYS})
        return found

    def reach(self, mentee: Mentee, mentor: Mentor, her: _Her | None = None) -> tuple[float, float | None] | None:
        """(distance travelled, the mentee's limit) in km or, with a travel-time table, minutes; None: no route."""
        her = her or self.her_rules(mentee)
        extend = her.personal_limits_extend
        if self.rules.travel_times:
            minutes = self.travel.get((mentee.id, mentor.id))
            if minutes is None:
                return None
            own = mentee.max_travel_minutes
            return minutes, own if extend and own is not None else _smaller(her.max_travel_minutes, own)
        own_km = mentee.max_travel_km
        return _km(mentee, mentor), (own_km if extend and own_km is not None
                                     else _smaller(her.max_distance_km, own_km))

    def online(self, mentee: Mentee, mentor: Mentor, her: _Her | None = None) -> bool:
        """Both accept online meetings and her rules allow them: distance does not bind."""
        return bool((her or self.her_rules(mentee)).online_meetings and mentee.online and mentor.online)

    def families(self, occupations: tuple[str, ...]) -> set[str]:
        """The families one of the occupations belongs to: a code starts with one of a family's prefixes."""
        if self._family_of_prefix is None:
            # Each prefix's families, once: a code's families are then those of its leading parts, a few lookups a
            # code instead of one `startswith` per code and prefix (100 codes x 2,000 prefixes took ~20 ms a person).
            self._family_of_prefix = {}
            for family in self._families or builtin_field_families():
                for prefix in family.prefixes:
                    self._family_of_prefix.setdefault(prefix, set()).add(family.id)
        found: set[str] = set()
        for code in occupations:
            for length in range(len(code) + 1):  # "" too: an empty prefix starts every code
                found |= self._family_of_prefix.get(code[:length], set())
        return found

    @staticmethod
    def shared_digits(mentee: Mentee, mentor: Mentor) -> int:
        """The most leading digits in which any occupation of the mentee agrees with any of the mentor (0 unless
        both are four-digit ISCO codes): for long lists the longest prefix both sides' codes have, by sets of
        prefixes (one comparison per pair of codes took ~10 ms a pair at 100 codes each); for a few codes each, code
        by code."""
        if len(mentee.occupations) * len(mentor.occupations) > 16:
            hers = {a for a in mentee.occupations if len(a) == 4 and a.isdigit()}
            his = {b for b in mentor.occupations if len(b) == 4 and b.isdigit()}
            for k in (4, 3, 2, 1):
                if {a[:k] for a in hers} & {b[:k] for b in his}:
                    return k
            return 0
        best = 0  # a few codes each (most people): code by code, cheaper than the sets
        for a in mentee.occupations:
            if len(a) != 4:
                continue
            for b in mentor.occupations:
                if len(b) == 4 and a[0] == b[0]:
                    k = 1
                    while k < 4 and a[k] == b[k]:
                        k += 1
                    if k > best and a.isdigit() and b.isdigit():
                        best = k
        return best

    def check_pair(self, mentee: Mentee, mentor: Mentor) -> tuple[list[str], int, int]:
        """The hard rules the pair breaks (README order), and its score as the lowest and highest a last-bit
        difference in the distance could make it. Each pair is checked once: alternatives share most pairs."""
        key = (mentee.id, mentor.id)
        found = self._checked.get(key)
        if found is None:
            found = self._checked[key] = self._check_pair(mentee, mentor)
        return found

    def _check_pair(self, mentee: Mentee, mentor: Mentor) -> tuple[list[str], int, int]:
        rules, out = self.rules, []
        her = self.her_rules(mentee)
        key = (mentee.id, mentor.id)
        digits = self.shared_digits(mentee, mentor)
        reach = self.reach(mentee, mentor, her)
        if rules.eligible_municipalities and mentee.municipality not in rules.eligible_municipalities:
            out.append("municipality not eligible")
        if rules.eligible_tracks and mentee.track not in rules.eligible_tracks:
            out.append("track not eligible")
        if mentor.years_experience < her.min_mentor_years:
            out.append("mentor years")
        depth = her.field_depth
        if depth > 0 and digits < depth and not (
                her.field_rule is FieldRule.FAMILY
                and self.families(mentee.occupations) & self.families(mentor.occupations)):
            out.append("field")
        if her.online_meetings and mentee.online and mentor.online:
            pass  # an online pair is not bound by distance and needs no travel-time row (`online`)
        elif reach is None:
            out.append("no travel-time entry")
        elif reach[1] is not None and reach[0] > reach[1] * (1 + _SLACK) + _SLACK:
            out.append(f"distance {reach[0]:.3f} over the limit {reach[1]}")
        if not _common_language(mentee, mentor, her.min_language_level, her.programme_languages):
            out.append("no common language")
        if rules.gender_requests_hard and mentee.requested_mentor_gender and \
                mentor.gender != mentee.requested_mentor_gender:
            out.append("gender request")
        wanted = her.mentor_goals
        if wanted and mentor.goals and not set(wanted) & set(mentor.goals):
            out.append("mentor goals")
        ranked = self.ranked
        by_mentee = ranked.get(key) if ranked else None  # no rankings (most programmes): no key to make
        by_mentor = ranked.get((mentor.id, mentee.id)) if ranked else None
        choice = her.mutual_choice
        if choice is not MutualChoice.NONE and not {
                MutualChoice.MENTEE: by_mentee is not None, MutualChoice.MENTOR: by_mentor is not None,
                MutualChoice.EITHER: by_mentee is not None or by_mentor is not None,
                MutualChoice.BOTH: by_mentee is not None and by_mentor is not None}[choice]:
            out.append("mutual choice")
        if mentor.organisation and mentor.organisation in mentee.avoid_organisations:
            out.append("conflict of interest")
        if self.start is not None and ((mentor.available_from is not None and mentor.available_from > self.start)
                                       or (mentor.available_until is not None and mentor.available_until < self.start)):
            out.append("mentor not available at the intake's start")
        if key in self.met_before:
            out.append("paired in an earlier round")
        if key in self.bans:
            out.append("banned")
        low, high = self._score_range(mentee, mentor, digits, reach, her, by_mentee, by_mentor)
        return out, low, high

    def allowed(self, mentee: Mentee, mentor: Mentor) -> bool:
        return not self.check_pair(mentee, mentor)[0]

    def _score_range(self, mentee: Mentee, mentor: Mentor, digits: int, reach: tuple[float, float | None] | None,
                     her: _Her, a: int | None, b: int | None) -> tuple[int, int]:
        """The pair's score, term by term (README: Scores); `a`, `b`: the mentee's and the mentor's rank of the
        other (None: not ranked)."""
        weights, depth = self.rules.weights, her.field_depth
        fixed = 0
        if a and b:
            fixed += weights.mutual_rank * max(20, 100 - 10 * (a + b - 2))
        if a:
            fixed += weights.mentee_rank * max(10, 100 - 20 * (a - 1))
        if b:
            fixed += weights.mentor_rank * max(10, 100 - 20 * (b - 1))
        if mentee.interests and mentor.interests:
            fixed += weights.interests * min(100, 34 * len(set(mentee.interests).intersection(mentor.interests)))
        if depth < 4:
            fixed += weights.field * (100 * max(0, digits - depth) // (4 - depth))
        if mentee.goal:
            fixed += weights.goal * (100 if mentee.goal in mentor.goals else 50 if not mentor.goals else 0)
        if mentee.country_of_origin and mentee.country_of_origin in mentor.markets:
            fixed += weights.home_market * 100
        first = mentee.first_language
        if first:
            for lang in mentor.languages:
                if lang.code == first:
                    fixed += weights.first_language * 100
                    break
        fixed += weights.seniority * ((50 if mentor.leadership else 0) + 2 * min(mentor.years_experience, 25))
        if mentor.id in self.returning:
            fixed += weights.returning * 100
        if reach is None:
            return fixed, fixed
        travelled, limit = reach
        scale = limit if limit is not None and limit > 0 else _NO_LIMIT
        # The travel points at the farthest and the nearest a last-bit difference could put her; beyond her limit
        # (an online pair): no travel points.
        far, near = travelled * (1 + _SLACK) + _SLACK, travelled * (1 - _SLACK) - _SLACK
        low = 0 if limit is not None and far > limit else _whole_percent(100.0 * (1.0 - far / scale))
        near = near if near > 0.0 else 0.0
        high = 0 if limit is not None and near > limit else _whole_percent(100.0 * (1.0 - near / scale))
        return fixed + weights.travel * low, fixed + weights.travel * high


def _whole_percent(points: float) -> int:
    """Points rounded down, then clipped to 0..100 (clipped first: the floor of a number outside 0..100 lies
    outside too, so one comparison each way and the floor only inside)."""
    return 0 if points <= 0.0 else 100 if points >= 100.0 else math.floor(points)


def _common_language(mentee: Mentee, mentor: Mentor, level: int, only: tuple[str, ...]) -> bool:
    """A language both speak at `level` or better, one of the programme's `only` if it names any."""
    for lang in mentee.languages:
        if lang.level >= level and (not only or lang.code in only):
            code = lang.code
            for theirs in mentor.languages:
                if theirs.code == code and theirs.level >= level:
                    return True
    return False


def verify_matchings(candidates: CandidatePairs, matchings: Sequence[Matching], mode: ObjectiveMode, *,
                     stable: bool, min_difference: int, scores: bool = True, checker: AnswerChecker | None = None
                     ) -> None:
    """Raise `AnswerCheckFailed` unless every matching keeps every rule and reports its own objective.

    Also: each alternative differs from every better one in at least `min_difference` of its pairs, and the
    matchings come best first. `scores` False: the candidates carry weights of the caller's own (re-matching's
    penalties), so pair scores, the objective and the order are the caller's to check. `checker`: one made
    for these candidates earlier (its pairs checked already are not checked again).
    """
    rules = (checker or AnswerChecker(candidates)).rules
    failures: list[str] = []
    pair_sets: list[set[tuple[str, str]]] = []
    big = _big(candidates) if matchings and scores else 0
    mentees, mentors = candidates.cohort.mentees, candidates.cohort.mentors
    mentee, mentor, score = candidates.mentee, candidates.mentor, candidates.score
    for matching in matchings:
        # The matching's pairs by id (`Matching.pairs`) and their reported scores, its rows read as Python ints at once.
        rows = matching.rows
        pairs = [(mentees[a].id, mentors[b].id) for a, b in
                 zip(mentee[rows].tolist(), mentor[rows].tolist(), strict=True)]
        chosen = set(pairs)
        pair_sets.append(chosen)
        failures += [f"matching {matching.rank}: {f}" for f in
                     _check(rules, pairs, chosen, score[rows].tolist(), matching, stable, big, scores)]
    for k, later in enumerate(pair_sets[1:], start=1):
        for j in range(k):
            dropped = len(pair_sets[j] - later)
            if dropped < min_difference:
                failures.append(f"matching {k + 1} drops only {dropped} of matching {j + 1}'s pairs "
                                f"(at least {min_difference} required)")
        if scores and mode_key(matchings[k].objective, mode) > mode_key(matchings[k - 1].objective, mode):
            failures.append(f"matching {k + 1} is better than matching {k} in the {mode.value} order")
    if failures:
        raise AnswerCheckFailed(failures)


def _check(rules: _Rules, pairs: list[tuple[str, str]], chosen: set[tuple[str, str]], reported: list[int],
           matching: Matching, stable: bool, big: int, check_scores: bool) -> list[str]:
    """What one matching (its `pairs`, their set `chosen` and their `reported` scores, in its rows' order) breaks."""
    cohort = rules.cohort
    mentees, mentors = rules.mentees, rules.mentors
    checked, check_pair = rules._checked, rules.check_pair
    load: dict[str, int] = {}  # pairs per mentor
    seen: dict[str, int] = {}  # pairs per mentee
    seats = 0  # the pairs beyond each mentor's first: sum of n (n - 1) / 2 over the mentors' n pairs
    total, worst = 0, None
    pair_out: list[str] = []
    for pair, score in zip(pairs, reported, strict=True):
        a, b = pair
        seen[a] = seen.get(a, 0) + 1
        taken = load.get(b, 0)
        load[b] = taken + 1
        seats += taken
        broken, low, high = checked.get(pair) or check_pair(mentees[a], mentors[b])
        if broken:
            pair_out.append(f"pair {a}-{b} breaks: {', '.join(broken)}")
        if check_scores and not low <= score <= high:
            pair_out.append(f"pair {a}-{b} scores {score}, the rules give {low}" + (f"..{high}" if high != low else ""))
        total += score
        if worst is None or score < worst:
            worst = score
    out = [f"mentee {a} has {n} mentors" for a, n in seen.items() if n > 1]
    out += [f"mentor {b} takes {n}, capacity {max(mentors[b].capacity, 0)}" for b, n in load.items()
            if n > mentors[b].capacity]  # n >= 1: over a negative capacity as over 0
    out += [f"pinned pair {a}-{b} is missing" for a, b in cohort.rules.pins if (a, b) not in chosen]
    for organisation, cap in cohort.rules.organisation_caps:
        taken = sum(1 for _, b in pairs if mentors[b].organisation == organisation)
        if taken > cap:
            out.append(f"organisation {organisation} takes {taken}, cap {cap}")
    for quota in cohort.rules.gender_quotas:
        taken = sum(1 for _, b in pairs if mentors[b].gender == quota.gender)
        if taken < quota.min_pairs or (quota.max_pairs is not None and taken > quota.max_pairs):
            out.append(f"gender quota {quota.gender}: {taken} pairs, allowed {quota.min_pairs}..{quota.max_pairs}")
    out += pair_out
    if not check_scores:
        return out + ([f"blocking pair {a}-{b}" for a, b in _blocking(rules, pairs, mentees, mentors)] if stable else [])
    objective = matching.objective
    profile_len = len(objective.rank_profile)
    ranked, priorities = rules.ranked, rules.priorities  # ranked[pair]: the mentee's rank of her mentor
    ranks: dict[int | None, int] = {}  # pairs by the mentee's rank of her mentor (None: not ranked)
    matched_priority = 0
    for pair in pairs:
        rank = ranked.get(pair)
        ranks[rank] = ranks.get(rank, 0) + 1
        matched_priority += priorities[pair[0]]
    seat_cost = max(cohort.rules.extra_seat_cost, 0) * seats
    expected: dict[str, object] = {
        "matched": len(pairs),
        "matched_priority": matched_priority,
        "total_score": total,
        "worst_score": 0 if worst is None else worst,
        "rank_profile": tuple(ranks.get(r, 0) for r in range(1, profile_len + 1)),
        "seat_cost": seat_cost,
    }
    for name, value in expected.items():
        if getattr(objective, name) != value:
            out.append(f"{name} is reported as {getattr(objective, name)}, the pairs give {value}")
    if any(r is not None and r > profile_len for r in ranks):
        out.append("a pair's rank lies beyond the reported rank profile")
    if objective.value != big * matched_priority + total - seat_cost:
        out.append("the objective value is not big x matched priority + total score - seat costs")
    if stable:
        out += [f"blocking pair {a}-{b}" for a, b in _blocking(rules, pairs, mentees, mentors)]
    return out


def _big(candidates: CandidatePairs) -> int:
    """The `big` the value was computed with: 1 + the sum of each mentee's best allowed score + the most the seats
    can cost (README: Objective)."""
    cohort = candidates.cohort
    best = np.zeros(len(cohort.mentees), dtype=np.int64)
    np.maximum.at(best, candidates.mentee, candidates.score)
    cost = max(cohort.rules.extra_seat_cost, 0)
    if not cost:
        return int(best.sum()) + 1
    # Each mentor's most pairs: his capacity, the mentees, his candidate pairs; two or more cost seats.
    pairs = np.bincount(candidates.mentor, minlength=len(cohort.mentors)).tolist()
    most = map(min, [p.capacity for p in cohort.mentors], repeat(len(cohort.mentees)), pairs)
    return int(best.sum()) + 1 + cost * sum(k * (k - 1) // 2 for k in most if k > 1)


def _blocking(rules: _Rules, pairs: list[tuple[str, str]], mentees: dict[str, Mentee], mentors: dict[str, Mentor]
              ) -> list[tuple[str, str]]:
    """Blocking pairs as docs/explanations.md defines them, from the rankings alone."""
    ranked = rules.ranked  # a mentee's rank of a mentor: ranked[(mentee, mentor)]; his of her: ranked[(mentor, mentee)]
    partner = dict(pairs)
    assigned: dict[str, list[str]] = {}
    for a, b in pairs:
        assigned.setdefault(b, []).append(a)
    out = []
    for (a, b), mentee_rank in sorted(ranked.items()):
        if a not in mentees:
            continue  # a mentor's ranking
        mentor_rank = ranked.get((b, a))
        if mentor_rank is None or b not in mentors or partner.get(a) == b:
            continue
        capacity = max(mentors[b].capacity, 0)
        if capacity == 0 or not rules.allowed(mentees[a], mentors[b]):
            continue
        current = partner.get(a)
        current_rank = ranked.get((a, current)) if current is not None else None
        if current is not None and current_rank is not None and current_rank <= mentee_rank:
            continue  # she does not strictly prefer b
        taken = assigned.get(b, [])
        if len(taken) >= capacity:
            worst = max((ranked.get((b, x), math.inf) for x in taken), default=math.inf)
            if worst <= mentor_rank:
                continue  # b does not strictly prefer her to his worst mentee
        out.append((a, b))
    return out


class AnswerChecker:
    """The rules of one cohort, remembering the pairs it has checked: a solve checks its best matching as soon as
    it has it, and at the end only what the alternatives add (so a stop does not wait for the whole check)."""

    def __init__(self, candidates: CandidatePairs) -> None:
        self.candidates = candidates
        self.rules = _Rules(candidates.cohort)

    def check_pairs(self, matching: Matching) -> None:
        """Check the matching's pairs against the hard rules ahead of `verify_matchings` (which reports)."""
        cohort = self.candidates.cohort
        for a, b in zip(self.candidates.mentee[matching.rows].tolist(), self.candidates.mentor[matching.rows].tolist(),
                        strict=True):
            self.rules.check_pair(cohort.mentees[a], cohort.mentors[b])
