# One-command setup, demo and tests. Everything installs into .venv from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv run demo test test-unit test-flow test-stack stack-up stack-down stack-status deploy bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,engine]'
	touch $(STAMP)

# the demo job: 10 real digits per class in, 50 synthetic per class out, end to end
run demo: venv
	$(BIN)/augment run --data digits --real-per-class 10 --per-class 50 --seed 0

test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

test-unit: venv
	$(BIN)/python -m pytest -q -m "not flow and not stack and not tracking"

test-flow: venv
	$(BIN)/python -m pytest -q -m flow

test-stack: venv
	$(BIN)/python -m pytest -q -m stack

# the real stack as local processes (scripts/stack.sh): PostgreSQL, Prefect, MLflow, workers
stack-up: venv
	scripts/stack.sh up

stack-down:
	scripts/stack.sh down

stack-status:
	scripts/stack.sh status

# register prefect.yaml's deployments with the running stack's Prefect server
deploy: venv
	eval "$$(scripts/stack.sh env)" && AUGMENT_PROJECT_DIR=$(CURDIR) $(BIN)/prefect --no-prompt deploy --all

bench: venv
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/end_to_end.py
	$(BIN)/python benchmarks/gate_calibration.py
	$(BIN)/python benchmarks/imbalance.py

clean:
	rm -rf artifacts/runs artifacts/work artifacts/generated
