"""The checks the ecosystem's own tools run: `buf lint` and `buf breaking` on the contract, `promtool check metrics`
on the live metrics exposition.

The tools are installed by `ci/install-tools.sh` (`make tools`; `.ci/run` calls it): buf from npm into `.tools/`,
promtool from Debian's `prometheus` package. Where a tool is missing the test is skipped, except under CI
(`CI` set), where a missing tool fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from server.app import RunningServer
from server.client import MentormatchClient, RemoteError
from solver.solve import SolveOptions
from tests.conftest import ServerFactory, slow_cohort, slow_options, small_cohort, wait_until
from tests.hardening_support import ROOT, SUMMARY, register_summary

CHECK_PROTO = ROOT / "ci" / "check-proto.sh"
LOCAL_BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"


@pytest.fixture(autouse=True, scope="module")
def _summary(pytestconfig: pytest.Config) -> None:
    register_summary(pytestconfig)


def tool(name: str) -> str:
    """The tool's path; skipped when absent, failed when absent under CI."""
    found = str(LOCAL_BUF) if name == "buf" and LOCAL_BUF.exists() else shutil.which(name)
    if found is None:
        message = f"{name} is not installed (make tools)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this check")
        pytest.skip(message)
    return found


def run(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


# --- buf ---------------------------------------------------------------------------------------------------------


def test_buf_lint_passes_the_standard_rules() -> None:
    tool("buf")
    done = run("bash", str(CHECK_PROTO), "lint")
    assert done.returncode == 0, f"buf lint:\n{done.stdout}{done.stderr}"
    SUMMARY.count("ecosystem")


def test_buf_breaking_against_the_last_release() -> None:
    tool("buf")
    done = run("bash", str(CHECK_PROTO), "breaking")
    assert done.returncode == 0, f"buf breaking:\n{done.stdout}{done.stderr}"
    if "skipped" in done.stdout:
        pytest.skip(done.stdout.strip())
    SUMMARY.count("ecosystem")


def test_buf_breaking_catches_a_breaking_change(tmp_path: Path) -> None:
    """The command `ci/check-proto.sh breaking` runs, on a throw-away repository with a release tag v0.0.1."""
    buf = tool("buf")
    shutil.copytree(ROOT / "proto", tmp_path / "proto", ignore=shutil.ignore_patterns("*.py", "*.pyi", "__pycache__"))
    git = ("git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci")
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-qm", "release"), ("tag", "v0.0.1")):
        assert run(*git, *args, cwd=tmp_path).returncode == 0
    against = ".git#tag=v0.0.1,subdir=proto"
    assert run(buf, "breaking", "proto", "--against", against, cwd=tmp_path).returncode == 0
    cohort = tmp_path / "proto" / "mentormatch" / "v1" / "cohort.proto"
    text = cohort.read_text()
    assert "optional int32 capacity = 6 " in text
    cohort.write_text(text.replace("optional int32 capacity = 6 ", "optional int64 capacity = 6 "))
    broken = run(buf, "breaking", "proto", "--against", against, cwd=tmp_path)
    assert broken.returncode != 0 and "capacity" in broken.stdout
    SUMMARY.count("ecosystem")


# --- promtool ----------------------------------------------------------------------------------------------------


def _exposition(running: RunningServer) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{running.metrics_port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def test_promtool_accepts_the_metrics_after_every_kind_of_call(server_factory: ServerFactory, tmp_path: Path) -> None:
    promtool = tool("promtool")
    token = tmp_path / "token"
    token.write_text("t0ken")
    running = server_factory(max_concurrent=1, max_participants=300, token_file=token)
    cohort = small_cohort(3)
    with MentormatchClient(running.address, token="t0ken") as client:
        client.match(cohort, SolveOptions(alternatives=2))
        list(client.stream_match(cohort, SolveOptions(alternatives=1)))
        client.explain_pair(cohort, cohort.mentees[0].id, cohort.mentors[0].id)
        client.match(cohort, validate_only=True)
        broken = replace(cohort, mentees=(replace(cohort.mentees[0], lat=99.0),))
        for refused in (lambda: client.match(broken), lambda: client.match(small_cohort(3, 200, 150))):
            with pytest.raises(RemoteError):
                refused()
        slow = client.match_future(slow_cohort(), slow_options(), timeout=30)
        assert wait_until(lambda: running.service.slots.active() == 1)
        with pytest.raises(RemoteError):
            client.match(cohort, timeout=0.4)  # busy: its RetryInfo's 0.5 s would pass the deadline, so no retry
        slow.cancel()
    with MentormatchClient(running.address) as anonymous, pytest.raises(RemoteError):
        anonymous.match(cohort)
    text = _exposition(running)
    done = run(promtool, "check", "metrics", stdin=text)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), \
        f"promtool check metrics:\n{done.stdout}{done.stderr}"
    for reason in ("busy", "too_large", "invalid", "unauthenticated"):
        assert f'mentormatch_requests_rejected_total{{reason="{reason}"}}' in text
    ids = {m.id for m in cohort.mentors} | {m.id for m in cohort.mentees}
    assert not any(f'"{i}"' in text for i in ids), "a participant id in a metric label"
    SUMMARY.count("ecosystem")
