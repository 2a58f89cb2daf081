# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test fuzz lint bench clean chromium screenshots

# The browser tests drive Debian's chromium (never a downloaded browser build).
CHROMIUM ?= /usr/bin/chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the package metadata changes.
$(VENV)/.installed-dev: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The pages' front-end packages, pinned in package.json, exactly as package-lock.json says.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# Debian's chromium for the browser tests, installed with apt when it is missing.
chromium:
	@test -x $(CHROMIUM) || (apt-get install -y chromium || \
		(apt-get update && apt-get install -y chromium))

run: $(VENV)/.installed-dev node_modules/.installed
	$(BIN)/marketplace dev

test: $(VENV)/.installed-dev node_modules/.installed chromium
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

# Schemathesis against the OpenAPI document for longer than the bounded run of `make test`.
fuzz: $(VENV)/.installed-dev
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(BIN)/pytest -q tests/test_api_fuzz.py

# The main pages on the demo data, saved to docs/screenshots/ (linked from the README).
screenshots: $(VENV)/.installed-dev node_modules/.installed chromium
	$(BIN)/python -m tools.screenshots docs/screenshots

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules
