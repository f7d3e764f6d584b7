"""The five bundled scenarios, each modelled on a real Danish mentoring programme."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from functools import cache

from scenarios import geography as geo
from scenarios.shaping import (
    allowed_mentors,
    district,
    ineligible,
    limit_travel,
    max_matching_size,
    mentee_by_id,
    move_far,
    near_town,
    outside_programme_languages,
    pick_outliers,
    pins_and_bans,
    speaking,
    with_mentee,
    without_field,
    without_language,
)
from scenarios.synthetic import MenteeProfile, MentorProfile, Weighted, generate_cohort
from solver.domain import Cohort, FieldRule, GenderQuota, Goal, Mentee, Mentor, Rules, Segment, Track, Weights


def lyngby_career(seed: int = 2015) -> Cohort:
    """Career Mentoring Programme, Lyngby-Taarbæk: 15 + 15 spouses and local mentors, speed-dating rankings."""
    mentees = MenteeProfile(
        fields=(("business", 0.22), ("engineering", 0.18), ("it", 0.16), ("science", 0.14), ("health", 0.08),
                ("teaching", 0.08), ("social", 0.07), ("culture", 0.07)),
        tracks=((Track.SPOUSE, 1.0),),
        goals=((Goal.JOB, 0.65), (Goal.EDUCATION, 0.15), (Goal.OWN_BUSINESS, 0.12), (Goal.SOCIAL_NETWORK, 0.08)),
        genders=(("f", 0.8), ("m", 0.2)),
        requested_gender_share=0.07,
        english=((4, 0.25), (5, 0.45), (6, 0.3)),
        danish=((0, 0.3), (1, 0.35), (2, 0.25), (3, 0.1)),
        personal_limit_share=0.0,
    )
    mentors = MentorProfile(
        sites=(("dtu_lyngby", 4.0), ("lyngby_taarbaek_kommune", 3.0), ("cowi_lyngby", 2.0),
               ("microsoft_lyngby", 2.0), ("hempel_lyngby", 1.5), ("novo_bagsvaerd", 2.5)),
        fields_by_organisation=(
            ("DTU", (("science", 0.4), ("engineering", 0.4), ("it", 0.2))),
            ("Lyngby-Taarbæk Kommune", (("business", 0.4), ("social", 0.3), ("teaching", 0.2), ("health", 0.1))),
            ("COWI", (("engineering", 0.7), ("architecture", 0.2), ("business", 0.1))),
            ("Microsoft Danmark", (("it", 0.7), ("business", 0.3))),
            ("Hempel", (("engineering", 0.5), ("science", 0.3), ("business", 0.2))),
            ("Novo Nordisk", (("science", 0.4), ("business", 0.25), ("health", 0.2), ("engineering", 0.15))),
        ),
        english=((4, 0.3), (5, 0.55), (6, 0.15)),
        proportional=True,
        capacity_two_share=0.0,  # one mentee each: the programme pairs 15 with 15
        returning_share=0.5,  # "many mentors come back for more cohorts"
    )
    rules = Rules(
        max_distance_km=15.0, field_depth=1, min_language_level=4, eligible_municipalities=("173",),
        eligible_tracks=(Track.SPOUSE,),
        weights=Weights(mutual_rank=4, mentee_rank=3, mentor_rank=2, returning=2),
    )
    cohort = generate_cohort(seed=seed, n_mentees=15, n_mentors=15, towns=(("lyngby", 1.0),), mentees=mentees,
                             mentors=mentors, rules=rules, rankings=True, name="lyngby_career")
    rng = random.Random(seed + 1)  # a second stream: shaping the scenario never shifts the base cohort
    taken: set[str] = set()
    far, mute = pick_outliers(rng, cohort, 2, taken)
    cohort = limit_travel(cohort, far, [district("lyngby", "Taarbæk")])
    cohort = without_language(cohort, mute, ("ja", "ko", "vi"), english=3, danish=1)
    return pins_and_bans(rng, cohort, 1, 1, taken, prefer_ranked=True)


# The International Business Mentoring Programme: who its spouses and mentors are, and its rules.

_IBMP_MENTEES = MenteeProfile(
    fields=(("business", 0.24), ("it", 0.14), ("engineering", 0.12), ("science", 0.08), ("health", 0.08),
            ("teaching", 0.07), ("social", 0.09), ("culture", 0.07), ("law", 0.05), ("architecture", 0.04),
            ("business_assoc", 0.02)),
    tracks=((Track.SPOUSE, 1.0),),
    genders=(("f", 0.78), ("m", 0.2), ("x", 0.02)),
    goals=((Goal.JOB, 0.7), (Goal.OWN_BUSINESS, 0.12), (Goal.EDUCATION, 0.1), (Goal.SOCIAL_NETWORK, 0.08)),
    english=((4, 0.2), (5, 0.45), (6, 0.35)),
    danish=((0, 0.25), (1, 0.3), (2, 0.25), (3, 0.15), (4, 0.05)),
    requested_gender_share=0.06,
    personal_limit_share=0.06,
    personal_limit_km=(5, 10),
)
_IBMP_MENTORS = MentorProfile(
    sites=(("maersk_cph", 6.0), ("carlsberg_valby", 5.0), ("danske_bank_cph", 6.0), ("nordea_oerestad", 5.0),
           ("ramboll_oerestad", 6.0), ("kk_raadhus", 6.0), ("frb_raadhus", 3.0), ("rigshospitalet", 4.0),
           ("novo_bagsvaerd", 4.0), ("cph_airport", 2.0)),
    site_share=0.6,
    organisations=(("Consultancy SME", 3.0), ("Tech start-up", 3.0), ("Law firm", 2.0),
                   ("Architecture studio", 1.5), ("Media house", 1.5), ("NGO", 1.5), ("School", 1.5)),
    fields_by_organisation=(
        ("A.P. Moller - Maersk", (("business", 0.5), ("it", 0.3), ("engineering", 0.2))),
        ("Carlsberg", (("business", 0.5), ("engineering", 0.3), ("science", 0.2))),
        ("Danske Bank", (("business", 0.6), ("it", 0.4))),
        ("Nordea", (("business", 0.6), ("it", 0.3), ("law", 0.1))),
        ("Ramboll", (("engineering", 0.6), ("architecture", 0.25), ("science", 0.15))),
        ("Københavns Kommune", (("social", 0.3), ("business", 0.3), ("teaching", 0.2), ("law", 0.1),
                                ("health", 0.1))),
        ("Frederiksberg Kommune", (("social", 0.3), ("business", 0.3), ("teaching", 0.3), ("law", 0.1))),
        ("Rigshospitalet", (("health", 0.8), ("science", 0.1), ("it", 0.1))),
        ("Novo Nordisk", (("science", 0.4), ("business", 0.25), ("health", 0.2), ("engineering", 0.15))),
        ("Copenhagen Airport", (("business", 0.4), ("engineering", 0.3), ("it", 0.3))),
        ("Consultancy SME", (("business", 0.7), ("social", 0.3))),
        ("Tech start-up", (("it", 0.8), ("business", 0.2))),
        ("Law firm", (("law", 1.0),)),
        ("Architecture studio", (("architecture", 1.0),)),
        ("Media house", (("culture", 0.8), ("business", 0.2))),
        ("NGO", (("social", 0.6), ("teaching", 0.2), ("culture", 0.2))),
        ("School", (("teaching", 1.0),)),
    ),
    english=((4, 0.25), (5, 0.55), (6, 0.2)),
    capacity_two_share=0.15,
    leadership_share=0.4,
    returning_share=0.2,
)
_IBMP_RULES = Rules(
    max_distance_km=15.0, field_depth=2, min_language_level=4, eligible_municipalities=("101", "147"),
    eligible_tracks=(Track.SPOUSE,), weights=Weights(interests=2, field=2),
)
_IBMP_HOMES = (("copenhagen", 0.82), ("frederiksberg", 0.18))
_IBMP_WORKPLACES = (("copenhagen", 0.85), ("frederiksberg", 0.15))


def copenhagen_business(seed: int = 2016) -> Cohort:
    """The International Business Mentoring Programme's year pooled into one cohort of 80 + 80 (the size reference
    of the benchmarks and the speed-dating planner); the programme's own intakes are `ibmp_intake`."""
    cohort = generate_cohort(seed=seed, n_mentees=80, n_mentors=80, towns=_IBMP_HOMES, mentor_towns=_IBMP_WORKPLACES,
                             mentees=_IBMP_MENTEES, mentors=_IBMP_MENTORS, rules=_IBMP_RULES,
                             name="copenhagen_business")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    # No "too far" outlier here: offices are so dense in Copenhagen that nobody is out of reach.
    hellerup, soeborg, fieldless, mute = pick_outliers(rng, cohort, 4, taken)
    cohort = ineligible(cohort, hellerup, place=district("gentofte", "Hellerup"))
    cohort = ineligible(cohort, soeborg, place=district("gladsaxe", "Søborg"))
    cohort = without_field(cohort, fieldless, ("1411", "3435", "2250"))
    cohort = without_language(cohort, mute, ("ko", "ja", "vi"), english=3, danish=0)
    # Two mentees left unmatched in the previous round come first this time.
    for mentee_id in pick_outliers(rng, cohort, 2, taken):
        cohort = with_mentee(cohort, replace(mentee_by_id(cohort, mentee_id), priority=2))
    return pins_and_bans(rng, cohort, 2, 2, taken)




IBMP_INTAKES = ("ibmp_2026_q1", "ibmp_2026_q2", "ibmp_2026_q3", "ibmp_2026_q4")
_IBMP_RETURNING = (0, 6, 7, 8)  # mentors of an earlier intake who come back (the seed: many do)
_IBMP_EMPLOYERS = ("A.P. Moller - Maersk", "Carlsberg", "Copenhagen Airport", "Danske Bank", "Nordea",
                   "Novo Nordisk", "Ramboll", "Rigshospitalet")
"""The large employers of international staff that also send mentors: a spouse's employer is a conflict."""
_IBMP_RARE_FIELDS = (("1411", "Hotel group"), ("3435", "Media house"), ("5120", "Restaurant"))
"""Fields a spouse may come from that an intake's mentors may lack, with the kind of place a mentor in it works."""


@cache
def ibmp_year(seed: int = 2026) -> tuple[Cohort, ...]:
    """The International Business Mentoring Programme's year as its four intakes of about 20 + 20 (the seed: 160
    participants on four teams).

    Mentors are recruited for each intake from the programme's network: first one in the field of each mentee
    who has none yet, then others. A mentor of an earlier intake may come back (`returning`). One mentee of each
    intake seeks a field none of its mentors works in; she waits for the next intake, where she comes first
    (priority 2). A quarter of the spouses' partners work for a large employer that also sends mentors: its
    mentors are a conflict of interest for her (`avoid_organisations`).
    """
    pool = generate_cohort(seed=seed, n_mentees=80, n_mentors=200, towns=_IBMP_HOMES, mentor_towns=_IBMP_WORKPLACES,
                           mentees=_IBMP_MENTEES, mentors=_IBMP_MENTORS, rules=_IBMP_RULES, name="ibmp_2026")
    rng = random.Random(seed + 1)
    mentees = [replace(m, avoid_organisations=(rng.choice(_IBMP_EMPLOYERS),)) if rng.random() < 0.25 else m
               for m in pool.mentees]
    network = list(pool.mentors)  # not yet recruited
    recruited: list[Mentor] = []  # every mentor of the earlier intakes, renumbered in the order recruited
    waiting: list[Mentee] = []  # the mentee the last intake could not match: first in this one
    out = []
    for quarter, name in enumerate(IBMP_INTAKES):
        back = sorted(rng.sample(recruited, _IBMP_RETURNING[quarter]), key=lambda m: m.id)
        group = mentees[20 * quarter:20 * quarter + 20]
        last = quarter == len(IBMP_INTAKES) - 1
        # The first new mentee of all but the last intake is the one who will wait.
        covered = [replace(m, priority=2) for m in waiting] + (group if last else group[1:])
        new = _recruit(network, back, covered, 20 - len(back))
        network = [m for m in network if m not in new]
        new = [replace(m, id=f"M{len(recruited) + k + 1:04d}") for k, m in enumerate(new)]
        if not last:
            # Her field: one no mentor of this intake works in; the network finds a mentor in it for the next.
            present = {code[:2] for m in (*back, *new) for code in m.occupations}
            code, organisation = next(x for x in _IBMP_RARE_FIELDS if x[0][:2] not in present)
            group = [replace(group[0], occupations=(code,)), *group[1:]]
            network = [replace(network[0], occupations=(code,), organisation=organisation), *network[1:]]
        cohort = Cohort(mentors=tuple([replace(m, returning=True) for m in back] + new),
                        mentees=tuple([replace(m, priority=2) for m in waiting] + group), rules=_IBMP_RULES,
                        name=name).canonical()
        taken = {m.id for m in waiting} | {group[0].id}
        # An outlier with one clear reason, among the mentees who have a mentor in reach and field.
        allowed = allowed_mentors(cohort)
        stranded = {cohort.mentees[i].id for i, row in enumerate(allowed) if not row}
        outlier = pick_outliers(rng, cohort, 1, taken | stranded)[0]
        taken.add(outlier)
        if quarter == 0:
            cohort = ineligible(cohort, outlier, place=district("gentofte", "Hellerup"))
        elif quarter == 2:
            cohort = without_language(cohort, outlier, ("ko", "ja", "vi"), english=3, danish=0)
        cohort = pins_and_bans(rng, cohort, 1 if quarter == 0 else 0, 1, taken)
        out.append(cohort)
        waiting = [] if last else [group[0]]
        recruited += new
    return tuple(out)


def _recruit(network: list[Mentor], back: list[Mentor], mentees: list[Mentee], count: int) -> list[Mentor]:
    """`count` mentors from the network, in its order: for each mentee in turn, one in her ISCO sub-major group
    while her group has fewer mentors (returning ones included) than mentees so far; then the next ones."""
    chosen: list[Mentor] = []
    seen: dict[str, int] = {}
    for mentee in mentees:
        fields = {code[:2] for code in mentee.occupations}
        for group in fields:
            seen[group] = seen.get(group, 0) + 1
        have = sum(1 for m in (*back, *chosen) if fields & {code[:2] for code in m.occupations})
        if len(chosen) < count and have < max(seen[g] for g in fields):
            found = next((m for m in network if m not in chosen and any(c[:2] in fields for c in m.occupations)), None)
            if found is not None:
                chosen.append(found)
    return chosen + [m for m in network if m not in chosen][:count - len(chosen)]


def ibmp_intake(quarter: int) -> Callable[[], Cohort]:
    """A builder of one intake of the IBMP year (1..4)."""
    def build() -> Cohort:
        return ibmp_year()[quarter - 1]

    build.__name__ = IBMP_INTAKES[quarter - 1]
    return build


def ibm_refugees(seed: int = 2017) -> Cohort:
    """IBM business mentors with Foreningen Nydansker: 25 refugees near IBM's Lyngby and Brøndby sites.

    The seed: refugees with higher education or relevant experience who speak English or Danish; IBM employees
    with at least five years of experience, preferably leaders; matched by profile and a home near an IBM site.
    ISCO major groups are skill levels, so the field is shared at two digits or within an ISCO-08 field family
    (an ICT manager, professional and technician work in one field); a mentee who wants her own business (the
    seed's butcher) needs no shared field.
    """
    mentees = MenteeProfile(
        fields=(("it", 0.25), ("engineering", 0.2), ("business", 0.2), ("science", 0.1), ("ict_tech", 0.08),
                ("health", 0.07), ("teaching", 0.05), ("architecture", 0.05)),
        tracks=((Track.REFUGEE, 1.0),),
        goals=((Goal.JOB, 0.8), (Goal.OWN_BUSINESS, 0.1), (Goal.EDUCATION, 0.1)),
        origins=geo.ORIGINS_REFUGEE,
        genders=(("f", 0.4), ("m", 0.58), ("x", 0.02)),
        requested_gender_share=0.04,
        english=((0, 0.15), (2, 0.1), (3, 0.3), (4, 0.3), (5, 0.15)),
        danish=((0, 0.05), (2, 0.25), (3, 0.4), (4, 0.25), (5, 0.05)),
        min_working_level=3,  # the programme takes refugees who speak English or Danish
        personal_limit_share=0.04,
        personal_limit_km=(10, 20),
    )
    mentors = MentorProfile(
        sites=(("ibm_lyngby", 0.6), ("ibm_broendby", 0.4)),
        proportional=True,
        fields=(("it", 0.45), ("business", 0.3), ("engineering", 0.12), ("ict_tech", 0.08), ("science", 0.05)),
        english=((5, 0.6), (6, 0.4)),
        immigrant_share=0.2,  # an international company: colleagues from abroad volunteer too
        years=(2, 32, 12),
        leadership_share=0.6,  # "preferably leadership experience"
        capacity_two_share=0.08,
        returning_share=0.3,
    )
    rules = Rules(
        max_distance_km=25.0, field_depth=1, field_rule=FieldRule.FAMILY, min_language_level=3,
        min_mentor_years=5, programme_languages=("en", "da"), eligible_tracks=(Track.REFUGEE,),
        weights=Weights(seniority=2),
        segments=(Segment("own_business", goals=(Goal.OWN_BUSINESS,), field_depth=0),),
    )
    homes = (("lyngby", 0.25), ("gladsaxe", 0.1), ("rudersdal", 0.05), ("herlev", 0.05), ("broendby", 0.2),
             ("hvidovre", 0.12), ("glostrup", 0.08), ("albertslund", 0.08), ("ishoej", 0.07))
    cohort = generate_cohort(seed=seed, n_mentees=25, n_mentors=25, towns=homes, mentees=mentees,
                             mentors=mentors, rules=rules, name="ibm_refugees")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    moved, reunified, fieldless, butcher, arabic = pick_outliers(rng, cohort, 5, taken)
    cohort = move_far(cohort, moved, geo.TOWNS["holbaek"].districts[0])
    cohort = ineligible(cohort, reunified, track=Track.OTHER)  # came by family reunification, not asylum
    cohort = with_mentee(cohort, replace(mentee_by_id(cohort, fieldless), goal=Goal.JOB))
    cohort = without_field(cohort, fieldless, ("6121", "6111", "8332"))
    # The seed's success story: a refugee butcher who started his own business with an IBM mentor.
    cohort = with_mentee(cohort, replace(mentee_by_id(cohort, butcher), occupations=("7511",),
                                         goal=Goal.OWN_BUSINESS))
    # Some volunteers have three or four years of experience: the five-year rule keeps them out.
    juniors = sorted(rng.sample([m.id for m in cohort.mentors if not m.leadership], 3))
    cohort = replace(cohort, mentors=tuple(replace(m, years_experience=3 + k % 2, returning=False)
                                           if m.id in juniors else m
                                           for k, m in enumerate(cohort.mentors)))
    # Outside the target group: Arabic only. An Arabic-speaking IBM mentor exists, but the programme runs in
    # English or Danish.
    cohort = outside_programme_languages(speaking(cohort, "ar", 6), arabic, "ar", english=2, danish=1)
    return pins_and_bans(rng, cohort, 1, 1, taken)


def kvinfo_network(seed: int = 2002) -> Cohort:
    """KVINFO Mentor Network, five cities: women with refugee or immigrant background, job or network focus."""
    mentees = MenteeProfile(
        fields=(("business", 0.13), ("care", 0.1), ("health", 0.1), ("teaching", 0.11), ("business_assoc", 0.1),
                ("social", 0.09), ("hospitality", 0.05), ("it", 0.06), ("engineering", 0.06), ("science", 0.04),
                ("culture", 0.05), ("law", 0.03), ("trades", 0.02), ("transport", 0.02)),
        # Women from the main asylum countries mostly came as refugees (or were reunified with one);
        # the rest came through marriage, family or work: the "immigrant background" group.
        tracks=((Track.OTHER, 1.0),),
        tracks_by_origin=tuple((origin, ((Track.REFUGEE, 0.85), (Track.OTHER, 0.15)))
                               for origin in ("SY", "AF", "ER", "SO", "IQ", "UA", "IR")),
        goals=((Goal.JOB, 0.6), (Goal.SOCIAL_NETWORK, 0.4)),
        origins=geo.ORIGINS_IMMIGRANT_WOMEN,
        genders=(("f", 1.0),),
        requested_gender_share=0.18,
        english=((0, 0.25), (1, 0.1), (2, 0.15), (3, 0.25), (4, 0.15), (5, 0.1)),
        danish=((1, 0.05), (2, 0.2), (3, 0.4), (4, 0.25), (5, 0.1)),
        min_working_level=3,
        second_occupation_share=0.2,
        personal_limit_share=0.08,
        personal_limit_km=(5, 12),
    )
    mentors = MentorProfile(
        fields=(("business", 0.16), ("teaching", 0.11), ("social", 0.11), ("health", 0.1), ("care", 0.09),
                ("business_assoc", 0.08), ("it", 0.07), ("engineering", 0.06), ("hospitality", 0.06), ("culture", 0.05),
                ("law", 0.04), ("science", 0.03), ("transport", 0.02), ("trades", 0.02)),
        genders=(("f", 0.76), ("m", 0.22), ("x", 0.02)),
        english=((3, 0.1), (4, 0.4), (5, 0.4), (6, 0.1)),
        immigrant_share=0.18,
        goal_restriction_share=0.25,  # some mentors offer only a job focus or only a network focus
        capacity_two_share=0.1,
        returning_share=0.35,
        years=(2, 35, 15),
    )
    rules = Rules(
        max_distance_km=25.0, field_depth=1, min_language_level=3, personal_limits_extend=True,
        eligible_tracks=(Track.REFUGEE, Track.OTHER), weights=Weights(goal=2, first_language=2),
        segments=kvinfo_segments(),
    )
    # Esbjerg has fewer volunteers than mentees: some there wait although a mentor would suit them.
    cohort = generate_cohort(
        seed=seed, n_mentees=300, n_mentors=280,
        towns=(("copenhagen", 0.36), ("frederiksberg", 0.04), ("aarhus", 0.22), ("odense", 0.15),
               ("aalborg", 0.12), ("esbjerg", 0.11)),
        mentor_towns=(("copenhagen", 0.38), ("frederiksberg", 0.04), ("aarhus", 0.24), ("odense", 0.15),
                      ("aalborg", 0.13), ("esbjerg", 0.07)),
        mentees=mentees, mentors=mentors, rules=rules, name="kvinfo_network")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    north, south, farmer, *mute = pick_outliers(rng, cohort, 6, taken)
    cohort = move_far(cohort, north, geo.TOWNS["hjoerring"].districts[0])
    cohort = move_far(cohort, south, geo.TOWNS["svendborg"].districts[0])
    cohort = with_mentee(cohort, replace(mentee_by_id(cohort, farmer), goal=Goal.JOB))
    cohort = without_field(cohort, farmer, ("6121", "6111", "9112"))
    for mentee_id, first in zip(mute, ("ti", "am", "ps"), strict=True):
        cohort = without_language(cohort, mentee_id, (first, "ti", "am", "ps", "tl", "bn"), english=1, danish=2)
    # Online meetings in North Jutland: some mentees around Aalborg and some Aalborg mentors accept them, and
    # the mentee who moved to Hjørring, 45 km out, meets hers online.
    online_rng = random.Random(seed + 2)
    aalborg = set(KVINFO_ONLINE_MUNICIPALITIES)
    cohort = replace(cohort, mentees=tuple(replace(m, online=True) if m.id == north or (
        m.municipality in aalborg and online_rng.random() < 0.4) else m for m in cohort.mentees),
        mentors=tuple(replace(m, online=True) if near_town(m, "aalborg") and online_rng.random() < 0.4 else m
                      for m in cohort.mentors))
    # A mentor who restricts his goals offers a job focus or a social focus (the two kinds of KVINFO match).
    focus = (Goal.JOB, Goal.SOCIAL_NETWORK)
    cohort = replace(cohort, mentors=tuple(
        replace(m, goals=tuple(g for g in m.goals if g in focus) or (online_rng.choice(focus),)) if m.goals else m
        for m in cohort.mentors))
    # A mentee in Hviding, south of Ribe, 29 km from Esbjerg's mentors: within Esbjerg's 35 km, not the usual 25.
    rural = next(m for m in cohort.mentees if m.municipality in KVINFO_REGIONAL_MUNICIPALITIES and m.id not in taken
                 and m.max_travel_km is None and not m.requested_mentor_gender)
    taken.add(rural.id)
    cohort = with_mentee(cohort, replace(rural, lat=_HVIDING.lat, lon=_HVIDING.lon))
    # One mentee on Funen would travel 100 km for the right mentor: her own limit counts (personal limits extend).
    cohort = with_mentee(cohort, replace(mentee_by_id(cohort, south), max_travel_km=100.0))
    allowed = allowed_mentors(cohort)
    cohort = pins_and_bans(rng, cohort, 3, 2, taken, allowed=allowed, pin_mentor=lambda m: m.gender == "f")
    # The network wants most women to meet a woman mentor: a floor well inside what is attainable.
    bans = set(cohort.rules.bans)
    women_only = [[j for j in row if cohort.mentors[j].gender == "f" and (cohort.mentees[i].id, cohort.mentors[j].id)
                   not in bans] for i, row in enumerate(allowed)]
    floor = int(0.8 * max_matching_size(cohort, women_only)) // 10 * 10
    return replace(cohort, rules=replace(cohort.rules, gender_quotas=(GenderQuota("f", min_pairs=floor),)))


KVINFO_ONLINE_MUNICIPALITIES = ("851", "860")  # Aalborg, Hjørring
_HVIDING = geo.Place("Hviding", "561", 55.256, 8.747)  # a village of Esbjerg Kommune, south of Ribe
KVINFO_REGIONAL_MUNICIPALITIES = ("561",)  # Esbjerg


def kvinfo_segments() -> tuple[Segment, ...]:
    """KVINFO's two kinds of match and its per-city rules, as segments (a mentee follows the first that selects her).

    A social-network match needs no shared field and a mentor who offers a social focus; a job match a mentor who
    offers a job focus (a mentor listing no goals offers both). In North Jutland and Esbjerg homes lie farther
    apart (35 km); around Aalborg pairs who both accept it may meet online.
    """
    social = {"goals": (Goal.SOCIAL_NETWORK,), "field_depth": 0, "mentor_goals": (Goal.SOCIAL_NETWORK,)}
    job = {"goals": (Goal.JOB,), "mentor_goals": (Goal.JOB,)}
    north = {"municipalities": KVINFO_ONLINE_MUNICIPALITIES, "max_distance_km": 35.0, "online_meetings": True}
    west = {"municipalities": KVINFO_REGIONAL_MUNICIPALITIES, "max_distance_km": 35.0}
    return (Segment("social_aalborg", **social, **north), Segment("job_aalborg", **job, **north),  # type: ignore[arg-type]
            Segment("social_esbjerg", **social, **west), Segment("job_esbjerg", **job, **west),  # type: ignore[arg-type]
            Segment("social", **social), Segment("job", **job))  # type: ignore[arg-type]


_UNIVERSITY_SHARE = {"KU": 0.3, "CBS": 0.2, "DTU": 0.2, "ITU": 0.15, "RUC": 0.15}
_UNIVERSITY_FIELDS: dict[str, Weighted[str]] = {
    "KU": (("science", 0.3), ("social", 0.15), ("it", 0.15), ("health", 0.15), ("law", 0.1), ("culture", 0.1),
           ("teaching", 0.05)),
    "CBS": (("business", 0.7), ("social", 0.2), ("it", 0.1)),
    "DTU": (("engineering", 0.55), ("it", 0.3), ("science", 0.15)),
    "ITU": (("it", 0.85), ("architecture", 0.15)),
    "RUC": (("social", 0.3), ("business", 0.35), ("culture", 0.15), ("science", 0.1), ("teaching", 0.1)),
}


def _student_fields() -> Weighted[str]:
    """The students' field mix: each university's mix weighted by its share of the cohort."""
    mix: dict[str, float] = {}
    for university, share in _UNIVERSITY_SHARE.items():
        for field, weight in _UNIVERSITY_FIELDS[university]:
            mix[field] = mix.get(field, 0.0) + share * weight
    return tuple((field, round(weight, 4)) for field, weight in mix.items())


def copenhagen_career(seed: int = 2019) -> Cohort:
    """Copenhagen Career Program: 40 international students living in Copenhagen, each matched with a volunteer
    mentor through Foreningen Nydansker, Perspectiv or IDA (the seed's 2013-14 programme), and PROSA's IT mentors
    (its 2012 pilot). Each organisation takes as many students as it has places (`organisation_caps`)."""
    mentees = MenteeProfile(
        fields=_student_fields(),
        tracks=((Track.STUDENT, 1.0),),
        goals=((Goal.JOB, 0.85), (Goal.OWN_BUSINESS, 0.1), (Goal.EDUCATION, 0.05)),
        origins=geo.ORIGINS_STUDENT,
        genders=(("f", 0.55), ("m", 0.43), ("x", 0.02)),
        english=((4, 0.15), (5, 0.55), (6, 0.3)),
        danish=((0, 0.45), (1, 0.35), (2, 0.15), (3, 0.05)),
        second_occupation_share=0.2,
    )
    mentors = MentorProfile(
        organisations=(("Foreningen Nydansker", 0.4), ("Perspectiv", 0.2), ("IDA", 0.25), ("PROSA", 0.15)),
        proportional=True,
        fields_by_organisation=(
            ("Foreningen Nydansker", (("business", 0.35), ("social", 0.3), ("culture", 0.12), ("law", 0.08),
                                      ("health", 0.08), ("teaching", 0.07))),
            # A private firm for coaching and mentoring: business, HR and psychology.
            ("Perspectiv", (("business", 0.6), ("social", 0.4))),
            ("IDA", (("engineering", 0.5), ("it", 0.2), ("science", 0.2), ("architecture", 0.1))),
            ("PROSA", (("it", 0.85), ("ict_tech", 0.15))),  # PROSA organises IT professionals
        ),
        capacity_two_share=0.2,
        leadership_share=0.3,
        returning_share=0.3,
    )
    rules = Rules(
        max_distance_km=15.0, field_depth=2, min_language_level=4, eligible_municipalities=("101",),
        eligible_tracks=(Track.STUDENT,),
        organisation_caps=CAREER_PLACES,
        weights=Weights(field=2),
    )
    cohort = generate_cohort(
        seed=seed, n_mentees=40, n_mentors=44, towns=(("copenhagen", 1.0),),
        mentor_towns=(("copenhagen", 0.8), ("frederiksberg", 0.12), ("gentofte", 0.04), ("lyngby", 0.04)),
        mentees=mentees, mentors=mentors, rules=rules, name="copenhagen_career")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    frb, dtu, kastrup, fieldless, coached = pick_outliers(rng, cohort, 5, taken)
    dtu_site = geo.SITES[geo.UNIVERSITIES["DTU"]]
    cohort = ineligible(cohort, frb, place=district("frederiksberg", "Frederiksberg C"))
    cohort = ineligible(cohort, dtu, place=geo.Place("DTU kollegier", "173", dtu_site.lat - 0.004, dtu_site.lon))
    cohort = ineligible(cohort, kastrup, place=district("taarnby", "Kastrup"))
    cohort = without_field(cohort, fieldless, ("2250", "2262", "3435", "1411"))
    # A business student who works part time at Perspectiv: its mentors are a conflict of interest for her.
    cohort = with_mentee(cohort, replace(mentee_by_id(cohort, coached), occupations=("2423",),
                                         avoid_organisations=("Perspectiv",)))
    return pins_and_bans(rng, cohort, 2, 1, taken)


CAREER_PLACES = (("Foreningen Nydansker", 12), ("IDA", 10), ("PROSA", 5), ("Perspectiv", 8))
"""The places each organisation offers the Career Program (the seed names the organisations, not the numbers)."""


SCENARIOS: dict[str, Callable[[], Cohort]] = {
    "lyngby_career": lyngby_career,
    "copenhagen_business": copenhagen_business,
    **{name: ibmp_intake(k) for k, name in enumerate(IBMP_INTAKES, start=1)},
    "ibm_refugees": ibm_refugees,
    "kvinfo_network": kvinfo_network,
    "copenhagen_career": copenhagen_career,
}
"""The bundled scenarios by directory name; each builder's default seed made the committed files."""
