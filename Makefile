# ltbot make targets. Each creates .venv when missing and installs the project into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config.toml

.PHONY: run test fuzz demo bench compile uncompile fidelity lint format clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (ltbot needs Python >= 3.11; set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dask]'
	@touch $(STAMP)

$(CONFIG): | config.example.toml
	cp config.example.toml $(CONFIG)
	@echo "created $(CONFIG) from config.example.toml"

run: $(STAMP) $(CONFIG)  ## start the daemon on live public data
	$(BIN)/ltbot run --config $(CONFIG)

# One pytest-xdist worker per core (CI: 2). A file's tests stay on one worker (their module-scoped
# fixtures are built once); files with slow tests are handed out first (tests/conftest.py).
# `make test TEST_WORKERS=0` runs the suite in one process, in file order.
TEST_WORKERS ?= auto

test: $(STAMP)  ## run the whole test suite, in parallel (TEST_WORKERS=auto: one worker per core)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

fuzz: $(STAMP)  ## every hypothesis test with random seeds (tests/property: 20x the examples); CI runs them derandomized
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/property tests/test_validation.py tests/adapters/test_feather_data.py

demo: $(STAMP)  ## offline end-to-end demo over the bundled sample
	$(BIN)/ltbot demo

bench: $(STAMP)  ## benchmarks; results go to docs/PERFORMANCE.md by hand
	$(BIN)/python scripts/bench.py

compile: $(STAMP)  ## optional: compile the hot path with mypyc (needs a C compiler; bot/native.py)
	$(BIN)/python scripts/compile.py

uncompile: $(STAMP)  ## back to the plain build: remove what `make compile` built
	$(BIN)/python scripts/compile.py --clean

fidelity: $(STAMP)  ## presets vs real tokens (needs ../shared/data): docs/FIDELITY.md, fidelity.svg
	$(BIN)/python scripts/fidelity.py

lint: $(STAMP)  ## ruff, mypy and vulture (dead code); fails on any finding
	$(BIN)/ruff check bot strategies tests scripts
	$(BIN)/ruff format --check bot strategies tests scripts
	$(BIN)/mypy bot
	$(BIN)/vulture

format: $(STAMP)
	$(BIN)/ruff format bot strategies tests scripts
	$(BIN)/ruff check --fix bot strategies tests scripts

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find bot -name '*.so' -delete
