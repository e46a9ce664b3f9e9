# hero_onboarding: `make run` serves the product, `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/dev-lock.txt
# `make test-min`: the declared floor of every runtime dependency (requirements/min-lock.txt),
# proved by the unit tests and the integration tests of payments and the node agent's git path.
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed
MIN_LOCK := requirements/min-lock.txt
MIN_TESTS := tests/unit tests/integration/test_stripe_webhooks.py \
	tests/integration/test_stripe_checkout.py tests/integration/test_clickpesa.py \
	tests/integration/test_node_agent.py tests/integration/test_aggregator.py \
	tests/integration/test_bridge.py tests/integration/test_broker_reconnect.py

.PHONY: run test test-min test-unit test-integration services lock lock-upgrade bench chaos lint clean

# Dependencies come from the hashed lock only; the project itself goes in without deps,
# and `pip check` fails when pyproject.toml asks for something the lock lacks.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

$(MIN_STAMP): pyproject.toml $(MIN_LOCK)
	test -x $(MIN_VENV)/bin/python || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install --quiet --require-hashes -r $(MIN_LOCK)
	$(MIN_VENV)/bin/pip install --quiet --no-deps -e .
	$(MIN_VENV)/bin/pip check
	touch $(MIN_STAMP)

services:
	scripts/services.sh

run: $(STAMP)
	$(BIN)/hero-onboarding up --demo

test: $(STAMP) services
	$(BIN)/pytest

test-min: $(MIN_STAMP) services
	$(MIN_VENV)/bin/pytest $(MIN_TESTS)

test-unit: $(STAMP)
	$(BIN)/pytest -m 'not integration'

test-integration: $(STAMP) services
	$(BIN)/pytest -m integration

lock: $(STAMP)
	scripts/lock.sh

lock-upgrade: $(STAMP)
	UPGRADE=1 scripts/lock.sh

bench: $(STAMP)
	$(BIN)/python -m bench

chaos: $(STAMP)
	$(BIN)/python -m tests.chaos

# Packages strict (pyproject's [tool.mypy]); tests and bench relaxed (its override).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(MIN_VENV) var/ .pytest_cache .mypy_cache .ruff_cache
