"""Why no matching meets every rule: the constraints that cannot hold together, and what is attainable instead.

When a solve is INFEASIBLE, the hard rules alone are never the cause (the empty matching meets them, and
validation refuses pins that break them or overfill a mentor): some of the pins, organisation caps, gender
quotas and stability (`--stable`) cannot all hold. `diagnose_infeasible` finds a smallest such set (a deletion
filter: each constraint is dropped in turn and kept out when the rest still cannot hold, so every constraint
left is needed for the conflict), and for each of them what the others allow, exactly, by CP-SAT over the same
candidate pairs: the most pairs with a mentor of the quota's gender, the fewest an organisation's mentors must
take, the fewest blocking pairs. It needs only the solver's model, so the solve itself can call it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from ortools.sat.python import cp_model

from solver.candidates import IntArray
from solver.cpsat import watch
from solver.flow import flow_optimum
from solver.model import AssignmentModel
from solver.stability import add_stability_constraints, stability_terms
from solver.stop import StopToken

_GENDER = {0: "(none)", 1: "f", 2: "m", 3: "x"}


@dataclass(frozen=True)
class _Item:
    """One constraint that can take part in a conflict."""

    kind: str  # "pin", "cap", "quota_min", "quota_max" or "stability"
    rows: IntArray  # the pair rows it counts (the pinned row; the organisation's or the gender's rows)
    bound: int  # the cap, min_pairs or max_pairs
    label: str  # how a coordinator names it
    gender: str = ""  # a quota's gender
    org: int = -1  # a cap's organisation (index into the model's caps)


@dataclass
class _Checker:
    """CP-SAT over the model's pairs with some of the constraints: can they hold, and what do they allow."""

    model: AssignmentModel
    deadline: float
    stop: threading.Event | StopToken | None
    undecided: bool = False

    def run(self, items: Sequence[_Item], objective: _Item | None = None, maximise: bool = True
            ) -> tuple[bool | None, int, list[tuple[int, int]]]:
        """(holds: True, False, or None when time ran out; the objective's optimum; the blocking pairs of a best
        matching when the objective is the blocking-pair count)."""
        quick = self._by_flow(items, objective, maximise)
        if quick is not None:
            return quick
        model = self.model
        cp = cp_model.CpModel()
        x = [cp.new_bool_var(f"pair_{r}") for r in range(model.n_rows)]
        for rows in _groups(model.mentee):
            cp.add_at_most_one(x[r] for r in rows)
        for rows in _groups(model.mentor):
            capacity = int(model.capacity[model.mentor[rows[0]]])
            if len(rows) > capacity:
                cp.add(cp_model.LinearExpr.sum([x[r] for r in rows]) <= capacity)
        for item in items:
            count = cp_model.LinearExpr.sum([x[r] for r in item.rows.tolist()])
            if item.kind == "pin":
                cp.add(count == 1)
            elif item.kind in ("cap", "quota_max"):
                cp.add(count <= item.bound)
            elif item.kind == "quota_min":
                cp.add(count >= item.bound)
            elif item is not objective:
                add_stability_constraints(cp, x, model)
        blocking: list[tuple[int, int, cp_model.IntVar]] = []
        if objective is not None and objective.kind == "stability":
            for i, j, cap, mentee_side, mentor_side in stability_terms(x, model):
                blocks = cp.new_bool_var(f"blocks_{i}_{j}")
                cp.add(cap * cp_model.LinearExpr.sum(mentee_side) + cp_model.LinearExpr.sum(mentor_side)
                       + cap * blocks >= cap)
                blocking.append((i, j, blocks))
            cp.minimize(cp_model.LinearExpr.sum([b for _, _, b in blocking]))
        elif objective is not None:
            count = cp_model.LinearExpr.sum([x[r] for r in objective.rows.tolist()])
            cp.maximize(count) if maximise else cp.minimize(count)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1  # deterministic, as every solve of the engine
        solver.parameters.catch_sigint_signal = False
        solver.parameters.max_time_in_seconds = max(0.01, self.deadline - time.monotonic())
        watcher = watch(self.stop, solver)
        try:
            code = solver.solve(cp)
        finally:
            watcher.set()
        if code == cp_model.INFEASIBLE:
            return False, 0, []
        if code != cp_model.OPTIMAL and (objective is not None or code != cp_model.FEASIBLE):
            self.undecided = True
            return None, 0, []
        value = round(solver.objective_value) if objective is not None else 0
        pairs = [(i, j) for i, j, b in blocking if solver.value(b)]
        return True, value, pairs


    def _by_flow(self, items: Sequence[_Item], objective: _Item | None, maximise: bool
                 ) -> tuple[bool | None, int, list[tuple[int, int]]] | None:
        """The same answer by min-cost flow where that is exact: pins, caps and at most one quota (no
        stability), and then an objective only without a quota. None where CP-SAT must answer.

        Without a quota, the pins alone (within the caps) are a valid matching: every count is smallest there.
        The most pairs of some rows under pins and caps is a flow of weight 1 on those rows."""
        kinds = [i.kind for i in items]
        quotas = [i for i in items if i.kind in ("quota_min", "quota_max")]
        if "stability" in kinds or len(quotas) > 1 or (objective is not None and (objective.kind == "stability"
                                                                                  or quotas)):
            return None
        model = self.model
        pinned = np.array(sorted(int(i.rows[0]) for i in items if i.kind == "pin"), dtype=np.int64)
        caps = [i for i in items if i.kind == "cap"]
        if any(int(np.isin(cap.rows, pinned).sum()) > cap.bound for cap in caps):
            return False, 0, []
        org_caps = np.full(len(model.org_caps), model.n_rows + 1, dtype=np.int64)
        for cap in caps:
            org_caps[cap.org] = cap.bound
        # Seat costs would make a second seat cost more than the pair it seats counts: counting ignores them.
        sub = replace(model, pinned_rows=pinned, org_caps=org_caps, seat_cost=0, max_seat_cost=0)

        def most(rows: IntArray) -> int:
            weights = np.zeros(model.n_rows, dtype=np.int64)
            weights[rows] = 1
            return int(np.isin(flow_optimum(sub, weights, stop=self.stop), rows).sum())

        if objective is None:
            if not quotas:
                return True, 0, []
            quota = quotas[0]
            if quota.kind == "quota_min":
                return most(quota.rows) >= quota.bound, 0, []
            return int(np.isin(quota.rows, pinned).sum()) <= quota.bound, 0, []
        if maximise:
            return True, most(objective.rows), []
        return True, int(np.isin(objective.rows, pinned).sum()), []


def _groups(keys: IntArray) -> list[list[int]]:
    out: dict[int, list[int]] = {}
    for r, key in enumerate(keys.tolist()):
        out.setdefault(key, []).append(r)
    return list(out.values())


def _items(model: AssignmentModel, stable: bool) -> list[_Item]:
    """Every constraint that can take part in a conflict, in the order the deletion filter drops them: pins and
    caps first, so that a conflict is blamed on the quotas and stability where they take part."""
    cohort = model.candidates.cohort
    out = []
    for r in model.pinned_rows.tolist():
        a, b = cohort.mentees[int(model.mentee[r])].id, cohort.mentors[int(model.mentor[r])].id
        out.append(_Item("pin", np.array([r], dtype=np.int64), 1, f"the pin {a}-{b}"))
    pair_org = model.mentor_org[model.mentor]
    for k, (org, cap) in enumerate(zip(sorted(cohort.rules.organisation_cap_map), model.org_caps.tolist(),
                                       strict=True)):
        rows = np.flatnonzero(pair_org == k).astype(np.int64)
        if len(rows) > cap:
            out.append(_Item("cap", rows, int(cap), f"the organisation cap of {org} ({cap})", org=k))
    pair_gender = model.mentor_gender[model.mentor]
    for gender, low, high in model.quotas:
        rows = np.flatnonzero(pair_gender == gender).astype(np.int64)
        if high is not None and high < len(rows):
            out.append(_Item("quota_max", rows, high, f"the gender quota {_GENDER[gender]} max_pairs {high}",
                             _GENDER[gender]))
        if low > 0:
            out.append(_Item("quota_min", rows, low, f"the gender quota {_GENDER[gender]} min_pairs {low}",
                             _GENDER[gender]))
    if stable:
        out.append(_Item("stability", np.zeros(0, dtype=np.int64), 0, "stability"))
    return out


def diagnose_infeasible(model: AssignmentModel, *, stable: bool, time_limit_s: float = 20.0,
                        stop: threading.Event | StopToken | None = None) -> tuple[str, ...]:
    """Notes for an INFEASIBLE solve: which constraints cannot hold together, and what is attainable instead.

    Exact: every number is a proven CP-SAT optimum over the same candidate pairs, capacities and the other
    constraints. Empty when the constraints do hold (the infeasibility lies elsewhere, e.g. in re-matching's own
    constraints); a note says so when the time ran out before the answer was proven.
    """
    checker = _Checker(model, time.monotonic() + time_limit_s, stop)
    items = _items(model, stable)
    holds, _, _ = checker.run(items)
    if holds is not False:
        return ("the diagnosis ran out of time before finding which constraints conflict",) if holds is None else ()
    core = list(items)
    for item in items:
        rest = [i for i in core if i is not item]
        holds, _, _ = checker.run(rest)
        if holds is False:
            core = rest
        elif holds is None:
            break
    labels = [i.label for i in core]
    head = (f"no matching meets every rule: {labels[0]} cannot be met" if len(core) == 1 else
            f"no matching meets every rule: {_joined(labels)} cannot all hold together")
    notes = [head]
    for item in core:
        others = [i for i in items if i is not item]
        partners = [i.label for i in core if i is not item]
        if checker.run(others)[0] is True:  # everything else can hold: what it allows is under all of it
            within = others
            under = "under the other rules" + (f" ({_joined(partners)} among them)" if partners else "")
        else:
            within = [i for i in core if i is not item]
            under = f"together with {_joined(partners)}" if partners else "under the hard rules"
        note = _attainable(checker, item, within, under)
        if note:
            notes.append(note)
    if checker.undecided:
        notes.append("the diagnosis ran out of time: the conflict named may not be the smallest")
    return tuple(notes)


def _attainable(checker: _Checker, item: _Item, within: list[_Item], under: str) -> str:
    cohort = checker.model.candidates.cohort
    if item.kind == "pin":
        return (f"without {item.label} every other rule can hold" if under.startswith("under the other") else
                f"{item.label} cannot hold {under}")
    if item.kind == "stability":
        holds, fewest, pairs = checker.run(within, objective=item)
        if holds is not True:
            return ""
        named = ", ".join(f"{cohort.mentees[i].id}-{cohort.mentors[j].id}" for i, j in pairs[:8])
        return (f"no stable matching exists {under}: every matching has at least {fewest} blocking pair(s)"
                + (f" (a matching with that few: {named})" if named else ""))
    maximise = item.kind == "quota_min"
    holds, best, _ = checker.run(within, objective=item, maximise=maximise)
    if holds is not True:
        return ""
    if item.kind == "quota_min":
        return (f"{item.label} cannot be met: at most {best} pair(s) with a mentor of gender "
                f"{item.gender} are possible {under}")
    if item.kind == "quota_max":
        return (f"{item.label} cannot be met: at least {best} pair(s) with a mentor of gender "
                f"{item.gender} are forced {under}")
    return f"{item.label} cannot be met: at least {best} mentee(s) must be matched to its mentors {under}"


def _joined(labels: Sequence[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
