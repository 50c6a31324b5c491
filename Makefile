# saga-harness: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast up down status bench load zoo lint clean

install: $(STAMP)

# Reinstall only when the project's metadata changed; quiet when nothing did.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)
	@echo "installed into $(VENV)"

up: install
	@$(BIN)/saga-harness up

down: install
	@$(BIN)/saga-harness down

status: install
	@$(BIN)/saga-harness status

demo: install
	@$(BIN)/saga-harness up
	@$(BIN)/saga-harness demo

test: install
	@$(BIN)/python -m pytest -q -p no:cacheprovider --cucumberjson=reports/cucumber.json --junitxml=reports/junit.xml

test-fast: install
	@$(BIN)/python -m pytest -q -p no:cacheprovider -m "not integration"

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: install
	@$(BIN)/ruff check .

clean: down
	rm -rf .saga runs reports
