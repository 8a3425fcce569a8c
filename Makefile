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

.PHONY: help dev test lint typecheck check demo bench run manifests image clean fmt readme

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,lab]'
	@touch $(STAMP)

dev: $(STAMP) ## create .venv and install lbc editable with all extras (idempotent)

test: $(STAMP) ## run the test suite (unit, integration, e2e; not the benchmarks)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check, ruff format --check, import-linter contracts
	$(BIN)/ruff check lbc tests
	$(BIN)/ruff format --check lbc tests
	$(BIN)/lint-imports

typecheck: $(STAMP) ## mypy --strict on lbc
	$(BIN)/mypy lbc

check: lint typecheck test ## lint + typecheck + test

fmt: $(STAMP) ## format the code and apply safe lint fixes
	$(BIN)/ruff format lbc tests
	$(BIN)/ruff check --fix lbc tests

demo: $(STAMP) ## the two-cluster shared target group scenario on the lab (under 60 s)
	$(BIN)/python -m lbc demo

bench: $(STAMP) ## run the benchmarks in tests/perf and print their figures
	$(BIN)/python -m lbc bench

run: $(STAMP) ## run the daemon against the current kubeconfig (LBC_* variables configure it)
	$(BIN)/python -m lbc run

manifests: $(STAMP) ## render the kustomize manifests to stdout
	kubectl kustomize manifests

image: ## build the container image (needs a Docker engine)
	docker build -t $(IMG) .

readme: $(STAMP) ## regenerate the README configuration table from lbc/settings.py
	$(BIN)/python -m lbc.settings --readme README.md

clean: ## remove the virtual environment, caches and build artefacts
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
