"""Whole results explained: every matching's pairs, unmatched people and blocking pairs."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

from solver.explain.codes import Side, UnmatchedReason
from solver.explain.context import ExplainContext, MatchingState, matching_state, person_view
from solver.explain.counterfactual import ResolveBudget, find_counterfactuals, force_in
from solver.explain.facts import explain_pairs
from solver.explain.recruiting import recruitment_advice
from solver.explain.types import (
    Counterfactual,
    ExplainOptions,
    Explanation,
    Impact,
    MatchingExplanation,
    PairExplanation,
    RecruitmentAdvice,
    TakenBy,
    UnmatchedExplanation,
)
from solver.explain.unmatched import fill_nearest_misses, partners_taken, person_funnel, primary_reason
from solver.reopt import load_shortest_paths
from solver.solve import Matching, SolveResult
from solver.stability import audit
from solver.stop import Stopped, StopReason, StopToken, cores, forking_works, run_in_child

# Whole results ----------------------------------------------------------------------------------------


Resolves = tuple[Impact | None, tuple[Counterfactual, ...]]
"""A person's re-solves: the cost of forcing her in, and her counterfactuals."""


def resolve_person(ctx: ExplainContext, side: Side, index: int, state: MatchingState,
                   budget: ResolveBudget) -> Resolves:
    view = person_view(ctx, side, index)
    forced = force_in(ctx, view, budget)
    return forced, find_counterfactuals(ctx, view, state, budget)


def explain_person(ctx: ExplainContext, side: Side, index: int, state: MatchingState, deep: bool,
                   budget: ResolveBudget, resolved: Resolves | None = None) -> UnmatchedExplanation:
    found = person_funnel(ctx, side, index, state)
    reason = primary_reason(ctx, side, index, found, state)
    person_id = (ctx.cohort.mentees if side is Side.MENTEE else ctx.cohort.mentors)[index].id
    taken: tuple[TakenBy, ...] = ()
    if reason.code in (UnmatchedReason.CANDIDATES_ALL_TAKEN, UnmatchedReason.MENTEES_ALL_TAKEN,
                       UnmatchedReason.SIDE_CONSTRAINTS):
        taken = partners_taken(ctx, side, index, state, ctx.explain_options.taken_by)
    forced: Impact | None = None
    counterfactuals: tuple[Counterfactual, ...] = ()
    notes: list[str] = []
    if deep:
        forced, counterfactuals = resolved if resolved is not None else resolve_person(ctx, side, index, state, budget)
        if not counterfactuals:
            notes.append("no single relaxation of the rules or of one participant gives a new allowed partner")
    if reason.code is UnmatchedReason.CONFLICT_OF_INTEREST:
        notes.append("a conflict of interest is never proposed for lifting: a mentor from another organisation "
                     "would do (see the mentors to recruit)")
    fill_nearest_misses(ctx, [(side, index)], ctx.explain_options.nearest_misses)
    return UnmatchedExplanation(person_id, side, (reason,), found, ctx.near_misses[(side, index)], taken, forced,
                                counterfactuals, tuple(notes))


_BATCH = 256  # people whose nearest misses are scored together


class _PartlyExplained(Stopped):
    """A stop in the middle of a matching's unmatched people: the people explained before it."""

    def __init__(self, reason: StopReason, mentees: tuple[UnmatchedExplanation, ...],
                 mentors: tuple[UnmatchedExplanation, ...], notes: tuple[str, ...]) -> None:
        super().__init__(reason)
        self.mentees, self.mentors, self.notes = mentees, mentors, notes


def explain_unmatched(result: SolveResult, matching: Matching | None = None, options: ExplainOptions | None = None,
                      *, deep: bool = True) -> tuple[tuple[UnmatchedExplanation, ...], tuple[UnmatchedExplanation, ...],
                                                     tuple[str, ...]]:
    """(unmatched mentees, mentors with no mentee, notes) of one matching (default: the best).

    With `deep`, the first `options.max_people` of them (mentees by priority first) also get re-solves: the
    cost of forcing them in and counterfactuals. A stop (`options.stop`) ends it early: the people explained
    by then, and a note.
    """
    options = options or ExplainOptions()
    ctx = ExplainContext(result, options)
    budget = ResolveBudget(options.max_resolves, options.time_budget_s, options.resolve_time_limit_s, options.stop)
    matching = matching if matching is not None else result.best
    if matching is None:
        return (), (), ("no matching to explain",)
    try:
        return explain_matching_people(ctx, matching, deep, budget)
    except _PartlyExplained as partly:
        return partly.mentees, partly.mentors, partly.notes


def explain_matching_people(ctx: ExplainContext, matching: Matching, deep: bool, budget: ResolveBudget
                            ) -> tuple[tuple[UnmatchedExplanation, ...], tuple[UnmatchedExplanation, ...],
                                       tuple[str, ...]]:
    """Raises `_PartlyExplained` (a `Stopped`, carrying the people explained so far) when the stop ends it."""
    state = matching_state(ctx, matching)
    cohort = ctx.cohort
    mentees = [i for i in range(len(cohort.mentees)) if state.partner_of_mentee[i] < 0]
    mentees.sort(key=lambda i: (-int(ctx.priority[i]), i))
    mentors = [j for j in range(len(cohort.mentors)) if state.load[j] == 0]
    people = [(Side.MENTEE, i) for i in mentees] + [(Side.MENTOR, j) for j in mentors]
    limit = ctx.explain_options.max_people
    explained: dict[Side, list[UnmatchedExplanation]] = {side: [] for side in Side}
    stop = StopToken.of(ctx.explain_options.stop)
    notes = []
    stopped: Stopped | None = None
    resolved: dict[int, Resolves] = {}
    try:
        for k, (side, index) in enumerate(people):
            stop.check()
            if k % _BATCH == 0:
                fill_nearest_misses(ctx, people[k:k + _BATCH], ctx.explain_options.nearest_misses)
            if k == 0 and deep:
                resolved = resolve_beside(ctx, people[:limit], state, budget)
            explained[side].append(explain_person(ctx, side, index, state, deep and k < limit, budget,
                                                  resolved.get(k)))
    except Stopped as error:
        stopped = error
        done = sum(len(e) for e in explained.values())
        notes.append(f"{done} of {len(people)} unmatched people of matching {matching.rank} explained before the "
                     f"{'time ran out' if error.reason is StopReason.DEADLINE else 'stop'}")
    if deep and len(people) > limit:
        notes.append(f"re-solves (forcing in, counterfactuals) for the first {limit} of {len(people)} unmatched "
                     f"people only (mentees first, by priority); raise ExplainOptions.max_people "
                     f"(`--explain-people`) for more")
    if budget.exhausted:
        notes.append("the re-solve time ran out: some people's counterfactuals and forced-in costs were not "
                     "re-solved" if budget.out_of_time else
                     "the re-solve budget ran out: some counterfactuals were not re-solved")
    order = {i: k for k, i in enumerate(sorted(mentees))}
    explained[Side.MENTEE].sort(key=lambda e: order[ctx.mentee_index[e.person_id]])
    out = tuple(explained[Side.MENTEE]), tuple(explained[Side.MENTOR]), tuple(notes)
    if stopped is not None:
        raise _PartlyExplained(stopped.reason, *out)
    return out


PARALLEL_MIN_PEOPLE = 4
"""Deep people from whom their re-solves are shared with a forked child (`ExplainOptions.processes`): a child costs
~30-60 ms (the fork of the process, its exit); one person's re-solves take ~10-100 ms."""


def resolve_beside(ctx: ExplainContext, deep: list[tuple[Side, int]], state: MatchingState, budget: ResolveBudget
                   ) -> dict[int, Resolves]:
    """The re-solves of the `deep` people (by their place in the list), shared with a forked child
    (`ExplainOptions.processes`): each side takes the next person from one queue (a pipe both read, two bytes a
    person) until none is left, so the side with the cheaper people takes more; {} where that does not apply,
    and the caller re-solves each person in turn.

    The same answer as one after another: each person's re-solves depend on the explained result alone (a shared
    re-optimum is a cache, the same whoever asks first), and on the budget only when it runs out. So both halves
    count what they took: when the budget would have run out (or the time), or the child failed, everything is
    thrown away and the people are re-solved in turn from the budget as it was."""
    if (ctx.explain_options.processes < 2 or len(deep) < PARALLEL_MIN_PEOPLE or budget.exhausted or cores() < 2
            or not forking_works()):
        return {}
    import pickle

    # Forked before anyone's re-solves: what they all read (the re-optimiser's network, the near pairs) is then built
    # on both sides at once (measured on kvinfo: 0.90-0.99 s against 1.0-1.19 s with the first person made here
    # before the fork, 1.16-1.39 s one process). scipy's graphs, though, are imported before: ~0.45 s of CPU that
    # each side spent on its own import (both cores busy with the same work) is spent once, and inherited.
    load_shortest_paths()
    queue, fill = os.pipe()
    os.write(fill, b"".join(k.to_bytes(2, "big") for k in range(len(deep))))  # far below a pipe's 64 KiB
    os.close(fill)  # both sides read to the end: nobody writes after

    def queued() -> Iterator[int]:
        while len(item := os.read(queue, 2)) == 2:  # two bytes are read at once: all were written before
            yield int.from_bytes(item, "big")

    before = (budget.left, budget.slowest_s, budget.exhausted, budget.out_of_time)
    answer: list[bytes | None] = [None]

    forked = threading.Event()

    def work(send: Callable[[bytes], None], stopping: threading.Event) -> bytes:
        del stopping
        send(b"")  # forked: this process may go on (a lock it held at the fork would stay held in the child)
        made = {k: resolve_person(ctx, *deep[k], state, budget) for k in queued()}
        return pickle.dumps((made, budget.left, budget.slowest_s, budget.exhausted), protocol=pickle.HIGHEST_PROTOCOL)

    def run() -> None:
        # A stop, the budget's time running out or a failed child leave no answer: the people are then re-solved
        # in turn below, which meets the stop or the end of the time as one after another would.
        with contextlib.suppress(Exception):
            answer[0] = run_in_child(work, child_stop, on_message=lambda _: forked.set())
        forked.set()

    # The child stops with the budget's stop or deadline, and as soon as this side fails (a Ctrl-C, a stop): it is
    # not waited for then.
    child_stop = StopToken(threading.Event(), budget.stop.deadline)
    thread = threading.Thread(target=run, name="explain-beside", daemon=True)
    thread.start()
    forked.wait()
    try:
        made = {k: resolve_person(ctx, *deep[k], state, budget) for k in queued()}
    except BaseException:
        child_stop.abandon()
        thread.join()
        raise
    finally:
        os.close(queue)
    while thread.is_alive():
        thread.join(0.05)
        if budget.stop.is_set():
            child_stop.abandon()
    if answer[0] is not None and not budget.exhausted:
        theirs, left, slowest, exhausted = pickle.loads(answer[0])  # our own child's bytes
        taken = before[0] - left
        if not exhausted and budget.left - taken >= 0:
            budget.left -= taken
            budget.slowest_s = max(budget.slowest_s, slowest)
            made.update(theirs)
            return made
    budget.left, budget.slowest_s, budget.exhausted, budget.out_of_time = before
    return {}


def explain(result: SolveResult, options: ExplainOptions | None = None) -> Explanation:
    """Everything for a coordinator: pairs, the unmatched (reasons, funnel, nearest misses, counterfactuals),
    blocking pairs per matching, and which mentors to recruit. Re-solves only for the best matching.

    With `options.stop`, it degrades instead of running over: re-solves are bounded by the stop's deadline
    (fewer, then none), and once the stop is set or its deadline passes, the matchings explained so far come
    back with `truncated` set and a note saying what is missing.
    """
    options = options or ExplainOptions()
    stop = StopToken.of(options.stop)
    ctx = ExplainContext(result, options)
    budget = ResolveBudget(options.max_resolves, options.time_budget_s, options.resolve_time_limit_s, stop)
    notes: list[str] = []
    out: list[MatchingExplanation] = []
    recruitment: tuple[RecruitmentAdvice, ...] = ()
    truncated: StopReason | None = None
    wanted = result.matchings if options.matchings is None else result.matchings[:options.matchings]
    explained_rows: dict[int, PairExplanation] = {}  # alternatives share most of their pairs: each explained once
    try:
        for matching in wanted:
            stop.check()
            rows = matching.rows.tolist()
            missing = [r for r in rows if r not in explained_rows]
            explained_rows.update(zip(missing, explain_pairs(ctx.candidates, missing, stop), strict=True))
            pairs = tuple(explained_rows[r] for r in rows)
            stop.check()
            mentees: tuple[UnmatchedExplanation, ...] = ()
            mentors: tuple[UnmatchedExplanation, ...] = ()
            partly: _PartlyExplained | None = None
            if options.unmatched:
                try:
                    mentees, mentors, people_notes = explain_matching_people(ctx, matching, matching.rank == 1,
                                                                             budget)
                except _PartlyExplained as stopped_among_people:
                    partly = stopped_among_people
                    mentees, mentors, people_notes = partly.mentees, partly.mentors, partly.notes
                notes.extend(people_notes)
            stability = audit(ctx.candidates, matching.rows)
            if options.stability_pairs_listed is not None:
                stability = replace(stability, pairs=stability.pairs[:options.stability_pairs_listed])
            out.append(MatchingExplanation(matching.rank, pairs, mentees, mentors, stability))
            if partly is not None:
                raise partly
        if options.unmatched:
            stop.check()
            recruitment = recruitment_advice(result, k=options.recruitment)
    except Stopped as stopped:
        truncated = stopped.reason
        why = "its time ran out" if stopped.reason is StopReason.DEADLINE else "it was asked to stop"
        notes.append(f"explanations cut short ({why}): {len(out)} of {len(wanted)} matching(s) explained"
                     + (", the last of them in part" if isinstance(stopped, _PartlyExplained) else "")
                     + ("" if len(out) < len(wanted) or not options.unmatched else ", no mentors to recruit"))
    if truncated is None and budget.out_of_time:
        truncated = StopReason.DEADLINE
    if not result.matchings:
        notes.append(f"no matching to explain ({result.status.value})")
        notes.extend(result.notes)  # for INFEASIBLE, the solve's diagnosis: which constraints conflict, what holds
    return Explanation(tuple(out), recruitment, tuple(dict.fromkeys(notes)), truncated)
