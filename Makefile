# The two commands: `make up` runs the whole system, `make test` runs the whole test suite.
# Both set up what they need first (a virtualenv in .venv, the npm build tools) and are idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Setup is redone only when the dependency declarations change.
SETUP_STAMP := $(VENV)/.setup-$(shell cat pyproject.toml gen/python/pyproject.toml package-lock.json 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: setup up down status test gen bench lint clean

setup: $(SETUP_STAMP)

$(SETUP_STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./gen/python -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	@rm -f $(VENV)/.setup-* && touch $@

up: setup
	$(BIN)/analytics-engine up $(ARGS)

down: setup
	$(BIN)/analytics-engine down

status: setup
	$(BIN)/analytics-engine status

test: setup
	$(BIN)/python -m pytest $(ARGS)

gen: setup
	$(BIN)/python scripts/generate.py

bench: setup
	$(BIN)/python bench/run_all.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) node_modules .data
