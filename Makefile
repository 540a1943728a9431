# heyjoe: the two commands a user needs are `make demo` and `make test`.
# Both create the virtual environment (.venv) with pinned dependencies and install the
# system tools where they can; `demo` then runs the main job, `test` the test suite.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.heyjoe-installed

.PHONY: setup system-deps demo test lint format bench lab clean-runs

setup: $(STAMP) system-deps

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "heyjoe needs Python 3.10 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (heyjoe)" >/dev/null
	touch $(STAMP)

system-deps:
	@bash tools/install-system-deps.sh

demo: setup
	$(BIN)/heyjoe pipeline --profile quick

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format:
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b" >&2; $(BIN)/python $$b || exit 1; done

lab: setup
	$(BIN)/jupyter lab notebooks/

clean-runs:
	rm -rf runs/
