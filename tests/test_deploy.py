"""Deployment on paper, checked: the Kubernetes manifests validate against the API's schemas offline and agree with
what the service really serves (ports, health service, grace, metrics); the Dockerfile installs as `make` does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.service import SERVICE_NAME
from tests.hardening_support import ROOT

DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))


def _validator() -> str:
    found = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubernetes-validate")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("kubernetes-validate is a dev dependency: make setup installs it")
        pytest.skip("kubernetes-validate is not installed")
    return found


def _documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc}


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_manifests_pass_strict_schema_validation_and_a_broken_one_does_not(tmp_path: Path) -> None:
    validator = _validator()
    assert {p.name for p in MANIFESTS} >= {"deployment.yaml", "service.yaml", "pdb.yaml"}
    done = subprocess.run([validator, "--strict", *map(str, MANIFESTS)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "deployment.yaml"
    text = (DEPLOY / "kubernetes" / "deployment.yaml").read_text()
    broken.write_text(text.replace("replicas: 3", "replicas: three").replace("readinessProbe:", "readynessProbe:"))
    failed = subprocess.run([validator, "--strict", str(broken)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert failed.returncode != 0 and "replicas" in failed.stdout + failed.stderr


def test_the_manifests_agree_with_what_the_service_serves() -> None:
    docs = _documents()
    deployment, service, budget = docs["Deployment"], docs["Service"], docs["PodDisruptionBudget"]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = container["args"]
    grpc_port, metrics_port = int(_option(args, "--port")), int(_option(args, "--metrics-port"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": grpc_port, "metrics": metrics_port}
    assert _option(args, "--host") == "0.0.0.0"  # reachable from the probes and the other pods
    # gRPC health probes on the serving port; readiness asks about the matching service itself.
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["grpc"]["port"] == grpc_port, probe
    assert container["readinessProbe"]["grpc"]["service"] == SERVICE_NAME
    # Prometheus scrapes the metrics port; the pod outlives the drain's grace.
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and int(annotations["prometheus.io/port"]) == metrics_port
    assert pod["spec"]["terminationGracePeriodSeconds"] > float(_option(args, "--grace"))
    # Requests sized for --max-concurrent solves, one core each.
    assert float(container["resources"]["requests"]["cpu"]) >= int(_option(args, "--max-concurrent"))
    # Headless, selecting the pods, so DNS lists every replica for client-side round_robin.
    assert service["spec"]["clusterIP"] == "None"
    labels = pod["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
    assert {p["port"] for p in service["spec"]["ports"]} == {grpc_port, metrics_port}
    assert all(labels.get(k) == v for k, v in budget["spec"]["selector"]["matchLabels"].items())
    assert 0 < budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_the_dockerfile_installs_as_make_does() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    base = re.search(r"^FROM python:(\d+\.\d+)-slim\s*$", dockerfile, re.MULTILINE)
    assert base is not None, "a slim Python base image"
    major, minor = map(int, base.group(1).split("."))
    assert f">={major}.{minor}" in project["project"]["requires-python"]
    # make's install: a venv, pip upgraded, then the project from pyproject.toml (dev extras only for make).
    assert "-m venv" in makefile and "-m venv" in dockerfile
    assert "install --quiet --disable-pip-version-check --upgrade pip" in makefile
    assert "pip install --quiet --upgrade pip" in dockerfile and "pip install --quiet ." in dockerfile
    # Every directory the package is built from is copied in.
    sources = {Path(p).parts[0] for p in project["tool"]["setuptools"]["package-dir"].values()}
    copied = set(re.findall(r"^COPY (\S+)/ ", dockerfile, re.MULTILINE))
    assert sources <= copied, sources - copied
    assert re.search(r'^ENTRYPOINT \["/app/\.venv/bin/mentormatch"\]', dockerfile, re.MULTILINE)
    assert re.search(r"^USER \d+", dockerfile, re.MULTILINE)  # not root
