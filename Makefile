# One-command set-up: every target creates the virtual environment when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOB    ?= jobs/sample_round_trip.toml
PYTEST_ARGS ?=

.PHONY: setup run-job test test-offline bq-emulator check format bench samples clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# Runs the job against the bundled CleverTap sandbox (started and stopped here).
run-job: $(STAMP)
	$(BIN)/ctjobs run $(JOB) --sandbox

test: $(STAMP) bq-emulator
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The BigQuery emulator's own environment (Python 3.13, DuckDB extensions from PyPI),
# made here, before the suite, so no test installs anything. Idempotent.
# CTJOBS_SKIP_BIGQUERY=1 skips it (and the BigQuery tests).
bq-emulator:
	@if [ "$${CTJOBS_SKIP_BIGQUERY:-}" = 1 ]; then \
		echo "CTJOBS_SKIP_BIGQUERY=1: BigQuery emulator not installed"; \
	else bash tools/bq_emulator.sh; fi

# The suite in a loopback-only network namespace: a test that reaches for the
# internet fails. Needs `unshare -n` (root or user namespaces).
test-offline: $(STAMP) bq-emulator
	bash tools/offline.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff format --check ctjobs tests bench
	$(BIN)/ruff check ctjobs tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format ctjobs tests bench
	$(BIN)/ruff check --fix ctjobs tests bench

bench: $(STAMP)
	$(BIN)/python -m bench.run

samples: $(STAMP)
	$(BIN)/ctjobs samples --out data/samples

clean:
	rm -rf .ctjobs out .pytest_cache .mypy_cache .ruff_cache
