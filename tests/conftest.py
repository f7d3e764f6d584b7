"""Shared fixtures: real servers on free loopback ports, cohorts small and slow, and certificates made in the test."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from solver.candidates import KM_PER_DEGREE
from solver.domain import Cohort, GenderQuota, Language, Mentee, Mentor, ObjectiveMode, Ranking, Rules
from tests.oracle import random_cohort

# The server and the solver load OR-Tools, whose bundled protobuf runtime aborts the process when grpc_tools'
# protoc is loaded beside it (tests/test_proto_current.py): they are imported where used, not here.
if TYPE_CHECKING:
    from server.app import RunningServer
    from server.client import MentormatchClient
    from solver.solve import SolveOptions

ServerFactory = Callable[..., "RunningServer"]

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BUNDLED = sorted(p.name for p in SCENARIOS.iterdir() if (p / "mentors.csv").exists()) if SCENARIOS.is_dir() else []
"""The bundled cohorts, by directory name."""

LAT, LON = 55.68, 12.57  # where the hand-made cohorts of the explanation tests live (Copenhagen)


def mentor(id_: str, km_north: float = 0.0, occupations: tuple[str, ...] = ("2512",),
           languages: tuple[tuple[str, int], ...] = (("en", 5),), **kw: object) -> Mentor:
    """A mentor `km_north` km north of (LAT, LON): hand-made cohorts where each rule is tested alone."""
    return Mentor(id_, LAT + km_north / KM_PER_DEGREE, LON, occupations,
                  tuple(Language(c, level) for c, level in languages), **kw)  # type: ignore[arg-type]


def mentee(id_: str, km_north: float = 0.0, occupations: tuple[str, ...] = ("2512",),
           languages: tuple[tuple[str, int], ...] = (("en", 4),), **kw: object) -> Mentee:
    """A mentee `km_north` km north of (LAT, LON)."""
    return Mentee(id_, LAT + km_north / KM_PER_DEGREE, LON, occupations,
                  tuple(Language(c, level) for c, level in languages), **kw)  # type: ignore[arg-type]


@pytest.fixture
def server_factory() -> Iterator[ServerFactory]:
    """Start servers with `ServerConfig` fields as keywords (port 0, metrics on port 0); all stopped afterwards."""
    from server.app import ServerConfig, create_server

    started: list[RunningServer] = []

    def start(**fields: object) -> RunningServer:
        config = ServerConfig(**{"port": 0, "metrics_port": 0, "grace_s": 1.0, **fields})  # type: ignore[arg-type]
        running = create_server(config)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop(0).wait(5)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[RunningServer]:
    """One default server for the tests that do not change its configuration."""
    from server.app import ServerConfig, create_server

    running = create_server(ServerConfig(port=0, metrics_port=0, grace_s=1.0))
    yield running
    running.stop(0).wait(5)


@pytest.fixture
def client(shared_server: RunningServer) -> Iterator[MentormatchClient]:
    from server.client import MentormatchClient

    with MentormatchClient(shared_server.address) as c:
        yield c


def small_cohort(seed: int = 3, n_mentees: int = 12, n_mentors: int = 10, side_constraints: bool = True) -> Cohort:
    """A small random cohort with a bit of everything (rankings, caps, quotas), solved in milliseconds."""
    return random_cohort(random.Random(seed), n_mentees, n_mentors, side_constraints=side_constraints,
                         rankings=True)


def slow_cohort(n_mentees: int = 150, n_mentors: int = 140, seed: int = 2) -> Cohort:
    """One city, a binding gender quota and organisation caps, ~2,600 allowed pairs. Solved with `slow_options()`
    (rank-maximal, 3 matchings): the caps do not bind, so the quota is a layer of the flow and the best matching is
    proven at once; the alternatives go to CP-SAT, and the third is not proven after 5 s (measured on 2 cores, the
    canonical cohort as the service solves it). With (400, 380) the caps bind across genders: even the best then
    goes through pricing and CP-SAT (why-not E0 M1: over 30 s)."""
    rng = random.Random(seed)
    fields = ["2511", "2512", "2513", "2514", "2521", "2522"]
    mentors = tuple(Mentor(id=f"M{j}", lat=55.68 + rng.gauss(0, 0.03), lon=12.57 + rng.gauss(0, 0.05),
                           occupations=(rng.choice(fields),), languages=(Language("en", 5),),
                           years_experience=rng.randint(0, 30), leadership=rng.random() < 0.3,
                           gender="f" if j % 2 else "m", interests=tuple(rng.sample("abcdefgh", 3)),
                           organisation=f"O{j % 7}", returning=rng.random() < 0.3) for j in range(n_mentors))
    mentees = tuple(Mentee(id=f"E{i}", lat=55.68 + rng.gauss(0, 0.03), lon=12.57 + rng.gauss(0, 0.05),
                           occupations=(rng.choice(fields),), languages=(Language("en", 4),),
                           interests=tuple(rng.sample("abcdefgh", 3)), gender=rng.choice("fm"))
                    for i in range(n_mentees))
    ranks = [Ranking(a.id, b.id, k + 1) for a in mentees for k, b in enumerate(rng.sample(mentors, 5))]
    rules = Rules(max_distance_km=8.0, field_depth=4,
                  gender_quotas=(GenderQuota("f", 0, int(n_mentors * 0.35)),),
                  organisation_caps=tuple((f"O{k}", 25) for k in range(7)))
    return Cohort(mentors, mentees, tuple(ranks), rules, name="slow")


def slow_options() -> SolveOptions:
    """With `slow_cohort()`: a solve that a deadline of ~1.5 s cuts after the first matching was found."""
    from solver.solve import SolveOptions

    return SolveOptions(mode=ObjectiveMode.RANK_MAXIMAL, alternatives=3, time_limit_s=60.0)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.005) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; returns whether it held."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# Certificates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A throw-away CA, a server certificate for localhost / 127.0.0.1, and a client certificate, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: a client trusting only it must fail


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(name: str, ca: str, directory: Path, extensions: str) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={name}", cwd=directory)
    (directory / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-sha256", "-extfile", f"{name}.ext", cwd=directory)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Made with the openssl command line (the `cryptography` package is not a project dependency)."""
    directory = tmp_path_factory.mktemp("certs")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                 "-days", "2", "-subj", f"/CN=mentormatch test {ca}",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 cwd=directory)
    _signed("server", "ca", directory, "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                       "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    _signed("client", "ca", directory, "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    return Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key",
                        directory / "client.pem", directory / "client.key", directory / "other-ca.pem")
