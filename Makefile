# Two set-up commands (README): `make demo` and `make test`. Each creates or refreshes the
# project's virtual environment first. Needs only Python 3.11 and these files.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test test-long lint format ui bench clean-state

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dq-platform demo

# --max-worker-restart=0: a test worker that dies fails the run at once, naming its test
# (pytest-xdist 3.8 can wait forever for a replaced worker under --dist loadfile, xdist #784/#1323)
test: lint
	$(BIN)/python -m pytest -q -n auto --dist loadfile --max-worker-restart=0 -m "not long"

# the long fault loops (issue #17): every kill point, rounds of concurrent ingests; CI runs them after `make test`
test-long: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist load --max-worker-restart=0 -m long

# ruff (lint + format check) and the import-linter layers of pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check dq_platform dq_platform_tests bench
	$(BIN)/ruff format --check dq_platform dq_platform_tests bench
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix dq_platform dq_platform_tests bench
	$(BIN)/ruff format dq_platform dq_platform_tests bench

ui: $(STAMP)
	$(BIN)/dq-platform ui --demo-key

bench: $(STAMP)
	$(BIN)/python bench/benchmark.py

clean-state:
	rm -rf .dagster_home warehouse landing .bench
