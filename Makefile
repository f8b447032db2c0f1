# The README's two commands, plus the benchmark. Each creates .venv at the repository root if needed.
# `make demo` installs the runtime only (the engine with its CLI, and the sandbox package); `make test`, `lint` and
# `bench` add the test tools (the dev extra: pytest, moto, playwright …), which the demo never needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SANDBOX := packages/avesa-sandbox
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The sandbox (the simulated service APIs) is a distribution of its own, beside the engine.
$(RUNTIME_STAMP): $(BIN)/python pyproject.toml $(SANDBOX)/pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e $(SANDBOX) -e .
	touch $(RUNTIME_STAMP)

$(DEV_STAMP): $(BIN)/python pyproject.toml $(SANDBOX)/pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e $(SANDBOX) -e '.[dev]'
	touch $(DEV_STAMP) $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/avesa demo

# The Node tools of the AWS path (the CDK CLI for `avesa aws deploy`, asl-validator for the state
# machine tests), from package-lock.json; the demo does not need them.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch node_modules/.installed

# One pytest worker per core (pytest-xdist): each has its own sandbox and moto servers on loopback.
# `PYTEST_WORKERS=0 make test` runs the suite in one process.
PYTEST_WORKERS ?= auto

# mypy reads what it checks (the engine, the sandbox package, the benchmarks) and how strictly from [tool.mypy] in
# pyproject.toml, so `$(BIN)/mypy` alone is the whole command, here, in CI and in the pre-commit hook.
test: $(DEV_STAMP) node_modules/.installed
	$(BIN)/ruff check src $(SANDBOX)/src tests benchmarks infrastructure
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/run.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check src $(SANDBOX)/src tests benchmarks infrastructure
	$(BIN)/mypy

clean:
	rm -rf $(VENV) avesa-data .pytest_cache .mypy_cache node_modules cdk.out
