# TDS: every target runs the same commands CI runs. `make help` lists them.
PY ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

# Addresses from `make up`, for variables the caller has not set.
ifneq (,$(wildcard .tds/services.env))
KAFKA_BOOTSTRAP_SERVERS ?= $(shell sed -n 's/^KAFKA_BOOTSTRAP_SERVERS=//p' .tds/services.env)
DATABASE_URL ?= $(shell sed -n 's/^DATABASE_URL=//p' .tds/services.env)
KAFKA_HOME ?= $(shell sed -n 's/^KAFKA_HOME=//p' .tds/services.env)
export KAFKA_BOOTSTRAP_SERVERS DATABASE_URL KAFKA_HOME
endif

.DEFAULT_GOAL := help
.PHONY: help venv system-deps up down lint test test-unit bench demo clean chaos

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PY)" || { echo "python3.11+ not found"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP) ## create .venv and install the pinned dependencies

# Debian packages the tests drive: headless Chromium (dashboard) and promtool (metric names).
SYSTEM_TOOLS := chromium chromedriver promtool
system-deps: ## install Chromium, ChromeDriver and promtool from Debian when missing
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium chromium-driver prometheus >/dev/null; \
	fi

up: venv ## start (or reuse) Kafka and PostgreSQL; writes .tds/services.env
	$(BIN)/python -m tds.provision up

down: venv ## stop the Kafka and PostgreSQL that `make up` started
	$(BIN)/python -m tds.provision down

lint: venv ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/mypy

test: venv system-deps up lint ## the whole suite against real Kafka and PostgreSQL
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: venv ## unit and property tests only (no services)
	$(BIN)/python -m pytest tests/unit tests/property $(PYTEST_ARGS)

# The `bench` extra (dlt, matplotlib) on top of `dev`; its stamp follows the same checksum.
BENCH_STAMP := $(VENV)/.bench-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,bench]'
	rm -f $(VENV)/.bench-*; touch $@

BENCH_ARGS ?=
bench: $(BENCH_STAMP) up ## run every benchmark (~20 min), write bench/REPORT.md and bench/charts/
	$(BIN)/python -m bench.report --run $(BENCH_ARGS)

DEMO_ARGS ?=
demo: venv up ## Kafka, PostgreSQL, the Zoho simulator and all of TDS; initial sync; dashboard
	$(BIN)/tds demo $(DEMO_ARGS)

TDS_CHAOS_SECONDS ?= 300
ENGINE ?= faust
chaos: venv ## the long chaos run (own Kafka+PostgreSQL; ENGINE=faust|batched); report in bench/out/chaos.{json,md}
	TDS_STREAM_ENGINE=$(ENGINE) TDS_CHAOS_SECONDS=$(TDS_CHAOS_SECONDS) $(BIN)/python -m tests.chaos.scenario --out bench/out

clean: down ## stop services and remove caches (keeps downloaded jars)
	rm -rf .tds .pytest_cache .mypy_cache .ruff_cache
