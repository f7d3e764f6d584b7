"""The explanation context's per-person values (solver.explain.context.ExplainContext) are made on first read, since
pair explanations alone read none of them: each must still be what its definition says, worked out here from the
cohort itself, and stay the same object once made."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from scenarios import bundled
from solver.data import builtin_field_families
from solver.domain import Cohort, Mentee, Mentor
from solver.explain.context import ExplainContext
from solver.explain.types import ExplainOptions
from solver.solve import SolveOptions, solve


@pytest.mark.parametrize("make", [bundled.lyngby_career, bundled.kvinfo_network], ids=["lyngby", "kvinfo"])
def test_per_person_values_read_later_are_their_definitions(make: Callable[[], Cohort]) -> None:
    result = solve(make(), SolveOptions(alternatives=1))
    cohort = result.candidates.cohort
    ctx = ExplainContext(result, ExplainOptions())
    made = set(vars(ctx))
    assert not made & {"mentee_rules", "mentee_levels", "mentor_levels", "language_codes", "capacity"}

    assert ctx.capacity.tolist() == [max(p.capacity, 0) for p in cohort.mentors]
    assert ctx.priority.tolist() == list(cohort.priorities())
    assert ctx.years.tolist() == [float(p.years_experience) for p in cohort.mentors]
    assert ctx.mentee_rules == [cohort.rules.for_mentee(p) for p in cohort.mentees]
    assert ctx.field_families == (cohort.rules.field_families or builtin_field_families())
    best = result.best
    assert best is not None
    assert ctx.best_pairs == {(cohort.mentees[int(a)].id, cohort.mentors[int(b)].id)
                              for a, b in zip(result.candidates.mentee[best.rows], result.candidates.mentor[best.rows],
                                              strict=True)}
    codes = ctx.language_codes
    everyone: list[Mentee | Mentor] = [*cohort.mentees, *cohort.mentors]
    assert codes == sorted({lang.code for p in everyone for lang in p.languages})
    sides: list[tuple[Sequence[Mentee | Mentor], np.ndarray]] = [(cohort.mentees, ctx.mentee_levels),
                                                                (cohort.mentors, ctx.mentor_levels)]
    for people, levels in sides:
        assert levels.shape == (len(people), max(1, len(codes)))
        for i, person in enumerate(people):
            best_level = {code: 0 for code in codes}
            for lang in person.languages:
                best_level[lang.code] = max(best_level[lang.code], lang.level)
            assert levels[i, :len(codes)].tolist() == [best_level[c] for c in codes]

    # Made once: the same objects on a second read.
    assert ctx.mentee_rules is ctx.mentee_rules and ctx.mentee_levels is ctx.mentee_levels
    assert np.shares_memory(ctx.capacity, ctx.capacity)
