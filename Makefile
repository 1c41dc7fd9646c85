# The README's commands. Each target sets up .venv/ itself on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test full serve perf race lint lock clean postgres

$(STAMP): pyproject.toml demo/pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e . -e demo
	@touch $(STAMP)

## Debian's Chromium for the report browser test (Playwright drives /usr/bin/chromium; no browser download)
.venv/.chromium: | $(STAMP)
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }
	@touch $@

## postgres: PostgreSQL server binaries for the shop and race tests (Debian's package; never skipped)
postgres:
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; }
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { echo "PostgreSQL binaries still missing" >&2; exit 1; }

## demo: boot the demo shop and gate it with a quick load run (smoke + last-item race)
demo: $(STAMP) postgres
	$(BIN)/python -m pytest tests/perf/test_smoke.py tests/perf/test_race.py::test_last_item_race -p no:cacheprovider -v $(PYTEST_ARGS)

## test: the whole suite: unit and fault tests spread over 2 workers, then the load scenarios on their own
test: $(STAMP) .venv/.chromium postgres
	$(BIN)/python -m pytest tests/unit tests/faults -n 2 $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/perf $(PYTEST_ARGS)

## serve: the demo shop on 127.0.0.1:8000
serve: $(STAMP)
	$(BIN)/python -m demo_api --host 127.0.0.1 --port 8000

## full: the load and race scenarios at the seed's full lengths (about 35 minutes)
full: $(STAMP) postgres
	$(BIN)/python -m pytest tests/perf --loadgate-profile=full $(PYTEST_ARGS)

perf: $(STAMP)
	$(BIN)/python -m pytest -m perf $(PYTEST_ARGS)

race: $(STAMP)
	$(BIN)/python -m pytest -m race $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src demo tests bench scripts
	$(BIN)/mypy

## lock: re-pin requirements.lock from pyproject.toml (the plugin) and demo/pyproject.toml (the shop)
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml demo/pyproject.toml --extra test --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) reports/*.html reports/*.csv reports/*.json reports/*.log
