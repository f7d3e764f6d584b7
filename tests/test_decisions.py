"""Decisions fed back: accepted pairs fixed, declined ones ruled out (saying who declined), the next matching for
the people still open; the loop ends when everyone is matched or explained, under random answers."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from solver.decisions import DecideResult, accepted_pairs, add_decisions, decide, declined_pairs
from solver.domain import Cohort, DecidedBy, Decision, Verdict
from solver.errors import CohortInvalid, ProblemCode
from solver.explain import UnmatchedReason
from solver.ingest import load_cohort
from solver.scores import candidate_pairs
from tests.conftest import mentee, mentor
from tests.oracle import random_cohort
from tests.test_year import run

ROOT = Path(__file__).resolve().parent.parent
Q2 = ROOT / "scenarios" / "ibmp_year" / "q2"


def test_a_pair_declined_by_anyone_is_declined_and_an_accepted_one_is_fixed() -> None:
    decisions = (Decision("T1", "M1", Verdict.ACCEPTED, DecidedBy.MENTEE),
                 Decision("T1", "M1", Verdict.DECLINED, DecidedBy.MENTOR),
                 Decision("T2", "M2", Verdict.ACCEPTED, DecidedBy.COORDINATOR))
    assert declined_pairs(decisions) == {("T1", "M1"): DecidedBy.MENTOR}
    assert accepted_pairs(decisions) == {("T2", "M2"): DecidedBy.COORDINATOR}
    cohort = Cohort((mentor("M1"), mentor("M2", km_north=20)), (mentee("T1"), mentee("T2")))
    merged, result, _ = decide(cohort, decisions)
    assert merged.rules.pins == (("T2", "M2"),) and merged.rules.bans == (("T1", "M1"),)
    assert [(p.mentee_id, p.mentor_id) for p in result.accepted] == [("T2", "M2")]
    assert result.proposed == [] and result.done  # T1's only other mentor is taken by the accepted pair
    assert result.declined == [("T1", "M1", "mentor")]
    assert [(u.mentee_id, u.reason) for u in result.unmatched] == [("T1", "CANDIDATES_ALL_TAKEN")]
    # Applying the same decisions again changes nothing.
    assert add_decisions(merged, ()) == merged


def test_decisions_about_unknown_people_are_problems() -> None:
    cohort = Cohort((mentor("M1"),), (mentee("T1"),))
    with pytest.raises(CohortInvalid) as caught:
        decide(cohort, (Decision("T1", "M9", Verdict.DECLINED, DecidedBy.MENTEE),
                        Decision("M1", "T1", Verdict.ACCEPTED, DecidedBy.MENTOR)))
    assert sorted((p.code, p.path) for p in caught.value.problems) == [
        (ProblemCode.UNKNOWN_ID, "decisions[0].mentor_id"), (ProblemCode.UNKNOWN_ID, "decisions[1].mentee_id"),
        (ProblemCode.UNKNOWN_ID, "decisions[1].mentor_id")]


def simulate(cohort: Cohort, seed: int, accept: float = 0.55) -> tuple[list[tuple[DecideResult, Cohort]], Cohort]:
    """People answer each proposal at random (seeded): both accept, or the mentee, the mentor or the coordinator
    declines. Rounds until nothing is left to answer; each round with the cohort (and decisions) it was solved on."""
    rng = random.Random(seed)
    allowed = len(candidate_pairs(cohort))
    rounds: list[tuple[DecideResult, Cohort]] = []
    answers: tuple[Decision, ...] = ()
    for _ in range(allowed + len(cohort.mentees) + 2):  # each round pins or bans at least one pair for good
        cohort, result, _ = decide(cohort, answers)
        rounds.append((result, cohort))
        if result.done:
            return rounds, cohort
        answers = ()
        for p in result.proposed:
            if rng.random() < accept:
                answers += (Decision(p.mentee_id, p.mentor_id, Verdict.ACCEPTED, DecidedBy.MENTEE),
                            Decision(p.mentee_id, p.mentor_id, Verdict.ACCEPTED, DecidedBy.MENTOR))
            else:
                by = rng.choice([DecidedBy.MENTEE, DecidedBy.MENTEE, DecidedBy.MENTOR, DecidedBy.COORDINATOR])
                answers += (Decision(p.mentee_id, p.mentor_id, Verdict.DECLINED, by),)
    raise AssertionError(f"no end after {len(rounds)} rounds")


@pytest.mark.parametrize("seed", range(6))
def test_the_loop_ends_with_everyone_matched_or_explained(seed: int) -> None:
    cohort = random_cohort(random.Random(seed), 12, 10)
    rounds, final = simulate(cohort, seed)
    last = rounds[-1][0]
    assert last.done and last.proposed == []
    accepted = accepted_pairs(final.decisions)
    # Every matched pair is one both accepted; every mentee left has a reason.
    assert {(p.mentee_id, p.mentor_id) for p in last.accepted} == set(accepted)
    matched = {p.mentee_id for p in last.accepted}
    assert {u.mentee_id for u in last.unmatched} == {m.id for m in final.mentees} - matched
    assert all(u.reason in {r.value for r in UnmatchedReason} and u.message for u in last.unmatched)
    # A pair declined so far is never proposed again; one accepted so far is in the matching of every round.
    for result, solved_on in rounds:
        shown = {(p.mentee_id, p.mentor_id) for p in [*result.accepted, *result.proposed]}
        assert not shown & set(declined_pairs(solved_on.decisions))
        assert set(accepted_pairs(solved_on.decisions)) <= shown
    assert len(rounds) >= 2  # at least the proposals and the round that finds nothing left to answer
    # Same seed, same rounds.
    again, _ = simulate(cohort, seed)
    assert [(r.accepted, r.proposed, r.declined) for r, _ in again] == [(r.accepted, r.proposed, r.declined)
                                                                         for r, _ in rounds]


def test_declines_pile_up_until_a_mentee_is_explained_by_them() -> None:
    """Everybody declines: the loop ends with nobody matched and every mentee ALL_BANNED, saying who declined."""
    cohort = Cohort(tuple(mentor(f"M{j}", km_north=j) for j in range(3)),
                    tuple(mentee(f"T{i}", km_north=i / 2) for i in range(4)))
    rounds, final = simulate(cohort, 7, accept=0.0)
    last = rounds[-1][0]
    assert last.accepted == [] and len(rounds) == 5  # 3 proposals a round, 12 allowed pairs: 3, 3, 3, 3, none
    banned = [u for u in last.unmatched if u.reason == "ALL_BANNED"]
    assert banned and all("declined:" in u.message for u in banned)
    assert len(declined_pairs(final.decisions)) == sum(len(r.proposed) for r, _ in rounds)


def test_decide_keeps_the_running_pairs_of_a_rolling_intake() -> None:
    q2 = load_cohort(Q2)
    _, result, _ = decide(q2)
    running = {(h.mentee_id, h.mentor_id) for h in q2.history if not h.finished}
    kept = {(p.mentee_id, p.mentor_id) for p in result.running}
    assert kept == running - {("E0005", "M0004")}  # his availability ended: that pair is not kept
    assert ("E0023", "M0013") in {(p.mentee_id, p.mentor_id) for p in result.accepted}
    assert ("E0022", "M0027") not in {(p.mentee_id, p.mentor_id) for p in result.proposed}


def _decide_round2(tmp_path: Path, answer_rows: str, out_current: str) -> tuple[Path, dict[str, Any]]:
    """A copy of the q2 cohort, `decide` on it with these decisions.csv rows, the next round written to
    tmp_path/round2 and the running pairs to tmp_path/out_current; the copy and the answer (--json)."""
    q2 = shutil.copytree(Q2, tmp_path / "q2")
    answers = tmp_path / "answers.csv"
    answers.write_text("mentee_id,mentor_id,decision,by\n" + answer_rows)
    done = run("decide", q2, "--decisions", answers, "--out", tmp_path / "round2", "--out-current",
               tmp_path / out_current, "--json")
    assert done.returncode == 0, done.stderr
    return q2, json.loads(done.stdout)


def test_decide_on_the_command_line_writes_the_next_round(tmp_path: Path) -> None:
    q2, data = _decide_round2(tmp_path, "E0024,M0006,declined,mentor\nE0001,M0021,accepted,mentee\n", "accepted.csv")
    assert ["E0024", "M0006", "mentor"] in data["declined"]
    assert {(p["mentee_id"], p["mentor_id"]) for p in data["accepted"]} == {("E0023", "M0013"), ("E0001", "M0021")}
    written = (tmp_path / "round2" / "decisions.csv").read_text().splitlines()
    assert written == ["mentee_id,mentor_id,decision,by", "E0022,M0027,declined,mentee",
                       "E0023,M0013,accepted,coordinator", "E0024,M0006,declined,mentor", "E0001,M0021,accepted,mentee"]
    # --out-current: every pair running after the decisions, the history's running pairs kept and the accepted.
    running = {tuple(line.split(",")) for line in (tmp_path / "accepted.csv").read_text().splitlines()[1:]}
    kept = {(p["mentee_id"], p["mentor_id"]) for p in data["running"]}
    assert kept and running == kept | {("E0023", "M0013"), ("E0001", "M0021")}
    nxt = load_cohort(tmp_path / "round2")
    assert ("E0024", "M0006") in nxt.rules.bans and nxt.history == load_cohort(q2).history
    # The cohort's own files are never written over.
    refused = run("decide", q2, "--out", q2)
    assert refused.returncode == 2 and "OVERWRITES_INPUT" in refused.stderr
    broken = tmp_path / "broken.csv"
    broken.write_text("mentee_id,mentor_id,decision,by\nE0024,M0006,maybe,mentor\n")
    bad = run("decide", q2, "--decisions", broken)
    assert bad.returncode == 2 and "broken.csv row 2, column decision" in bad.stderr


def running_by_mentee(history_csv: Path) -> dict[str, list[str]]:
    import csv

    out: dict[str, list[str]] = {}
    with history_csv.open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            if not row["ended"]:
                out.setdefault(row["mentee_id"], []).append(row["mentor_id"])
    return out


def test_decide_then_intake_from_files_keeps_one_running_pair_per_person(tmp_path: Path) -> None:
    """decide --out-current, then intake --current with that file and the same history: the running pairs stay
    (none is matched again as new), the accepted ones are recorded as running, and the history written holds one
    running pair per mentee, which the next intake reads without a problem."""
    q2, _ = _decide_round2(tmp_path, "E0001,M0021,accepted,mentee\n", "cur.csv")
    before = running_by_mentee(q2 / "history.csv")
    nxt = run("intake", tmp_path / "round2", "--current", tmp_path / "cur.csv", "--out-history", tmp_path / "h.csv",
              "--out-current", tmp_path / "c2.csv", "--json")
    assert nxt.returncode == 0, nxt.stderr
    changes = json.loads(nxt.stdout)["result"]["changes"]
    new = {c["mentee_id"] for c in changes if c["kind"] == "NEW"}
    kept = {(c["mentee_id"], c["mentor_id"]) for c in changes if c["kind"] == "KEPT"}
    assert not new & {m for m in before if m != "E0005"}  # E0005's mentor is no longer available: matched again
    assert ("E0001", "M0021") in kept and ("E0023", "M0013") in kept
    after = running_by_mentee(tmp_path / "h.csv")
    assert all(len(mentors) == 1 for mentors in after.values()), after
    written = {tuple(line.split(",")) for line in (tmp_path / "c2.csv").read_text().splitlines()[1:]}
    assert written == {(a, b[0]) for a, b in after.items()}
    shutil.copy(tmp_path / "h.csv", tmp_path / "round2" / "history.csv")
    again = run("intake", tmp_path / "round2")
    assert again.returncode == 0, again.stderr


def test_intake_refuses_a_current_file_that_contradicts_the_history(tmp_path: Path) -> None:
    """A --current file giving a mentee another mentor than her running pair in history.csv: exit 2, both pairs
    named, nothing written."""
    q2 = shutil.copytree(Q2, tmp_path / "q2")
    mentee_id, mentor_id = next((a, b[0]) for a, b in running_by_mentee(q2 / "history.csv").items())
    other = "M0021" if mentor_id != "M0021" else "M0022"
    current = tmp_path / "cur.csv"
    current.write_text(f"mentee_id,mentor_id\n{mentee_id},{other}\n")
    done = run("intake", q2, "--current", current, "--out-history", tmp_path / "h.csv")
    assert done.returncode == 2
    text = " ".join(done.stderr.split())
    assert f"{mentee_id}-{other} in cur.csv" in text and f"{mentee_id}-{mentor_id} in history.csv" in text
    assert not (tmp_path / "h.csv").exists()


def test_outputs_refused_with_the_data_problems_at_once(tmp_path: Path) -> None:
    """An output over an input (or two outputs on one path) is reported together with the data's problems, not
    after they are fixed."""
    q2 = shutil.copytree(Q2, tmp_path / "q2")
    history = q2 / "history.csv"
    lines = history.read_text().splitlines()
    lines[1] = lines[1].replace("dropped_out", "bogus", 1)
    history.write_text("\n".join(lines) + "\n")
    intake = run("intake", q2, "--out-history", history)
    text = " ".join(intake.stderr.split())
    assert intake.returncode == 2 and "OVERWRITES_INPUT" in text and "bogus" in text, text
    outcomes = run("outcomes", q2, "--report", history)
    text = " ".join(outcomes.stderr.split())
    assert outcomes.returncode == 2 and "OVERWRITES_INPUT" in text and "bogus" in text, text
    same = run("intake", tmp_path / "q2", "--out-current", tmp_path / "x.csv", "--out-history", tmp_path / "x.csv")
    assert same.returncode == 2 and "is also written by --out-current" in " ".join(same.stderr.split())
    assert not (tmp_path / "x.csv").exists()


def test_a_running_pair_naming_someone_gone_is_found_with_the_other_problems_by_intake_and_validate(
        tmp_path: Path) -> None:
    """history.csv with a bad outcome and a running pair naming a mentee not in the cohort: `intake` and `validate`
    report both at once, at their history.csv rows (as the spreadsheet numbers them); `--left` lets intake go."""
    q2 = shutil.copytree(Q2, tmp_path / "q2")
    history = q2 / "history.csv"
    lines = history.read_text().splitlines()
    lines[1] = lines[1].replace("dropped_out", "bogus", 1)
    row = next(k for k, line in enumerate(lines) if k and line.split(",")[3] == "")  # a running pair
    gone = lines[row].split(",")[0]
    lines[row] = "E9999" + lines[row][len(gone):]
    history.write_text("\n".join(lines) + "\n")
    for command in ("intake", "validate"):
        done = run(command, q2)
        text = " ".join(done.stderr.split())
        assert done.returncode == 2, text
        assert "history.csv row 2, column outcome" in text, text
        assert f"history.csv row {row + 1}, column mentee_id: UNKNOWN_ID" in text and "E9999" in text, text
    lines[1] = lines[1].replace("bogus", "dropped_out", 1)
    history.write_text("\n".join(lines) + "\n")
    assert run("intake", q2, "--left", "E9999").returncode == 0


def test_decision_problems_come_at_once_at_the_rows_of_the_users_file(tmp_path: Path) -> None:
    """A typo in one row and an unknown mentee in another are reported together, at their rows of the file given;
    an accepted pair the rules forbid (met in an earlier round) and a mentee accepted twice are reported at the rows
    that accepted them, not at the pins they became."""
    answers = tmp_path / "answers.csv"
    answers.write_text("mentee_id,mentor_id,decision,by\nE0001,M0021,acepted,mentee\nE9999,M0005,accepted,mentee\n")
    done = run("decide", Q2, "--decisions", answers)
    text = " ".join(done.stderr.split())
    assert done.returncode == 2 and "answers.csv row 2, column decision" in text, text
    assert "answers.csv row 3, column mentee_id: UNKNOWN_ID" in text, text
    answers.write_text("mentee_id,mentor_id,decision,by\nE0001,M0021,accepted,mentee\nE9999,M0005,accepted,mentee\n")
    done = run("decide", Q2, "--decisions", answers)
    text = " ".join(done.stderr.split())
    assert done.returncode == 2 and "answers.csv row 3, column mentee_id: UNKNOWN_ID" in text, text
    q2 = load_cohort(Q2)
    present = {m.id for m in q2.mentees} | {m.id for m in q2.mentors}
    earlier = next((h.mentee_id, h.mentor_id) for h in q2.history
                   if h.finished and {h.mentee_id, h.mentor_id} <= present and h.mentee_id != "E0026")
    answers.write_text("mentee_id,mentor_id,decision,by\n"
                       f"{earlier[0]},{earlier[1]},accepted,coordinator\nE0026,M0018,accepted,mentee\n"
                       "E0026,M0014,accepted,mentee\n")
    done = run("decide", Q2, "--decisions", answers)
    text = " ".join(done.stderr.split())
    assert done.returncode == 2 and "rules.pins" not in text, text
    assert "answers.csv row 2: PIN_BREAKS_RULE" in text, text
    assert "answers.csv row 4: CONFLICTING_PINS" in text and "pinned by answers.csv row 3" in text, text


def test_an_impossible_accept_in_the_cohorts_own_decisions_is_reported_at_its_row(tmp_path: Path) -> None:
    q2 = shutil.copytree(Q2, tmp_path / "q2")
    cohort = load_cohort(q2)
    present = {m.id for m in cohort.mentees} | {m.id for m in cohort.mentors}
    a, b = next((h.mentee_id, h.mentor_id) for h in cohort.history
                if h.finished and {h.mentee_id, h.mentor_id} <= present)
    with (q2 / "decisions.csv").open("a", encoding="utf-8") as file:
        file.write(f"{a},{b},accepted,coordinator\n")
    row = len((q2 / "decisions.csv").read_text().splitlines())
    done = run("validate", q2)
    text = " ".join(done.stderr.split())
    assert done.returncode == 2 and f"decisions.csv row {row}: PIN_BREAKS_RULE" in text and "pins[" not in text, text
