# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast campaign lint bench load proto proto-check clean tools lint-proto check-metrics fuzz oracle check-deploy clients

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## Our own modules compiled once, as an install from a wheel does (the checkout is installed editable): an
## environment with PYTHONDONTWRITEBYTECODE set would otherwise compile them on every command's start (~0.4 s).
## Only sources changed since are compiled again.
setup: $(STAMP)
	$(PY) -m compileall -q -j 0 solver server scenarios benchmarks proto >/dev/null

## The main job: validate and match every bundled scenario, best matching and alternatives.
demo: setup
	$(BIN)/mentormatch demo --explain

## Every test (slow suites included). CI runs this.
test: setup
	$(PY) -m pytest -q -p no:cacheprovider -m "not campaign" --durations=15

## The long promise campaigns on dense 3,000 x 3,000 cohorts against real servers (CI runs them too).
campaign: setup
	$(PY) -m pytest -q -p no:cacheprovider -m campaign

## The fast tests only (skips suites marked slow).
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check solver server scenarios benchmarks tests
	$(BIN)/mypy

bench: setup
	$(PY) -m benchmarks.run

load: setup
	$(PY) -m benchmarks.load

## Tools the ecosystem checks need: chromium and promtool (apt-get, as root), buf (npm, into .tools/).
tools:
	bash ci/install-tools.sh

## Clients in other languages from the contract: Go (Debian's toolchain and protoc-gen-go via apt-get, code by
## `buf generate` from buf.gen.yaml, built in GOPATH mode) and Node (`npm ci` in clients/node). The tests in
## tests/test_other_language_clients.py call a live server with them.
clients: tools
	bash clients/build.sh

## The contract with buf: lint (STANDARD rules), and breaking changes against the latest release tag v*.
lint-proto: tools
	bash ci/check-proto.sh

## The metrics exposition of a live server through `promtool check metrics` (fails when promtool is missing).
check-metrics: setup tools
	CI=true $(PY) -m pytest -q -p no:cacheprovider tests/test_ecosystem_checks.py -k promtool

## The Kubernetes manifests under deploy/ against the API's JSON schemas, offline and strict (kubernetes-validate,
## a pinned dev dependency that ships the schemas: no cluster, no network).
check-deploy: setup
	$(BIN)/kubernetes-validate --strict --quiet deploy/kubernetes/*.yaml

## The fuzz suites at ten times their `make test` size (ingestion files, every RPC; 10^6 ids).
fuzz: setup
	MENTORMATCH_FUZZ_SCALE=10 $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz_ingest.py tests/test_fuzz_rpc.py

## The engine against the independent oracle (tests/rules_oracle.py) on 300 random cohorts; prints the figures.
oracle: setup
	MENTORMATCH_ORACLE_COHORTS=$${MENTORMATCH_ORACLE_COHORTS:-300} $(PY) -m pytest -q -s -p no:cacheprovider -m oracle --timeout 3600 tests/test_oracle_campaign.py

## Regenerate the protobuf/gRPC code (committed; tests/test_proto_current.py checks it is current).
proto: setup
	$(PY) -m server.protogen

clean:
	rm -rf $(VENV) build .build clients/node/node_modules *.egg-info .pytest_cache .mypy_cache .ruff_cache
