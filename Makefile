# lbc developer entry points. `make help` lists them; every target that needs the virtual
# environment creates it first, so any target works as the first command on a fresh clone.

SHELL := bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IMG ?= lbc:dev
PYTEST_ARGS ?=
# Test files run whole on one worker each (module fixtures and order as in a serial run).
TEST_WORKERS ?= 2

.PHONY: help dev test lint typecheck check demo bench bench-readme run manifests image clean fmt readme lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

UV := $(BIN)/uv
LOCK := $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes

# Everything is installed from hash-checked locks (requirements*.lock, `make lock`), then lbc and
# the lab (lab/) editable without resolving anything.
$(STAMP): pyproject.toml lab/pyproject.toml requirements-dev.lock
	@echo "== installing lbc, the lab and the dev tools into $(VENV) from the locks (about a minute the first time)"
	@test -x $(BIN)/python || { echo "== creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "== 1/2 the locked dependencies and dev tools (requirements-dev.lock)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements-dev.lock
	@echo "== 2/2 lbc and the lab (lab/), editable"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
		-e . -e ./lab
	@touch $(STAMP)
	@echo "== $(VENV) is ready"

dev: $(STAMP) ## create .venv and install lbc editable with all extras (idempotent)

test: $(STAMP) ## run the test suite (unit, integration, e2e; not the benchmarks), two files at a time
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check, ruff format --check, import-linter contracts
	$(BIN)/ruff check lbc lab tests
	$(BIN)/ruff format --check lbc lab tests
	$(BIN)/lint-imports

typecheck: $(STAMP) ## mypy --strict on lbc and the lab
	$(BIN)/mypy lbc lab/lbc_lab

check: lint typecheck test ## lint + typecheck + test

fmt: $(STAMP) ## format the code and apply safe lint fixes
	$(BIN)/ruff format lbc lab tests
	$(BIN)/ruff check --fix lbc lab tests

demo: $(STAMP) ## the two-cluster shared target group scenario on the lab (under 60 s)
	@echo "== the demo: two lab clusters share one target group (python -m lbc demo)"
	@$(BIN)/python -m lbc demo

bench: $(STAMP) ## run the benchmarks in tests/perf, print their figures, write build/bench.json
	$(BIN)/python -m lbc bench --json build/bench.json

bench-readme: ## regenerate README.md's benchmark table from build/bench.json (the last make bench)
	$(BIN)/python -m lbc bench --readme README.md --json build/bench.json

run: $(STAMP) ## run the daemon against the current kubeconfig (LBC_* variables configure it)
	$(BIN)/python -m lbc run

manifests: $(STAMP) ## render the kustomize manifests to stdout
	kubectl kustomize manifests

image: ## build the container image (needs a Docker engine)
	docker build -t $(IMG) .

lock: $(STAMP) ## re-resolve the three hash-pinned locks from pyproject.toml and lab/pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(LOCK) pyproject.toml -o requirements.lock
	printf 'setuptools>=68\nwheel\n' | $(LOCK) - -o requirements-build.lock
	$(LOCK) requirements-dev.in --no-emit-package lbc --no-emit-package lbc-lab -o requirements-dev.lock

readme: $(STAMP) ## regenerate the README configuration table from lbc/settings.py
	$(BIN)/python -m lbc.settings --readme README.md

clean: ## remove the virtual environment, caches and build artefacts
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
