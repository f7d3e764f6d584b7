"""Meetings into rounds and tables: a bipartite edge colouring with equal rounds, and table numbers.

Any set of meetings in which nobody has more than R meetings fits into R rounds (König: a bipartite graph of
maximum degree R has a proper R-edge-colouring); swapping colours along alternating paths then evens the rounds
out until they differ by at most one meeting (de Werra), so at most R x T meetings fit into T tables a round.
Everything runs in a fixed order, so the same meetings always get the same rounds and tables.
"""

from __future__ import annotations

import numpy as np

from solver.candidates import IntArray


def _walk(at: list[dict[int, int]], ends: list[tuple[int, int]], start: int, first: int, second: int) -> list[int]:
    """The meetings of the path from `start` that alternates colours `first`, `second`, `first`, ..."""
    path, vertex, colour = [], start, first
    while colour in at[vertex]:
        meeting = at[vertex][colour]
        path.append(meeting)
        a, b = ends[meeting]
        vertex = b if vertex == a else a
        colour = second if colour == first else first
    return path


def _swap(at: list[dict[int, int]], ends: list[tuple[int, int]], colour: list[int], path: list[int],
          first: int, second: int) -> None:
    """Exchange colours `first` and `second` on the meetings of `path` (an alternating path: stays proper)."""
    for meeting in path:
        for vertex in ends[meeting]:
            del at[vertex][colour[meeting]]
    for meeting in path:
        colour[meeting] = second if colour[meeting] == first else first
        for vertex in ends[meeting]:
            at[vertex][colour[meeting]] = meeting


def assign_rounds(mentee: IntArray, mentor: IntArray, n_mentees: int, n_mentors: int, rounds: int) -> IntArray:
    """A round (0-based) for each meeting (mentee[k], mentor[k]): nobody twice in a round, and rounds of equal
    size up to one. Raises ValueError when someone has more than `rounds` meetings."""
    loads = np.concatenate([np.bincount(mentee, minlength=n_mentees), np.bincount(mentor, minlength=n_mentors)])
    if len(mentee) and int(loads.max()) > rounds:
        raise ValueError(f"someone has {int(loads.max())} meetings, more than the {rounds} rounds")
    ends = [(int(a), n_mentees + int(b)) for a, b in zip(mentee.tolist(), mentor.tolist(), strict=True)]
    at: list[dict[int, int]] = [{} for _ in range(n_mentees + n_mentors)]  # per person: round -> meeting
    colour = [-1] * len(ends)
    for meeting, (u, v) in enumerate(ends):
        a = next(c for c in range(rounds) if c not in at[u])
        b = next(c for c in range(rounds) if c not in at[v])
        if a in at[v]:
            # Round a is free for u but not v, b free for v: flip the a/b path from v. It cannot reach u (in a
            # bipartite graph it enters u's side by a-coloured meetings, and u has none), so a becomes free at v.
            _swap(at, ends, colour, _walk(at, ends, v, a, b), a, b)
        colour[meeting] = a
        at[u][a] = at[v][a] = meeting
    _balance(at, ends, colour, rounds)
    size = np.bincount(np.array(colour, dtype=np.int64), minlength=rounds)
    # Fuller rounds first (the empty tables, if any, come at the end); equal rounds keep their order.
    order = np.argsort(-size, kind="stable")
    renumber = np.empty(rounds, dtype=np.int64)
    renumber[order] = np.arange(rounds)
    return renumber[np.array(colour, dtype=np.int64)] if ends else np.zeros(0, dtype=np.int64)


def _balance(at: list[dict[int, int]], ends: list[tuple[int, int]], colour: list[int], rounds: int) -> None:
    """Move meetings from the fullest round to the emptiest until they differ by at most one.

    The meetings of two rounds form paths and even cycles; a path that starts and ends in the fuller round has
    one meeting more there, and swapping its colours moves one meeting across. Each swap lowers the sum of the
    squared round sizes, so this ends.
    """
    while True:
        size = np.bincount(np.array(colour, dtype=np.int64), minlength=rounds) if colour else np.zeros(rounds)
        big, small = int(np.argmax(size)), int(np.argmin(size))
        if size[big] - size[small] <= 1:
            return
        for vertex in range(len(at)):
            if big in at[vertex] and small not in at[vertex]:
                path = _walk(at, ends, vertex, big, small)
                if len(path) % 2 == 1:
                    _swap(at, ends, colour, path, big, small)
                    break
        else:  # not reached: the counting argument above guarantees such a path
            raise RuntimeError("could not even out the rounds")


def assign_tables(rounds_of: IntArray, mentor: IntArray, tables: int | None) -> IntArray:
    """A table (1-based) for each meeting: no two meetings of a round at one table.

    With enough tables for every mentor who meets someone, each keeps one table all evening (numbered in mentor
    order): mentors stay seated and mentees move. Otherwise tables are handed out round by round, a mentor
    keeping the table of her previous meeting when it is free, the others taking the lowest free ones in mentor
    order.
    """
    table = np.zeros(len(mentor), dtype=np.int64)
    seated = np.unique(mentor)
    if tables is None or len(seated) <= tables:
        table[:] = np.searchsorted(seated, mentor) + 1
        return table
    last: dict[int, int] = {}
    for r in range(int(rounds_of.max(initial=-1)) + 1):
        here = np.flatnonzero(rounds_of == r)
        here = here[np.argsort(mentor[here], kind="stable")]
        taken: set[int] = set()
        waiting = []
        for k in here.tolist():
            previous = last.get(int(mentor[k]))
            if previous is not None and previous not in taken:
                table[k] = previous
                taken.add(previous)
            else:
                waiting.append(k)
        free = (t for t in range(1, len(here) + len(taken) + 1) if t not in taken)
        for k in waiting:
            table[k] = next(free)
        for k in here.tolist():
            last[int(mentor[k])] = int(table[k])
    return table
