# One entry point for people and CI. Everything runs from a local .venv that this file creates.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv peers bench-peers run demo test test-unit check lint typecheck bench bench-scale clean

help:
	@echo "make run      install and start netwatch on the demo province"
	@echo "make test     install every test peer; ruff, mypy --strict and the whole suite"
	@echo "make check    the same as make test (ruff, mypy --strict, every test)"
	@echo "make bench    run the benchmarks and print their tables"
	@echo "make bench-scale  one agent, a whole province, 30 minutes (ARGS= to shrink it)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,demo]'
	@touch $@

venv: $(STAMP)

# System programs the tests talk to (snmpd, nft, promtool, ...). Idempotent.
peers:
	scripts/install-peers

# The demo province: simulated devices (snmpsim, ping on 127.x), a scripted incident, a mailbox.
run: $(STAMP)
	scripts/install-snmpsim
	$(BIN)/netwatch demo

# Everything CI checks: ruff, mypy --strict (netwatch, tests, bench), then every test and doctest.
test: $(STAMP) peers lint typecheck
	scripts/run-pytest $(BIN)/python

test-unit: $(STAMP)
	scripts/run-pytest $(BIN)/python tests/unit

lint: $(STAMP)
	$(BIN)/ruff check netwatch tests bench
	$(BIN)/ruff format --check netwatch tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: test

# What only the benchmarks compare netwatch with (prometheus-snmp-exporter). Idempotent.
bench-peers:
	scripts/install-bench-peers

bench: $(STAMP) peers bench-peers
	$(BIN)/python -m bench

# The province-scale run (30 min, root, namespaced). Smaller: make bench-scale ARGS="--icmp 2000 --snmp 200 --minutes 5"
# Over SNMPv3 authPriv: make bench-scale ARGS=--v3
bench-scale: $(STAMP) peers
	$(BIN)/python -m bench.scale $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
