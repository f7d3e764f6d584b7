# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench load proto proto-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## The main job: validate and match every bundled scenario, best matching and alternatives.
demo: setup
	$(BIN)/mentormatch demo --explain

## Every test (slow suites included). CI runs this.
test: setup
	$(PY) -m pytest -q -p no:cacheprovider

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

## Regenerate the protobuf/gRPC code (committed; tests/test_proto_current.py checks it is current).
proto: setup
	$(PY) -m server.protogen

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
