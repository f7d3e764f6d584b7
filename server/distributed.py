"""Batch work on Dask distributed: solve tasks carried as protobuf bytes, on a LocalCluster or a running scheduler.

The engine (`solver/`) knows nothing of Dask. Here each unit of batch work (a what-if scenario, a sweep
setting, a re-match) becomes a task: a module-level function of one serialised request message (the cohort
in the contract's form, `solver.cohort_proto`) to one serialised `mentormatch.v1.BatchTaskResult`. The task
catches its own failures and returns them as data, so a broken cohort is a failed row with its problems and
the rest go on, and no worker log ever carries a request's bytes. `run_tasks` runs tasks in this process one
after another (`--sequential`), on an in-process `LocalCluster` (one worker process per core, one thread
each, loopback only, no dashboard), or on a running cluster (`--scheduler tcp://HOST:8786`); the answers
are the same bytes whichever way, returned in task order.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import types
import typing
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, Union

from google.protobuf.message import Message

from mentormatch.v1 import batch_pb2 as bpb
from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import sweep_pb2 as spb
from server import convert
from solver.cohort_proto import cohort_from_proto, cohort_to_proto
from solver.compare import COUNTERFACTUAL_BUDGET, Comparison, Scenario, ScenarioOutcome, compare_scenarios
from solver.domain import Cohort
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.rematch import (
    BatchItem,
    RematchResult,
    RematchSources,
    read_batch_directory,
    rematch,
)
from solver.solve import SolveOptions
from solver.sweep import Grid, Sweep, SweepOutcome, check_values, failed_outcome, finish, solve_changes
from solver.workflows import PairRef, changed_pairs

LOCAL_HOST = "127.0.0.1"
CONNECT_TIMEOUT_S = 20.0
"""How long to wait for a scheduler given with --scheduler before giving up with a clear message."""
LOCAL_CLUSTER_MIN_TASKS = 8
"""Batches with fewer tasks run in this process unless a cluster is asked for: a LocalCluster of 2 processes
takes 3-6 s to start on 2 cores, more than a handful of programme-sized solves."""

T = TypeVar("T")


class ClusterUnavailable(Exception):
    """The cluster could not be reached or started; the message says which and why."""


@dataclass(frozen=True)
class ClusterOptions:
    """Where tasks run: in this process, on a LocalCluster of `workers` processes, or on `scheduler`."""

    scheduler: str | None = None  # tcp://HOST:8786 of a running `dask scheduler`; None: a LocalCluster
    workers: int | None = None  # LocalCluster worker processes; None: one per core
    sequential: bool = False  # no Dask: one task after another in this process
    connect_timeout_s: float = CONNECT_TIMEOUT_S  # how long to wait for `scheduler`

    def resolve(self, tasks: int) -> ClusterOptions:
        """The choice made for a batch of `tasks`: with no --scheduler, --workers or --sequential given, a local
        cluster only for LOCAL_CLUSTER_MIN_TASKS tasks or more on more than one core (starting one costs seconds,
        more than a few small solves take); otherwise as given."""
        chosen = self.sequential or bool(self.scheduler) or self.workers is not None
        if not chosen and (tasks < LOCAL_CLUSTER_MIN_TASKS or (os.cpu_count() or 1) < 2):
            return replace(self, sequential=True)
        return self

    def describe(self) -> str:
        if self.sequential:
            return "sequentially in this process"
        if self.scheduler:
            return f"on the Dask cluster at {self.scheduler}"
        return f"on a local Dask cluster of {self.local_workers()} worker process(es)"

    def local_workers(self) -> int:
        return max(1, self.workers or os.cpu_count() or 1)


@dataclass(frozen=True)
class TaskResult:
    """One task's answer: its place in the batch and the `BatchTaskResult` it returned (or that stands for
    a task the cluster lost: a worker that died, say)."""

    index: int
    result: bpb.BatchTaskResult


TaskFunction = Callable[..., bytes]
"""A task: payload bytes -> `BatchTaskResult` bytes; with `shared`, (shared bytes, payload bytes) -> ..."""


# Running tasks -----------------------------------------------------------------------------------------------


def _failure(error: BaseException) -> bytes:
    return bpb.BatchTaskResult(error=f"{type(error).__name__}: {error}").SerializeToString()


def _guarded(function: Callable[[bytes], Message], payload: bytes) -> bytes:
    """Run a task body; input problems and unexpected errors come back as data, never as a raised exception
    (Dask would log a failed task's arguments: the cohort)."""
    try:
        answer = function(payload)
    except CohortInvalid as invalid:
        return bpb.BatchTaskResult(problems=[bpb.TaskProblem(code=p.code.value, path=p.path, message=p.message,
                                                             location=p.location) for p in invalid.problems]
                                   ).SerializeToString()
    except Exception as error:  # one task's failure is its row; the batch goes on
        return _failure(error)
    return bpb.BatchTaskResult(result=answer.SerializeToString()).SerializeToString()


@contextmanager
def dask_client(cluster: ClusterOptions) -> Iterator[Any]:
    """A `distributed.Client` on the scheduler given, or on a LocalCluster started (and stopped) here."""
    from distributed import Client, LocalCluster

    if cluster.scheduler:
        try:
            client = Client(cluster.scheduler, timeout=cluster.connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {cluster.scheduler}: {error}") from None
        with client:
            yield client
        return
    local = LocalCluster(n_workers=cluster.local_workers(), threads_per_worker=1, processes=True,
                         host=LOCAL_HOST, scheduler_port=0, dashboard_address=None,
                         worker_dashboard_address=None, silence_logs=logging.ERROR)
    with local, Client(local, set_as_default=False) as client:
        yield client


def run_tasks(function: TaskFunction, payloads: Sequence[bytes], cluster: ClusterOptions, *,
              shared: bytes | None = None, on_done: Callable[[TaskResult], None] | None = None, client: Any = None
              ) -> list[TaskResult]:
    """Run `function` on every payload; the results in payload order. `shared` (a base cohort, say) is the first
    argument of every call, sent to each worker once. `on_done` is called as each task finishes (in finishing
    order: a progress bar follows the futures). `client`: a `distributed.Client` to reuse."""
    results: list[TaskResult] = []

    def done(index: int, data: bytes) -> None:
        result = TaskResult(index, bpb.BatchTaskResult.FromString(data))
        results.append(result)
        if on_done is not None:
            on_done(result)

    if client is None:
        cluster = cluster.resolve(len(payloads))
    if cluster.sequential:
        for index, payload in enumerate(payloads):
            done(index, function(payload) if shared is None else function(shared, payload))
    elif client is not None:
        _run_on(client, function, payloads, shared, done)
    else:
        with dask_client(cluster) as own:
            _run_on(own, function, payloads, shared, done)
    return sorted(results, key=lambda r: r.index)


def _run_on(client: Any, function: TaskFunction, payloads: Sequence[bytes], shared: bytes | None,
            done: Callable[[int, bytes], None]) -> None:
    from distributed import as_completed

    keys = [f"mentormatch-task-{uuid.uuid4().hex}" for _ in payloads]  # unique, and carrying no content
    if shared is None:
        futures = client.map(function, list(payloads), key=keys)
    else:  # scattered once: every task refers to the one copy each worker holds
        base = client.scatter(shared, broadcast=True, hash=False)
        futures = client.map(function, [base] * len(payloads), list(payloads), key=keys)
    index = {future.key: i for i, future in enumerate(futures)}
    for future in as_completed(futures, loop=client.loop):
        if future.status == "finished":
            done(index[future.key], future.result())
        else:  # the cluster lost the task (its worker died, say): a failed row like any other
            done(index[future.key], _failure(future.exception()))


def problems_of(result: bpb.BatchTaskResult) -> list[Problem]:
    return [Problem(ProblemCode(p.code) if p.code in ProblemCode.__members__ else ProblemCode.BAD_VALUE, p.path,
                    p.message, p.location) for p in result.problems]


def failure_text(result: bpb.BatchTaskResult) -> str:
    """A failed task in one line: its error, or its first problem (and how many more)."""
    if result.error:
        return result.error
    problems = problems_of(result)
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}" if problems else "no answer"


# Messages back to the engine's dataclasses ------------------------------------------------------------------


def _enum_prefix(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper() + "_"


def _plain(fd: Any, value: Any) -> Any:
    if fd.enum_type is not None:  # the engine's codes are the enum names without their prefix; 0 is ""
        return "" if value == 0 else fd.enum_type.values_by_number[value].name.removeprefix(
            _enum_prefix(fd.enum_type.name))
    return value


def _element_type(hint: Any) -> Any:
    """X of `list[X]`, `X | None` or X."""
    if typing.get_origin(hint) is list:
        return typing.get_args(hint)[0]
    if typing.get_origin(hint) in (Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    """A dataclass's field types, resolved once: resolving them is slow, and a result has hundreds of pairs."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def fields_from_message(message: Message, cls: type[Any]) -> dict[str, Any]:
    """The fields of dataclass `cls` that `message` mirrors by name (the inverse of `server.convert.to_message`);
    the caller adds those the message names otherwise. Absent optional fields are None."""
    hints = _hints(cls)
    by_name = message.DESCRIPTOR.fields_by_name
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        fd = by_name.get(f.name)
        if fd is None:
            continue
        inner = _element_type(hints[f.name])
        value = getattr(message, f.name)
        if fd.is_repeated:
            out[f.name] = [inner(**fields_from_message(v, inner)) if fd.message_type is not None else _plain(fd, v)
                           for v in value]
        elif fd.has_presence and not message.HasField(f.name):
            out[f.name] = None
        elif fd.message_type is not None:
            out[f.name] = inner(**fields_from_message(value, inner))
        else:
            out[f.name] = _plain(fd, value)
    return out


def _seconds(duration: Any) -> float:
    return round(duration.ToNanoseconds() / 1e9, 4)  # as ScenarioOutcome rounds it


def outcome_from_message(message: mpb.ScenarioOutcome, source: str) -> ScenarioOutcome:
    return ScenarioOutcome(**fields_from_message(message, ScenarioOutcome), source=source,
                           mentees=message.mentee_count, mentors=message.mentor_count,
                           solve_seconds=_seconds(message.solve_time))


def rematch_result_from_message(message: mpb.RematchResponse, cohort_name: str) -> RematchResult:
    return RematchResult(**fields_from_message(message, RematchResult), cohort=cohort_name,
                         mentees=message.mentee_count, mentors=message.mentor_count, kept=message.kept_count,
                         ended=message.ended_count, new=message.new_count)


# What-if scenarios and sweep settings --------------------------------------------------------------------


def scenario_task_bytes(scenario: Scenario, options: SolveOptions, counterfactuals: bool = False,
                        explain_people: int | None = None) -> bytes:
    return bpb.ScenarioTask(
        cohort=cohort_to_proto(scenario.cohort), options=convert.options_to_proto(options), label=scenario.label,
        source=scenario.source, description=scenario.description, changes=list(scenario.changes),
        counterfactuals=counterfactuals, explain_people=explain_people).SerializeToString()


def _scenario_body(payload: bytes) -> mpb.ScenarioOutcome:
    task = bpb.ScenarioTask.FromString(payload)
    options, _ = convert.options_from_proto(task.options)
    scenario = Scenario(label=task.label, cohort=cohort_from_proto(task.cohort), source=task.source,
                        description=task.description, changes=tuple(task.changes))
    budget = (replace(COUNTERFACTUAL_BUDGET, max_people=task.explain_people) if task.HasField("explain_people")
              else None)
    comparison = compare_scenarios([scenario], options.solve, counterfactuals=task.counterfactuals,
                                   explain_options=budget)
    return convert.comparison_to_proto(comparison).base


def scenario_task(payload: bytes) -> bytes:
    """A Dask task: one scenario (a `ScenarioTask`) solved and measured, as a `ScenarioOutcome`."""
    return _guarded(_scenario_body, payload)


def _outcomes(results: list[TaskResult], scenarios: Sequence[Scenario]) -> list[ScenarioOutcome | str]:
    """Each scenario's outcome, or the text of its failure."""
    out: list[ScenarioOutcome | str] = []
    for result, scenario in zip(results, scenarios, strict=True):
        if result.result.result:
            out.append(outcome_from_message(mpb.ScenarioOutcome.FromString(result.result.result), scenario.source))
        else:
            out.append(failure_text(result.result))
    return out


def compare_on_cluster(scenarios: Sequence[Scenario], options: SolveOptions, cluster: ClusterOptions, *,
                       counterfactuals: bool = False, explain_people: int | None = None,
                       on_done: Callable[[TaskResult], None] | None = None) -> Comparison:
    """`solver.compare.compare_scenarios` with one task per scenario: the same comparison, field for field
    (solve times apart). Each scenario is solved alone, then diffed against the first one's pairs here. A
    scenario whose checks fail raises CohortInvalid (as `compare_scenarios` does), one that fails otherwise
    RuntimeError naming it: a comparison has no row for a missing scenario."""
    if not scenarios:
        raise ValueError("compare at least one scenario")
    options = replace(options, alternatives=1)
    payloads = [scenario_task_bytes(s, options, counterfactuals, explain_people) for s in scenarios]
    results = run_tasks(scenario_task, payloads, cluster, on_done=on_done)
    problems = [p for r in results for p in problems_of(r.result)]
    if problems:  # as compare_scenarios raises them (a what-if cohort too dense to solve, say)
        raise CohortInvalid(problems)
    outcomes = _outcomes(results, scenarios)
    failed = [f"{s.label}: {o}" for s, o in zip(scenarios, outcomes, strict=True) if isinstance(o, str)]
    if failed:
        raise RuntimeError("scenario(s) failed on the cluster: " + "; ".join(failed))
    solved = [o for o in outcomes if isinstance(o, ScenarioOutcome)]
    base = [PairRef(p.mentee_id, p.mentor_id) for p in solved[0].pairs]
    return Comparison(base_label=scenarios[0].label, scenarios=[_against(o, base) for o in solved])


def _against(outcome: ScenarioOutcome, base: list[PairRef]) -> ScenarioOutcome:
    """A scenario solved alone (its own base), diffed against the base's pairs as `compare_scenarios` does."""
    kept, removed, added = changed_pairs(base, [PairRef(p.mentee_id, p.mentor_id) for p in outcome.pairs])
    return replace(outcome, pairs_kept=kept, pairs_removed=len(removed), pairs_added=len(added),
                   removed_vs_base=removed, added_vs_base=added)


@functools.lru_cache(maxsize=4)
def _base_cohort(data: bytes) -> Cohort:
    """A sweep's base cohort, parsed once per worker process (every task of a sweep shares it)."""
    return cohort_from_proto(pb.Cohort.FromString(data))


def sweep_outcome_to_proto(outcome: SweepOutcome) -> spb.SweepOutcome:
    message = convert.to_message(outcome, spb.SweepOutcome())
    message.solve_time.CopyFrom(convert.duration(outcome.solve_seconds))
    return message


def sweep_outcome_from_proto(message: spb.SweepOutcome) -> SweepOutcome:
    fields = fields_from_message(message, SweepOutcome)
    fields["status"] = fields["status"] or "FAILED"  # the contract's status has no FAILED: a failure has `error`
    return SweepOutcome(**fields, solve_seconds=_seconds(message.solve_time))


def _setting_body(base: bytes, payload: bytes) -> spb.SweepOutcome:
    task = bpb.SettingTask.FromString(payload)
    changes, problems = convert.scenario_changes_from_proto(task.changes, "changes")
    if problems:
        raise CohortInvalid(problems)
    options, _ = convert.options_from_proto(task.options)
    outcome = solve_changes(_base_cohort(base), task.index, list(task.values), changes, options.solve,
                            source=task.source)
    return sweep_outcome_to_proto(outcome)


def setting_task(base: bytes, payload: bytes) -> bytes:
    """A Dask task: one sweep setting (a `SettingTask`) over the base cohort (`Cohort` bytes), as a `SweepOutcome`."""
    try:
        return _guarded(lambda data: _setting_body(base, data), payload)
    except Exception as error:  # the base itself unreadable: still a row, not a raised task
        return _failure(error)


def sweep_on_cluster(base: Cohort, grid: Grid, options: SolveOptions | None, cluster: ClusterOptions, *,
                     on_outcome: Callable[[SweepOutcome], None] | None = None, client: Any = None) -> Sweep:
    """`solver.sweep.run_sweep` with one task per setting: the same sweep (solve times apart). The grid's values
    are checked here before any task starts (CohortInvalid with every problem); the base goes to each worker
    once and each task carries its setting's changes; a setting that fails is a failed row."""
    check_values(base, grid)
    settings = grid.settings()
    options_message = convert.options_to_proto(replace(options or SolveOptions(), alternatives=1))
    payloads = [bpb.SettingTask(index=s.index, values=[v.label for v in s.values], options=options_message,
                                changes=convert.scenario_to_proto(s.label, s.changes()), source=grid.source
                                ).SerializeToString() for s in settings]

    def outcome_of(result: TaskResult) -> SweepOutcome:
        if result.result.result:
            return sweep_outcome_from_proto(spb.SweepOutcome.FromString(result.result.result))
        setting = settings[result.index]
        return failed_outcome(setting.index, [v.label for v in setting.values], failure_text(result.result))

    def done(result: TaskResult) -> None:
        if on_outcome is not None:
            on_outcome(outcome_of(result))

    results = run_tasks(setting_task, payloads, cluster, shared=cohort_to_proto(base).SerializeToString(),
                        on_done=done, client=client)
    return finish(grid.label or base.name, grid, [outcome_of(r) for r in results])


# Re-matching batches ---------------------------------------------------------------------------------------


def _rematch_body(payload: bytes) -> mpb.RematchResponse:
    request = mpb.RematchRequest.FromString(payload)
    inputs, _ = convert.rematch_inputs_from_proto(request)
    options, _ = convert.options_from_proto(request.options)
    # A batch directory's cohort: its problems placed in current.csv and changes.toml, as `rematch_directory` does.
    result = rematch(cohort_from_proto(request.cohort), inputs.current, left=inputs.left, joined=inputs.joined,
                     keep=inputs.keep, penalty=inputs.penalty, max_changes=inputs.max_changes, options=options.solve,
                     sources=RematchSources.batch())
    return convert.rematch_response_from_result(result)


def rematch_task(payload: bytes) -> bytes:
    """A Dask task: one re-match (a `RematchRequest`), as a `RematchResponse`."""
    return _guarded(_rematch_body, payload)


def _rematch_request(directory: Path, penalty: int | None, max_changes: int | None, options: SolveOptions
                     ) -> tuple[Cohort, mpb.RematchRequest]:
    """One batch directory read here (where its files are) as a request; `penalty` and `max_changes` given
    override its changes.toml, as `solver.rematch.rematch_directory` does."""
    cohort, current, changes = read_batch_directory(directory, penalty=penalty, max_changes=max_changes)
    request = mpb.RematchRequest(
        cohort=cohort_to_proto(cohort), options=convert.options_to_proto(options),
        current_pairs=[pb.PairRef(mentee_id=p.mentee_id, mentor_id=p.mentor_id) for p in current],
        left_ids=list(changes.left), joined_ids=list(changes.joined),
        keep_pairs=[pb.PairRef(mentee_id=p.mentee_id, mentor_id=p.mentor_id) for p in changes.keep],
        penalty=changes.penalty, max_changes=changes.max_changes)
    return cohort, request


def rematch_batch_on_cluster(paths: Sequence[Path], cluster: ClusterOptions, *, penalty: int | None = None,
                             max_changes: int | None = None, options: SolveOptions | None = None,
                             on_item: Callable[[BatchItem], None] | None = None) -> list[BatchItem]:
    """`solver.rematch.rematch_batch` with one task per cohort directory: the same items in the same order. A
    directory whose files cannot be read fails here, before any task; the others run on the cluster."""
    options = options or SolveOptions()
    items: dict[int, BatchItem] = {}
    names: dict[int, str] = {}
    payloads: list[bytes] = []
    for k, path in enumerate(paths):
        try:
            cohort, request = _rematch_request(path, penalty, max_changes, options)
        except CohortInvalid as invalid:
            items[k] = BatchItem(path.name, False, invalid.problems, "", None)
            if on_item is not None:
                on_item(items[k])
            continue
        names[len(payloads)] = cohort.name
        payloads.append(request.SerializeToString())
    slots = [k for k in range(len(paths)) if k not in items]

    def done(result: TaskResult) -> None:
        path_index = slots[result.index]
        name = paths[path_index].name
        answer = result.result
        if answer.result:
            message = mpb.RematchResponse.FromString(answer.result)
            item = BatchItem(name, True, [], "", rematch_result_from_message(message, names[result.index]))
        else:
            item = BatchItem(name, False, problems_of(answer), answer.error, None)
        items[path_index] = item
        if on_item is not None:
            on_item(item)

    if payloads:
        run_tasks(rematch_task, payloads, cluster, on_done=done)
    return [items[k] for k in range(len(paths))]

