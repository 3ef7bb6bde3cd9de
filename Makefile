# The two commands: `make up` runs the whole system, `make test` runs the whole test suite.
# Both set up what they need first (a virtualenv in .venv, the npm build tools) and are idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Setup is redone only when the dependency declarations change.
SETUP_STAMP := $(VENV)/.setup-$(shell cat pyproject.toml gen/python/pyproject.toml package-lock.json 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: setup browser up down status test gen bench lint clean

# The browser app: its own npm dependencies, and a production build in ui/dist (served by the ui
# component), redone only when the lockfile, the app's sources or the generated TypeScript change.
UI_DEPS := ui/node_modules/.package-lock.json
UI_BUILD := ui/dist/index.html
UI_SOURCES := $(shell find ui/src gen/ts/src -type f 2>/dev/null) ui/index.html ui/package.json \
	ui/tsconfig.json ui/vite.config.ts

setup: $(SETUP_STAMP) $(UI_BUILD)

$(UI_DEPS): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(UI_BUILD): $(UI_DEPS) $(UI_SOURCES) $(SETUP_STAMP)
	cd ui && npm run build --silent

# The browser tests drive Debian's chromium (no browser download); installed when missing and
# possible (root with apt), otherwise the browser tests say what to install.
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is missing: apt-get install chromium (the browser tests need it)"; fi; }

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

test: setup browser
	$(BIN)/python -m pytest $(ARGS)

gen: setup
	$(BIN)/python scripts/generate.py

bench: setup
	$(BIN)/python bench/run_all.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) node_modules ui/node_modules ui/dist .data
