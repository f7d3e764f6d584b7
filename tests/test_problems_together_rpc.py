"""Every problem at once, over a real gRPC server on loopback (an outside review of the platform): a problem that
hid another until it was fixed (an unreadable decision hid its unknown mentee; `no_distance_limit` hid a NaN
`max_distance_km` beside it), and labels that are echoed into outcomes and reports refused when they hold a
control character or one that prints as nothing or turns the text around, as the README says. The expected
problems are those the README's rules name, one per wrong field, at the field's request path."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import sweep_pb2 as spb
from server.client import MentormatchClient, RemoteError
from server.convert import cohort_to_proto
from solver.domain import Cohort, Rules
from tests.cli_support import run_cli
from tests.conftest import mentee, mentor

ROOT = Path(__file__).resolve().parent.parent
BUSINESS = ROOT / "scenarios" / "copenhagen_business"


@pytest.fixture(scope="module")
def pairs() -> Cohort:
    """Three mentors and three mentees a kilometre apart; the rules pin E1 to M1."""
    return Cohort(tuple(mentor(f"M{j}", km_north=j) for j in range(3)),
                  tuple(mentee(f"E{j}", km_north=j + 0.2) for j in range(3)),
                  rules=Rules(max_distance_km=20.0, pins=(("E1", "M1"),)), name="pairs")


def _refused(call: object) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code.name == "INVALID_ARGUMENT"
    return caught.value


def _codes(error: RemoteError) -> list[tuple[str, str]]:
    """(field path, code) of every violation, in the order sent."""
    return [(path, text.split(":", 1)[0]) for path, text in error.violations]


# --- a decision's ids are checked whatever its verdict ----------------------------------------------------------


def test_a_decisions_unknown_mentee_comes_with_its_unreadable_verdict_and_later_decisions_keep_their_paths(
        client: MentormatchClient, pairs: Cohort) -> None:
    msg = cohort_to_proto(pairs)
    msg.decisions.add(mentee_id="ghost", mentor_id="M0")  # decision and by UNSPECIFIED, and nobody called ghost
    msg.decisions.add(mentee_id="E0", mentor_id="M0", decision=9, by=9)  # numbers the contract does not know
    msg.decisions.add(mentee_id="nobody", mentor_id="M2", decision=pb.VERDICT_ACCEPTED, by=pb.DECIDED_BY_MENTEE)
    # An unreadable decision on the pinned pair E1-M1, and one beside it: neither pins nor bans anything, so no
    # "pinned and banned" or "already pinned" problem is made up from a value nobody sent.
    msg.decisions.add(mentee_id="E1", mentor_id="M1", decision=7, by=pb.DECIDED_BY_MENTOR)
    msg.decisions.add(mentee_id="E1", mentor_id="M2", decision=pb.VERDICT_ACCEPTED, by=8)
    expected = {
        ("cohort.decisions[0].decision", "BAD_VALUE"), ("cohort.decisions[0].by", "BAD_VALUE"),
        ("cohort.decisions[0].mentee_id", "UNKNOWN_ID"),
        ("cohort.decisions[1].decision", "BAD_VALUE"), ("cohort.decisions[1].by", "BAD_VALUE"),
        ("cohort.decisions[2].mentee_id", "UNKNOWN_ID"),  # its own place, not that of the first one read
        ("cohort.decisions[3].decision", "BAD_VALUE"), ("cohort.decisions[4].by", "BAD_VALUE"),
    }
    refused = _refused(lambda: client.match(msg))
    assert refused.reason == "COHORT_INVALID"
    assert set(_codes(refused)) == expected and len(refused.violations) == len(expected), refused.violations
    assert "'ghost'" in dict(refused.violations)["cohort.decisions[0].mentee_id"]
    checked = client.match(msg, validate_only=True)
    assert {(p.field_path, mpb.ProblemCode.Name(p.code).removeprefix("PROBLEM_CODE_"))
            for p in checked.problems} == expected
    # Once read, a decision pins: the accepted E1-M2 with its `by` fixed is E1's second pin beside E1-M1.
    msg.decisions[4].by = pb.DECIDED_BY_MENTOR
    codes = {mpb.ProblemCode.Name(p.code) for p in client.match(msg, validate_only=True).problems}
    assert "PROBLEM_CODE_CONFLICTING_PINS" in codes, codes


# --- a distance limit lifted and given: both problems at once -----------------------------------------------------


@pytest.mark.parametrize("km", [math.nan, math.inf, -5.0, 0.0])
def test_a_what_if_that_lifts_the_limit_and_gives_a_wrong_one_gets_both_problems(
        client: MentormatchClient, pairs: Cohort, km: float) -> None:
    both = mpb.Scenario(label="both", rules=mpb.RuleChanges(max_distance_km=km, no_distance_limit=True),
                        remove=["ghost"])
    alone = mpb.Scenario(label="alone", rules=mpb.RuleChanges(max_distance_km=km))
    refused = _refused(lambda: client.compare_scenarios(pairs, [both, alone]))
    assert refused.reason == "SCENARIO_INVALID"
    assert set(_codes(refused)) == {("scenarios[0].remove[0]", "UNKNOWN_ID"),
                                    ("scenarios[0].rules.no_distance_limit", "BAD_VALUE"),
                                    ("scenarios[0].rules.max_distance_km", "INVALID_RULE"),
                                    ("scenarios[1].rules.max_distance_km", "INVALID_RULE")}, refused.violations
    # A good distance beside no_distance_limit is the one problem of the pair.
    fine = mpb.Scenario(label="fine", rules=mpb.RuleChanges(max_distance_km=25.0, no_distance_limit=True))
    refused = _refused(lambda: client.compare_scenarios(pairs, [fine]))
    assert _codes(refused) == [("scenarios[0].rules.no_distance_limit", "BAD_VALUE")]


def test_a_sweep_value_and_the_cohorts_rules_that_lift_the_limit_and_give_nan_get_both_problems(
        client: MentormatchClient, pairs: Cohort) -> None:
    value = mpb.Scenario(label="none", rules=mpb.RuleChanges(max_distance_km=math.nan, no_distance_limit=True))
    axis = spb.SweepAxis(rule="max_distance_km", values=[mpb.Scenario(rules=mpb.RuleChanges(max_distance_km=10.0)),
                                                         value])
    refused = _refused(lambda: list(client.sweep(spb.SweepRequest(cohort=cohort_to_proto(pairs), axes=[axis]))))
    assert set(_codes(refused)) == {("axes[0].values[1].rules.no_distance_limit", "BAD_VALUE"),
                                    ("axes[0].values[1].rules.max_distance_km", "INVALID_RULE")}, refused.violations
    msg = cohort_to_proto(pairs)
    msg.rules.no_distance_limit = True
    msg.rules.max_distance_km = math.nan
    found = [(p.field_path, mpb.ProblemCode.Name(p.code)) for p in client.match(msg, validate_only=True).problems]
    assert sorted(found) == [("cohort.rules.max_distance_km", "PROBLEM_CODE_BAD_VALUE"),  # both set
                             ("cohort.rules.max_distance_km", "PROBLEM_CODE_INVALID_RULE")], found  # NaN


# --- labels echoed into outcomes are plain text -------------------------------------------------------------------


def test_what_if_labels_with_control_or_direction_characters_are_refused_before_solving(
        client: MentormatchClient, pairs: Cohort) -> None:
    red = mpb.Scenario(label="a\x1b[31mred\u202e", description="one\u2028two", remove=["nobody"])
    quiet = mpb.Scenario(label="E\u200b1 gone", remove=["E0"])
    refused = _refused(lambda: client.compare_scenarios(pairs, [red, quiet]))
    assert refused.reason == "SCENARIO_INVALID"
    assert set(_codes(refused)) == {("scenarios[0].label", "BAD_VALUE"), ("scenarios[0].description", "BAD_VALUE"),
                                    ("scenarios[0].remove[0]", "UNKNOWN_ID"), ("scenarios[1].label", "BAD_VALUE")}
    found = dict(refused.violations)
    assert "'\\x1b'" in found["scenarios[0].label"] and "\x1b" not in found["scenarios[0].label"]
    assert "U+2028" in found["scenarios[0].description"] and "U+200B" in found["scenarios[1].label"]
    # Letters of any script, punctuation and emoji are plain text: echoed back as sent.
    label = "Århus 25 km – ønske «B1» 🙂 [bold]x"
    answer = client.compare_scenarios(pairs, [mpb.Scenario(label=label, description="Aarhus: længere væk",
                                                           rules=mpb.RuleChanges(max_distance_km=25.0))])
    assert [o.label for o in answer.scenarios] == [label]


def test_a_base_label_with_a_direction_override_is_refused(client: MentormatchClient, pairs: Cohort) -> None:
    refused = _refused(lambda: client.compare_scenarios(pairs, [mpb.Scenario(label="x")], base_label="b\u202e"))
    assert _codes(refused) == [("base_label", "BAD_VALUE")]


def test_sweep_axis_names_and_value_labels_and_the_cohort_name_are_plain_text(
        client: MentormatchClient, pairs: Cohort) -> None:
    axis = spb.SweepAxis(rule="distance\x07", values=[
        mpb.Scenario(label="10 km", rules=mpb.RuleChanges(max_distance_km=10.0)),
        mpb.Scenario(label="\u202e20 km", rules=mpb.RuleChanges(max_distance_km=20.0))])
    refused = _refused(lambda: list(client.sweep(spb.SweepRequest(cohort=cohort_to_proto(pairs), axes=[axis]))))
    assert refused.reason == "SWEEP_INVALID"
    assert set(_codes(refused)) == {("axes[0].rule", "BAD_VALUE"), ("axes[0].values[1].label", "BAD_VALUE")}
    msg = cohort_to_proto(pairs)
    msg.name = "pairs\x1b[2J"
    msg.decisions.add(mentee_id="ghost", mentor_id="M0", decision=pb.VERDICT_DECLINED, by=pb.DECIDED_BY_MENTOR)
    refused = _refused(lambda: client.match(msg))
    assert set(_codes(refused)) == {("cohort.name", "BAD_VALUE"), ("cohort.decisions[0].mentee_id", "UNKNOWN_ID")}


# --- the command line shares the checks -----------------------------------------------------------------------


def test_cli_what_if_and_grid_files_get_the_same_problems_at_once(tmp_path: Path) -> None:
    whatif = tmp_path / "both.toml"
    whatif.write_text(f'label = "both"\ncohort = "{BUSINESS}"\n[rules]\nmax_distance_km = nan\n'
                      'no_distance_limit = true\nfield_depth = 9\n', encoding="utf-8")
    done = run_cli("compare", BUSINESS, whatif, "--no-counterfactuals")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    for line in ("both.toml rules.no_distance_limit: BAD_VALUE", "both.toml rules.max_distance_km: INVALID_RULE: "
                 "nan km is not a positive distance", "rules.field_depth: INVALID_RULE: field depth 9"):
        assert line in done.stderr, (line, done.stderr)
    grid = tmp_path / "grid.toml"
    grid.write_text('label = "Lyngby \\u001b[31m"\ndescription = "x\\u202e"\n[axes]\nfield_depth = [9]\n',
                    encoding="utf-8")
    done = run_cli("sweep", BUSINESS, "--grid", grid, "--sequential")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "\x1b" not in done.stderr and "\u202e" not in done.stderr
    assert "'\\x1b'" in done.stderr and "U+202E" in done.stderr, done.stderr
    assert "field depth 9 is not 0..4" in done.stderr  # the values are checked beside the label, not after it


def test_a_what_if_with_two_caps_for_one_organisation_is_refused_not_merged(client: MentormatchClient,
                                                                             pairs: Cohort) -> None:
    """The contract allows one cap per organisation; a what-if giving two had the last one win silently."""
    two = mpb.Scenario(label="two caps", rules=mpb.RuleChanges(organisation_caps=[
        pb.OrganisationCap(organisation="Acme", max_mentees=1), pb.OrganisationCap(organisation="Other", max_mentees=2),
        pb.OrganisationCap(organisation="Acme", max_mentees=3)]))
    refused = _refused(lambda: client.compare_scenarios(pairs, [two]))
    assert _codes(refused) == [("scenarios[0].rules.organisation_caps[2]", "INVALID_RULE")], refused.violations
    one = mpb.Scenario(label="one cap", rules=mpb.RuleChanges(organisation_caps=[
        pb.OrganisationCap(organisation="Acme", max_mentees=1)]))
    assert [s.label for s in client.compare_scenarios(pairs, [one]).scenarios] == ["one cap"]


def test_rematch_current_pairs_with_an_empty_id_are_refused_with_the_other_rows_problems(
        client: MentormatchClient, pairs: Cohort) -> None:
    refused = _refused(lambda: client.rematch(pairs, [("E0", "M0"), ("", "M1"), ("E2", "M9")]))
    assert set(_codes(refused)) == {("current_pairs[1].mentee_id", "EMPTY_ID"),
                                    ("current_pairs[2].mentor_id", "UNKNOWN_ID")}, refused.violations
