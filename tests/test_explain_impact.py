"""What a re-solve changed, as explanations report it (`Impact`): checked against the pairs themselves.

Every counterfactual and forced-in cost of the bundled 80 x 80 programme's explanation names the pairs it removes
from the best matching and the pairs it adds. Read back as a matching (the best one, less the removed, plus the
added), those must be a matching of the cohort, agree with the counts and the person's partners the impact gives,
and score, pair by pair under the programme's rules (`score_pairs` of the baseline cohort), what it says.
"""

from __future__ import annotations

import numpy as np

from scenarios.bundled import copenhagen_business
from solver.arrays import cohort_arrays
from solver.explain import ExplainOptions, Impact, Side, explain
from solver.scores import score_pairs
from solver.solve import SolveOptions, solve


def test_every_impact_of_the_programme_reads_back_as_the_matching_it_reports() -> None:
    cohort = copenhagen_business()
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None
    best = set(result.best.pairs(result.candidates))
    explanation = explain(result, ExplainOptions(max_people=20, time_budget_s=600))
    people = explanation.matchings[0].unmatched_mentees + explanation.matchings[0].mentors_without_mentee
    impacts: list[tuple[Side, str, Impact]] = []
    for person in people:
        if person.forced_in is not None:
            impacts.append((person.side, person.person_id, person.forced_in))
        impacts.extend((person.side, person.person_id, c.effect) for c in person.counterfactuals
                       if c.effect is not None)
    assert len(impacts) >= 20  # the programme has unmatched people with re-solves to check
    mentee_index, mentor_index = cohort.mentee_index(), cohort.mentor_index()
    arrays = cohort_arrays(cohort)
    for side, person_id, impact in impacts:
        if impact.matched_after is None:
            assert impact.pairs_removed == impact.pairs_added == ()
            continue
        removed, added = set(impact.pairs_removed), set(impact.pairs_added)
        assert list(impact.pairs_removed) == sorted(removed) and list(impact.pairs_added) == sorted(added)
        assert removed <= best and not added & best
        after = (best - removed) | added
        assert len(after) == impact.matched_after == impact.matched_before - len(removed) + len(added)
        mentees = [a for a, _ in after]
        assert len(set(mentees)) == len(mentees)  # each mentee once
        mine = sorted(b if side is Side.MENTEE else a for a, b in after
                      if (a if side is Side.MENTEE else b) == person_id)
        assert list(impact.partners) == mine and impact.person_matched == bool(mine)
        pairs = sorted(after)
        scored = score_pairs(cohort, arrays, np.array([mentee_index[a] for a, _ in pairs], dtype=np.int64),
                             np.array([mentor_index[b] for _, b in pairs], dtype=np.int64))
        assert impact.total_score_after == int(scored["score"].sum())
