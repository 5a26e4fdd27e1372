# One-command setup, demo and tests. Everything installs into .venv from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv run demo test test-unit test-flow bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# the demo job: 10 real digits per class in, 50 synthetic per class out, end to end
run demo: venv
	$(BIN)/augment run --data digits --real-per-class 10 --per-class 50 --seed 0

test: venv
	$(BIN)/python -m pytest -q

test-unit: venv
	$(BIN)/python -m pytest -q -m "not flow and not stack"

test-flow: venv
	$(BIN)/python -m pytest -q -m flow

bench: venv
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/label_following.py
	$(BIN)/python benchmarks/downstream.py

clean:
	rm -rf artifacts/runs artifacts/work artifacts/generated
