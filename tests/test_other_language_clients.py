"""Clients in other languages against a live server on loopback: Go (code that buf generates from proto/ with
Debian's protoc-gen-go and protoc-gen-go-grpc, clients/go) and Node (@grpc/grpc-js loading proto/ at run
time, clients/node). Each answers what the Python client answers, reads the rich errors (field paths), waits
out a busy server's RetryInfo, and exits 3 when no server is there.

`make clients` (clients/build.sh, run by .ci/run) installs the toolchains and builds both. Without them a test
is skipped locally with the reason, and fails under CI (`CI` set), which must run them; the Node test installs
its npm packages itself when node is there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from server import convert
from server.app import RunningServer
from server.client import MentormatchClient, RemoteError
from server.protogen import PROTO_ROOT, VENDOR_ROOT, proto_files
from solver.solve import SolveOptions
from tests.conftest import ServerFactory, slow_cohort, slow_options, small_cohort
from tests.hardening_support import ROOT, free_port, scrape

GO_CLIENT = ROOT / ".build" / "bin" / "mentormatch-go-client"
NODE_DIR = ROOT / "clients" / "node"
NODE_CLIENT = NODE_DIR / "mentormatch-client.js"

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run this check (`make clients`)")
    pytest.skip(message)


def _go() -> Runner:
    if not GO_CLIENT.exists():
        _missing(f"{GO_CLIENT.relative_to(ROOT)} is not built (make clients)")

    def run(target: str, cohort: Path, *flags: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        flags_go = [f"-{f.removeprefix('--')}" if f.startswith("--") else f for f in flags]  # Go's flag: -name value
        return subprocess.run([str(GO_CLIENT), *flags_go, target, str(cohort)], capture_output=True, text=True,
                              timeout=timeout, check=False)
    return run


def _node() -> Runner:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node client cannot run")  # the one reason to skip, even in CI
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"npm ci in clients/node failed (make clients):\n{done.stderr[-2000:]}"

    def run(target: str, cohort: Path, *flags: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([node, str(NODE_CLIENT), target, str(cohort), *flags], capture_output=True,
                              text=True, timeout=timeout, check=False)
    return run


CLIENTS = {"go": _go, "node": _node}


@pytest.fixture(params=sorted(CLIENTS))
def other_client(request: pytest.FixtureRequest) -> Iterator[Runner]:
    yield CLIENTS[request.param]()


def _write_cohort(path: Path, message: Any) -> Path:
    path.write_text(json_format.MessageToJson(message))
    return path


def _pairs(matching: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["menteeId"], p["mentorId"]) for p in matching.get("pairs", [])}


def _answer(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_protoc_generates_go_from_the_contract(tmp_path: Path) -> None:
    """The command docs/service.md gives: protoc with Debian's Go plugins, every .proto of the package."""
    protoc = shutil.which("protoc")
    if protoc is None or shutil.which("protoc-gen-go") is None or shutil.which("protoc-gen-go-grpc") is None:
        _missing("protoc, protoc-gen-go or protoc-gen-go-grpc is not installed")
        return
    files = [p.as_posix() for p in proto_files()]
    done = subprocess.run([protoc, f"-I{PROTO_ROOT}", f"-I{VENDOR_ROOT}", f"--go_out={tmp_path}", f"--go-grpc_out={tmp_path}",
                           "--go_opt=paths=source_relative", "--go-grpc_opt=paths=source_relative", *files],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    generated = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.go")}
    assert {"mentormatch/v1/matching.pb.go", "mentormatch/v1/matching_grpc.pb.go"} <= generated
    assert "package mentormatchv1" in (tmp_path / "mentormatch/v1/cohort.pb.go").read_text()


def test_other_language_client_answers_as_the_python_client(other_client: Runner, server_factory: ServerFactory,
                                                            tmp_path: Path) -> None:
    running: RunningServer = server_factory()
    cohort = small_cohort(3, 20, 16, side_constraints=False)
    with MentormatchClient(running.address) as client:
        expected = client.match(cohort, SolveOptions(alternatives=2, time_limit_s=10))
    answer = _answer(other_client(running.address, _write_cohort(tmp_path / "cohort.json",
                                                                  convert.cohort_to_proto(cohort)),
                                  "--alternatives", "2"))
    assert answer["status"] == "SOLVE_STATUS_OPTIMAL"
    assert answer["objectiveValue"] == expected.objective_value  # a JSON number, not a string
    assert len(answer["matchings"]) == len(expected.matchings) == 2
    for got, want in zip(answer["matchings"], expected.matchings, strict=True):
        assert _pairs(got) == {(p.mentee_id, p.mentor_id) for p in want.pairs}
        assert all(isinstance(p["score"], int) for p in got["pairs"])


def test_other_language_client_reads_every_problem_at_its_field_path(other_client: Runner,
                                                                     shared_server: RunningServer,
                                                                     tmp_path: Path) -> None:
    message = convert.cohort_to_proto(small_cohort(3, 8, 8))
    message.mentors[0].id = ""
    message.mentees[1].location.lat = 200
    with MentormatchClient(shared_server.address) as client, pytest.raises(RemoteError) as caught:
        client.match(message)
    done = other_client(shared_server.address, _write_cohort(tmp_path / "bad.json", message))
    assert done.returncode == 1, done.stdout + done.stderr
    failure = json.loads(done.stdout)
    assert failure["code"] == "INVALID_ARGUMENT" and failure["reason"] == "COHORT_INVALID"
    got = [(v["field"], v["description"]) for v in failure["violations"]]
    assert got == caught.value.violations
    assert ("cohort.mentors[0].id", "EMPTY_ID: the id is empty") in got
    assert any(field == "cohort.mentees[1].location.lat" for field, _ in got)


def test_other_language_client_waits_out_a_busy_server(other_client: Runner, server_factory: ServerFactory,
                                                       tmp_path: Path) -> None:
    """The one slot is taken: the service refuses with RESOURCE_EXHAUSTED and a RetryInfo (0.5 s), which the
    client honours until the slot is free, within its deadline."""
    running = server_factory(max_concurrent=1)
    cohort = _write_cohort(tmp_path / "cohort.json", convert.cohort_to_proto(small_cohort(3, 8, 8)))
    with MentormatchClient(running.address) as client:
        holder = client.match_future(slow_cohort(), replace(slow_options(), time_limit_s=1.5), timeout=30)
        try:
            assert _wait_busy(running)
            answer = _answer(other_client(running.address, cohort, "--timeout", "20"))
        finally:
            holder.result()
    assert answer["status"] == "SOLVE_STATUS_OPTIMAL"
    assert scrape(running.metrics_port, "mentormatch_requests_rejected_total", reason="busy") >= 1


def test_other_language_client_without_a_server_exits_3(other_client: Runner, tmp_path: Path) -> None:
    cohort = _write_cohort(tmp_path / "cohort.json", convert.cohort_to_proto(small_cohort(3, 4, 4)))
    done = other_client(f"127.0.0.1:{free_port()}", cohort, "--timeout", "3")
    assert done.returncode == 3, done.stdout + done.stderr
    assert json.loads(done.stdout)["code"] == "UNAVAILABLE"


def _wait_busy(running: RunningServer) -> bool:
    from tests.conftest import wait_until

    return wait_until(lambda: scrape(running.metrics_port, "mentormatch_solves_in_flight") >= 1, timeout=10)



def test_other_language_client_reads_snake_case_and_camel_case_alike(other_client: Runner,
                                                                     shared_server: RunningServer,
                                                                     tmp_path: Path) -> None:
    """The protobuf JSON mapping takes a field by its lowerCamelCase name or its .proto name: the same cohort in
    either spelling gets the Python client's matching (a client that dropped the snake_case keys would solve a
    cohort without rules, languages or capacities)."""
    message = convert.cohort_to_proto(small_cohort(5, 14, 10, side_constraints=False))
    message.rules.max_distance_km = 25.0  # a rule that changes the matching when it is dropped
    with MentormatchClient(shared_server.address) as client:
        expected = client.match(message, SolveOptions(alternatives=1, time_limit_s=10))
    want = {(p.mentee_id, p.mentor_id) for p in expected.matchings[0].pairs}
    for spelling, proto_names in (("camel", False), ("snake", True)):
        path = tmp_path / f"{spelling}.json"
        path.write_text(json_format.MessageToJson(message, preserving_proto_field_name=proto_names))
        assert ("max_distance_km" in path.read_text()) is proto_names
        answer = _answer(other_client(shared_server.address, path))
        assert answer["objectiveValue"] == expected.objective_value, spelling
        assert _pairs(answer["matchings"][0]) == want, spelling


def test_node_client_refuses_a_cohort_that_does_not_fit_the_contract(tmp_path: Path) -> None:
    """Wrong types and unknown fields are listed at their paths (exit 2) before any call, never sent as zeros."""
    run = _node()
    data = json_format.MessageToDict(convert.cohort_to_proto(small_cohort(3, 4, 4)), preserving_proto_field_name=True)
    data["mentors"][0]["capacity"] = "three"
    data["mentees"][1]["surprise"] = 1
    data["rules"]["max_distance_km"] = [1]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    done = run(f"127.0.0.1:{free_port()}", path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'mentors[0].capacity: expected a whole number, got a string ("three")' in done.stderr
    assert 'mentees[1].surprise: unknown field "surprise"' in done.stderr
    assert "rules.max_distance_km: expected a number" in done.stderr
