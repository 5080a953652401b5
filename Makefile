# Spillway: `make run` (the main job: local stack + demo) and `make test` (lint + all tests).
# Needs only Python 3.11+ and make; everything else is installed into .venv from PyPI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint unit bench browser clean test-localstack clean-localstack

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/spillway demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/cfn-lint infra/template.yaml

# The dashboard's browser test needs Chromium: installed with apt when missing (root only);
# otherwise the script says why and that test skips.
browser:
	@sh scripts/ensure-chromium

# The LocalStack tier runs in `make test` too (about 4 min cold): it is the only place the
# alarms are evaluated, and left opt-in it broke unnoticed once (a provision() signature change).
test: lint browser
	$(BIN)/pytest
	$(MAKE) test-localstack

unit: install
	$(BIN)/pytest tests/unit

# The second emulator tier (tests/localstack/): LocalStack on the host, no Docker, in its own
# venv (.localstack/, Python >= 3.12). If the setup fails, the tier's tests skip and name why.
test-localstack: install
	-scripts/localstack-setup
	$(BIN)/pytest -m localstack tests/localstack

# Benchmarks (never tests): queue throughput, then every figure of bench/run.py, written to
# .spillway/bench/last.json for `spillway cost`; last the three systems side by side under
# the same burst and database outage (about 3 min), also in .spillway/bench/burst.{json,png}.
bench: install
	$(BIN)/python -m bench.queues
	$(BIN)/python -m bench.run
	$(BIN)/spillway bench burst --json

clean:
	rm -rf $(VENV) .spillway .pytest_cache .ruff_cache .hypothesis

clean-localstack:
	rm -rf .localstack .spillway/localstack
