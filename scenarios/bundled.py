"""The five bundled scenarios, each modelled on a real Danish mentoring programme."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

from scenarios import geography as geo
from scenarios.shaping import (
    allowed_mentors,
    district,
    ineligible,
    limit_travel,
    max_matching_size,
    mentee_by_id,
    move_far,
    pick_outliers,
    pins_and_bans,
    with_mentee,
    without_field,
    without_language,
)
from scenarios.synthetic import MenteeProfile, MentorProfile, Weighted, generate_cohort
from solver.domain import Cohort, GenderQuota, Goal, Rules, Track, Weights


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


def copenhagen_business(seed: int = 2016) -> Cohort:
    """International Business Mentoring Programme, Copenhagen and Frederiksberg: 80 + 80 spouses and mentors."""
    mentees = MenteeProfile(
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
    mentors = MentorProfile(
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
    rules = Rules(
        max_distance_km=15.0, field_depth=2, min_language_level=4, eligible_municipalities=("101", "147"),
        eligible_tracks=(Track.SPOUSE,), weights=Weights(interests=2, field=2),
    )
    cohort = generate_cohort(seed=seed, n_mentees=80, n_mentors=80,
                             towns=(("copenhagen", 0.82), ("frederiksberg", 0.18)),
                             mentor_towns=(("copenhagen", 0.85), ("frederiksberg", 0.15)),
                             mentees=mentees, mentors=mentors, rules=rules, name="copenhagen_business")
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


def ibm_refugees(seed: int = 2017) -> Cohort:
    """IBM business mentors with Foreningen Nydansker: 25 refugees near IBM's Lyngby and Brøndby sites."""
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
        max_distance_km=25.0, field_depth=1, min_language_level=3, min_mentor_years=5,
        eligible_tracks=(Track.REFUGEE,), weights=Weights(seniority=2),
    )
    homes = (("lyngby", 0.25), ("gladsaxe", 0.1), ("rudersdal", 0.05), ("herlev", 0.05), ("broendby", 0.2),
             ("hvidovre", 0.12), ("glostrup", 0.08), ("albertslund", 0.08), ("ishoej", 0.07))
    cohort = generate_cohort(seed=seed, n_mentees=25, n_mentors=25, towns=homes, mentees=mentees,
                             mentors=mentors, rules=rules, name="ibm_refugees")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    moved, reunified, electrician = pick_outliers(rng, cohort, 3, taken)
    cohort = move_far(cohort, moved, geo.TOWNS["holbaek"].districts[0])
    cohort = ineligible(cohort, reunified, track=Track.OTHER)  # came by family reunification, not asylum
    cohort = without_field(cohort, electrician, ("7411", "7126", "8332"))
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
        max_distance_km=25.0, field_depth=1, min_language_level=3,
        eligible_tracks=(Track.REFUGEE, Track.OTHER), weights=Weights(goal=2, first_language=2),
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
    cohort = without_field(cohort, farmer, ("6121", "6111", "9112"))
    for mentee_id, first in zip(mute, ("ti", "am", "ps"), strict=True):
        cohort = without_language(cohort, mentee_id, (first, "ti", "am", "ps", "tl", "bn"), english=1, danish=2)
    allowed = allowed_mentors(cohort)
    cohort = pins_and_bans(rng, cohort, 3, 2, taken, allowed=allowed, pin_mentor=lambda m: m.gender == "f")
    # The network wants most women to meet a woman mentor: a floor well inside what is attainable.
    bans = set(cohort.rules.bans)
    women_only = [[j for j in row if cohort.mentors[j].gender == "f" and (cohort.mentees[i].id, cohort.mentors[j].id)
                   not in bans] for i, row in enumerate(allowed)]
    floor = int(0.8 * max_matching_size(cohort, women_only)) // 10 * 10
    return replace(cohort, rules=replace(cohort.rules, gender_quotas=(GenderQuota("f", min_pairs=floor),)))


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
    """Copenhagen Career Program: 40 international students, mentors from Foreningen Nydansker, IDA, PROSA."""
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
        organisations=(("Foreningen Nydansker", 0.45), ("IDA", 0.3), ("PROSA", 0.25)),
        proportional=True,
        fields_by_organisation=(
            ("Foreningen Nydansker", (("business", 0.35), ("social", 0.3), ("culture", 0.12), ("law", 0.08),
                                      ("health", 0.08), ("teaching", 0.07))),
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
        organisation_caps=(("Foreningen Nydansker", 15), ("IDA", 15), ("PROSA", 15)),
        weights=Weights(field=2),
    )
    cohort = generate_cohort(
        seed=seed, n_mentees=40, n_mentors=44, towns=(("copenhagen", 1.0),),
        mentor_towns=(("copenhagen", 0.8), ("frederiksberg", 0.12), ("gentofte", 0.04), ("lyngby", 0.04)),
        mentees=mentees, mentors=mentors, rules=rules, name="copenhagen_career")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    frb, dtu, kastrup, fieldless = pick_outliers(rng, cohort, 4, taken)
    dtu_site = geo.SITES[geo.UNIVERSITIES["DTU"]]
    cohort = ineligible(cohort, frb, place=district("frederiksberg", "Frederiksberg C"))
    cohort = ineligible(cohort, dtu, place=geo.Place("DTU kollegier", "173", dtu_site.lat - 0.004, dtu_site.lon))
    cohort = ineligible(cohort, kastrup, place=district("taarnby", "Kastrup"))
    cohort = without_field(cohort, fieldless, ("2250", "2262", "3435", "1411"))
    return pins_and_bans(rng, cohort, 2, 1, taken)


SCENARIOS: dict[str, Callable[[], Cohort]] = {
    "lyngby_career": lyngby_career,
    "copenhagen_business": copenhagen_business,
    "ibm_refugees": ibm_refugees,
    "kvinfo_network": kvinfo_network,
    "copenhagen_career": copenhagen_career,
}
"""The bundled scenarios by directory name; each builder's default seed made the committed files."""
