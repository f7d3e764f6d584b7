"""CompareScenarios: `Scenario` messages <-> the engine's what-if changes, and comparisons -> the answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server.convert.messages import to_message
from server.convert.options import duration
from server.convert.origins import RequestOrigins, filtered_paths
from server.convert.problems import problem_message, proto_code
from solver.cohort_proto import (
    TRACK_FROM_PROTO,
    TRACK_TO_PROTO,
    WEIGHT_NAMES,
    WEIGHTS_DEFAULT,
    ProtoReader,
    gender_to_proto,
    mentee_to_proto,
    mentor_to_proto,
)
from solver.cohort_warnings import cohort_warnings
from solver.compare import (
    Comparison,
    Scenario,
    ScenarioChanges,
    ScenarioOutcome,
    apply_changes,
    density_problem,
    label_problems,
    may_densify,
)
from solver.domain import Cohort, Track
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.rules_toml import RULE_KEYS, rules_from_mapping
from solver.stop import StopToken

MAX_SCENARIOS = 20
"""What-if scenarios one CompareScenarios call takes (the base not counted)."""
DEFAULT_BASE_LABEL = "base"

_RULE_CHANGE_FIELDS = frozenset(f.name for f in mpb.RuleChanges.DESCRIPTOR.fields)


def _rule_overrides(msg: mpb.RuleChanges, reader: ProtoReader, path: str) -> dict[str, Any]:
    """A `RuleChanges` as the rules.toml keys `solver.compare.ScenarioChanges.rules` takes."""
    out: dict[str, Any] = {}
    for name in ("max_distance_km", "field_depth", "min_mentor_years", "gender_requests_hard", "max_travel_minutes"):
        if msg.HasField(name):
            out[name] = getattr(msg, name)
    if msg.no_distance_limit:
        out["no_distance_limit"] = True
    if msg.HasField("min_language_level"):
        out["min_language_level"] = reader.level(msg.min_language_level)
    lists: tuple[tuple[str, str, list[Any]], ...] = (
        ("eligible_municipalities", "any_municipality", list(msg.eligible_municipalities)),
        ("eligible_tracks", "any_track", [
            reader.enum(TRACK_FROM_PROTO, t, Track.UNSPECIFIED, f"{path}.eligible_tracks[{j}]", "track").value
            for j, t in enumerate(msg.eligible_tracks)]),
        ("gender_quotas", "no_gender_quotas", [
            {"gender": reader.gender(q.gender), "min_pairs": q.min_pairs,
             "max_pairs": q.max_pairs if q.HasField("max_pairs") else None} for q in msg.gender_quotas]),
    )
    for key, flag, values in lists:
        if values and getattr(msg, flag):
            reader.bad(f"{path}.{flag}", f"set together with {key}; leave one of them out")
        if values or getattr(msg, flag):
            out[key] = values
    if msg.organisation_caps:
        caps: dict[str, int] = {}
        first: dict[str, int] = {}
        for j, cap in enumerate(msg.organisation_caps):
            if cap.organisation in first:  # one cap per organisation, as in the cohort's rules (none wins silently)
                reader.problems.append(Problem(
                    ProblemCode.INVALID_RULE, f"{path}.organisation_caps[{j}]",
                    f"a second cap for '{cap.organisation}' (the first is {path}.organisation_caps"
                    f"[{first[cap.organisation]}]): give one cap per organisation"))
            first.setdefault(cap.organisation, j)
            caps[cap.organisation] = cap.max_mentees
        out["organisation_caps"] = caps
    if msg.no_pins:
        out["pins"] = []
    if msg.no_bans:
        out["bans"] = []
    order = {key: k for k, key in enumerate(RULE_KEYS)}  # a fixed order: the changes are described in it
    return dict(sorted(out.items(), key=lambda item: order.get(item[0], len(order))))


def scenario_changes_from_proto(msg: mpb.Scenario, path: str) -> tuple[ScenarioChanges, list[Problem]]:
    """The library's `ScenarioChanges` of a `Scenario` message, and the problems the domain cannot hold
    (an unknown enum number, a missing location, two contradicting fields), at request paths under `path`."""
    reader = ProtoReader()
    weights = {name: getattr(msg.weights, name) for name in WEIGHT_NAMES
               if msg.weights.HasField(name)}  # type: ignore[arg-type]
    changes = ScenarioChanges(
        rules=_rule_overrides(msg.rules, reader, f"{path}.rules"),
        weights=weights,
        add_mentors=tuple(reader.mentor(m, f"{path}.add_mentors[{j}]") for j, m in enumerate(msg.add_mentors)),
        add_mentees=tuple(reader.mentee(m, f"{path}.add_mentees[{j}]") for j, m in enumerate(msg.add_mentees)),
        remove=tuple(msg.remove),
        absent_organisations=tuple(msg.absent_organisations),
        add_pins=tuple((p.mentee_id, p.mentor_id) for p in msg.add_pins),
        add_bans=tuple((p.mentee_id, p.mentor_id) for p in msg.add_bans),
    )
    return changes, reader.problems


def _scenario_origins(base: Cohort, changes: ScenarioChanges, msg: mpb.Scenario, scope: str) -> RequestOrigins:
    """Where each element of `apply_changes(base, changes)` comes from (the order `solver.compare` builds it in)."""
    gone = set(changes.remove) | {m.id for m in base.mentors if m.organisation in set(changes.absent_organisations)}
    stays = lambda ids: not gone & set(ids)  # noqa: E731
    rules = base.rules
    replaced = changes.rules
    caps: dict[str, str] = {}
    for j, (org, _) in enumerate(rules.organisation_caps):
        caps[org] = f"cohort.rules.organisation_caps[{j}]"
    for j, cap in enumerate(msg.rules.organisation_caps):
        caps[cap.organisation] = f"{scope}.rules.organisation_caps[{j}]"
    merged = dict(rules.organisation_caps) | {c.organisation: c.max_mentees for c in msg.rules.organisation_caps}
    origins = RequestOrigins(scope, fallback_rules="cohort.rules")
    origins.items = {
        "mentors": filtered_paths("cohort.mentors", base.mentors, lambda m: m.id not in gone)
        + [f"{scope}.add_mentors[{j}]" for j in range(len(changes.add_mentors))],
        "mentees": filtered_paths("cohort.mentees", base.mentees, lambda m: m.id not in gone)
        + [f"{scope}.add_mentees[{j}]" for j in range(len(changes.add_mentees))],
        "rankings": filtered_paths("cohort.rankings", base.rankings, lambda r: stays((r.from_id, r.to_id))),
        "rules.pins": ([] if "pins" in replaced else filtered_paths("cohort.rules.pins", rules.pins, stays))
        + [f"{scope}.add_pins[{j}]" for j in range(len(changes.add_pins))],
        "rules.bans": ([] if "bans" in replaced else filtered_paths("cohort.rules.bans", rules.bans, stays))
        + [f"{scope}.add_bans[{j}]" for j in range(len(changes.add_bans))],
        "rules.travel_times": filtered_paths("cohort.rules.travel_times", rules.travel_times,
                                        lambda t: stays((t.mentee_id, t.mentor_id))),
        "rules.organisation_caps": [caps[org] for org in merged],
        "rules.gender_quotas": [f"{scope if 'gender_quotas' in replaced else 'cohort'}.rules.gender_quotas[{j}]"
                                for j in range(len(msg.rules.gender_quotas if 'gender_quotas' in replaced
                                                   else rules.gender_quotas))],
    }
    origins.ids = {"mentors": [m.id for m in base.mentors if m.id not in gone] + [m.id for m in changes.add_mentors],
                   "mentees": [m.id for m in base.mentees if m.id not in gone] + [m.id for m in changes.add_mentees]}
    for side in ("mentees", "mentors"):  # the first added one of an id, as `validate` counts
        for j, person in reversed(list(enumerate(getattr(changes, f"add_{side}")))):
            origins.added[person.id] = f"{scope}.add_{side}[{j}]"
    origins.rules = {f"rules.{name}": f"{scope}.rules.{name}" for name in replaced if name in _RULE_CHANGE_FIELDS}
    origins.rules |= {f"rules.weights.{name}": f"{scope}.weights.{name}" for name in changes.weights}
    if "pins" in replaced or changes.add_pins:
        origins.rules["rules.pins"] = f"{scope}.add_pins" if changes.add_pins else f"{scope}.rules.no_pins"
    return origins


@dataclass
class CheckedScenarios:
    """The what-ifs of a CompareScenarios request, checked before anything is solved."""

    scenarios: list[Scenario]  # applied to the base; only when no scenario has a problem is every one here
    problems: list[mpb.InputProblem] = field(default_factory=list)  # every scenario's, at request paths
    warnings: list[mpb.InputProblem] = field(default_factory=list)  # the scenarios' own, beyond the base's
    dense: int = 0  # of the problems, those that say a scenario makes too many candidate pairs


def scenarios_from_proto(base: Cohort, messages: Sequence[mpb.Scenario], *,
                         base_problems: Sequence[mpb.InputProblem] = (),
                         base_warnings: Sequence[mpb.InputProblem] = (), max_participants: int | None = None,
                         max_pairs: int | None = None, stop: StopToken | None = None,
                         base_label: str = "") -> CheckedScenarios:
    """The what-if scenarios of a CompareScenarios request, applied to the base cohort (as sent: its request
    paths index it) with `solver.compare.apply_changes`, and every problem of every scenario at once with its
    request path (`scenarios[2].add_mentees[0].languages[1]`, `scenarios[0].remove[1]`): the messages' own, the
    changed cohort's validation, the participant cap and, with `max_pairs`, the candidate-pair budget
    (`solver.budget`), all before anything is solved.

    A problem the scenario causes at an element of the base (a base pin that a shorter distance limit breaks,
    a base rule that leaves the scenario too dense) is reported at `scenarios[i]`, its message naming the
    element (`cohort.rules.pins[3]: ...`). With `base_problems` (the base is broken) a scenario's cohort
    inherits them: they are reported once, at the base, and the scenario's own beside them; no budget is
    counted then. The warnings are the scenarios' own (an added mentor far away; a base mentee whom a scenario
    makes an outlier), not those the base has already (`base_warnings`).

    The labels (each scenario's `label` and `description`, and `base_label`) are plain text, as a what-if file's:
    a control character or one that prints as nothing or turns the text around is BAD_VALUE at its path.
    """
    found = CheckedScenarios([], _labels({"base_label": base_label}))
    if len(messages) > MAX_SCENARIOS:
        found.problems.append(problem_message(ProblemCode.TOO_LARGE, "scenarios",
                                              f"{len(messages)} scenarios; one call takes at most {MAX_SCENARIOS}"))
        return found
    inherited = {p.field_path for p in base_problems}
    known_warnings = {(w.code, w.field_path) for w in base_warnings}
    for i, msg in enumerate(messages):
        if stop is not None:
            stop.check()
        scope = f"scenarios[{i}]"
        changes, mapping_problems = scenario_changes_from_proto(msg, scope)
        own = [problem_message(p.code, p.path, p.message) for p in mapping_problems]
        own += _labels({f"{scope}.label": msg.label, f"{scope}.description": msg.description})
        origins = _scenario_origins(base, changes, msg, scope)
        reported = {p.path for p in mapping_problems}
        try:
            scenario = apply_changes(base, changes, label=msg.label, description=msg.description, where=scope)
        except CohortInvalid as invalid:
            for problem in invalid.problems:
                if problem.path.startswith(("remove", "absent_organisations")):
                    own.append(problem_message(problem.code, f"{scope}.{problem.path}", problem.message))
                elif not _within(origins.request_path(problem.path), inherited):  # the base's, reported there
                    own.append(origins.problem(problem))
            # A problem the mapping found (a missing location) is not reported again by validation (its lat/lon).
            found.problems += [p for p in own if not _under_any(p.field_path, reported)]
            continue
        found.problems += own
        found.warnings += [origins.problem(w) for w in cohort_warnings(scenario.cohort)
                           if (proto_code(w.code), origins.request_path(w.path)) not in known_warnings]
        size = len(scenario.cohort.mentors) + len(scenario.cohort.mentees)
        if max_participants is not None and size > max_participants:
            found.problems.append(problem_message(ProblemCode.TOO_LARGE, scope, f"{size} participants; this service "
                                                  f"takes at most {max_participants}"))
            continue
        if own or base_problems:
            continue
        # The base's pairs are counted already: only a scenario that can make more is counted again.
        dense = density_problem(scenario.cohort, max_pairs) if max_pairs is not None and may_densify(changes) else None
        if dense is not None:  # at the rule the scenario sets, else at the scenario (naming the base's rule)
            changed = dense.path == "rules" and msg.HasField("rules")
            found.problems.append(problem_message(dense.code, f"{scope}.rules", dense.message) if changed
                                  else origins.problem(dense))
            found.dense += 1
            continue
        found.scenarios.append(scenario)
    return found


def _labels(texts: dict[str, str]) -> list[mpb.InputProblem]:
    return [problem_message(p.code, p.path, p.message) for p in label_problems(texts)]


def _under_any(path: str, parents: set[str]) -> bool:
    return any(path.startswith(parent + ".") or path.startswith(parent + "[") for parent in parents)


def _within(path: str, parents: set[str]) -> bool:
    return path in parents or _under_any(path, parents)


def _outcome_to_proto(outcome: ScenarioOutcome) -> mpb.ScenarioOutcome:
    msg = to_message(outcome, mpb.ScenarioOutcome())
    msg.mentee_count, msg.mentor_count = outcome.mentees, outcome.mentors
    msg.solve_time.CopyFrom(duration(outcome.solve_seconds))
    return msg


def comparison_to_proto(comparison: Comparison, label: str = "") -> mpb.CompareScenariosResponse:
    """A `solver.compare.Comparison` as the CompareScenarios answer: the first outcome is the base."""
    base, *others = comparison.scenarios
    return mpb.CompareScenariosResponse(label=label, base=_outcome_to_proto(base),
                                        scenarios=[_outcome_to_proto(o) for o in others])


def scenario_to_proto(label: str, changes: ScenarioChanges, description: str = "") -> mpb.Scenario:
    """A `Scenario` message asking for what `changes` (the library's, rules.toml keys) say.

    Raises ValueError for rule values `solver.ingest.rules_from_mapping` rejects. Rules that replace the
    base's pins or bans are sent as `no_pins` / `no_bans` with the pins added first in `add_pins` /
    `add_bans`; such a pin naming a removed participant is then reported rather than dropped.
    """
    found: list[Problem] = []
    rules = dict(changes.rules)
    weights = {**dict(rules.pop("weights", {}) or {}), **dict(changes.weights)}
    parsed = rules_from_mapping(rules, found)
    parsed_weights = rules_from_mapping({"weights": weights}, found).weights if weights else WEIGHTS_DEFAULT
    if found:
        raise ValueError("; ".join(f"{p.path}: {p.message}" for p in found))
    msg = mpb.Scenario(label=label, description=description, remove=changes.remove,
                       absent_organisations=changes.absent_organisations)
    r = msg.rules
    if rules.get("no_distance_limit") is True:
        r.no_distance_limit = True
    elif "max_distance_km" in rules and parsed.max_distance_km is not None:
        r.max_distance_km = parsed.max_distance_km
    for name in ("field_depth", "min_mentor_years", "gender_requests_hard", "max_travel_minutes"):
        if name in rules and getattr(parsed, name) is not None:
            setattr(r, name, getattr(parsed, name))
    if "min_language_level" in rules:
        r.min_language_level = pb.CefrLevel.ValueType(parsed.min_language_level)
    if "eligible_municipalities" in rules:
        r.eligible_municipalities.extend(parsed.eligible_municipalities)
        r.any_municipality = not parsed.eligible_municipalities
    if "eligible_tracks" in rules:
        r.eligible_tracks.extend(TRACK_TO_PROTO[t] for t in parsed.eligible_tracks)
        r.any_track = not parsed.eligible_tracks
    if "gender_quotas" in rules:
        for j, q in enumerate(parsed.gender_quotas):
            r.gender_quotas.add(gender=gender_to_proto(q.gender, f"rules.gender_quotas[{j}].gender"),
                                min_pairs=q.min_pairs, max_pairs=q.max_pairs)
        r.no_gender_quotas = not parsed.gender_quotas
    r.organisation_caps.extend(pb.OrganisationCap(organisation=o, max_mentees=n) for o, n in parsed.organisation_caps)
    pins = (list(parsed.pins) if "pins" in rules else []) + list(changes.add_pins)
    bans = (list(parsed.bans) if "bans" in rules else []) + list(changes.add_bans)
    r.no_pins, r.no_bans = "pins" in rules, "bans" in rules
    msg.add_pins.extend(pb.PairRef(mentee_id=a, mentor_id=b) for a, b in pins)
    msg.add_bans.extend(pb.PairRef(mentee_id=a, mentor_id=b) for a, b in bans)
    for name in weights:
        if name in WEIGHT_NAMES:
            setattr(msg.weights, name, getattr(parsed_weights, name))
    msg.add_mentors.extend(mentor_to_proto(m, f"add_mentors[{j}]") for j, m in enumerate(changes.add_mentors))
    msg.add_mentees.extend(mentee_to_proto(m, f"add_mentees[{j}]") for j, m in enumerate(changes.add_mentees))
    if not msg.rules.ListFields():
        msg.ClearField("rules")
    return msg
