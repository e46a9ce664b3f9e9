# hero_onboarding: `make run` serves the product, `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-unit test-integration bench chaos lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hero-onboarding up --demo

test: $(STAMP)
	$(BIN)/pytest

test-unit: $(STAMP)
	$(BIN)/pytest -m 'not integration'

test-integration: $(STAMP)
	$(BIN)/pytest -m integration

bench: $(STAMP)
	$(BIN)/python -m bench

chaos: $(STAMP)
	$(BIN)/python -m tests.chaos

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var/ .pytest_cache .mypy_cache .ruff_cache
