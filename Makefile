# One entry point for users and CI. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: venv test lint demo bench soak docs matrix matrix-ci dist sdist-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

EXAMPLES := examples/ledger examples/sqlalchemy_ledger examples/beat

venv: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[testing]" $(addprefix -e ,$(EXAMPLES))

## The README's first command: the SQLAlchemy ledger app and a real worker,
## on SQLite (no server needed). DEMO_EXIT=1 exits after the walkthrough.
demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e . -e examples/sqlalchemy_ledger
	$(BIN)/python scripts/demo.py

## Run the whole test suite (lint, then pytest with branch coverage).
test: venv
	$(BIN)/ruff check src tests examples scripts bench
	$(BIN)/ruff format --check src tests examples scripts bench
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n 2 --cov --cov-report=term $(PYTEST_ARGS)

## The documentation site (Sphinx, warnings as errors) in docs/_build/html.
docs: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[docs]"
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

## The version matrix (noxfile.py): Python 3.10-3.13, each with the lowest
## and the newest Celery and Pyramid. Pythons are found on PATH or pyenv.
PYENV_BINS := $(wildcard $(HOME)/.pyenv/versions/3.1[0-3]*/bin)
empty :=
NOX := PATH="$(subst $(empty) ,:,$(PYENV_BINS)):$$PATH" $(BIN)/nox
MATRIX_CI := tests-3.10(deps='lowest') tests-3.13(deps='newest')

DEV := $(VENV)/.dev-installed
$(DEV): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

matrix: $(DEV)
	$(NOX) -s tests $(if $(NOX_ARGS),-- $(NOX_ARGS))

## CI's part of the matrix: the oldest and the newest leg, without the
## long process proofs (make test runs those).
matrix-ci: $(DEV)
	$(NOX) -s $(foreach s,$(MATRIX_CI),"$(s)") -- -m "not proof"

## An sdist and a wheel in dist/, checked by twine.
dist: $(DEV)
	rm -rf dist
	$(BIN)/python -m build -q
	$(BIN)/twine check --strict dist/*

## The sdist runs its own test suite, unpacked in a temporary directory.
sdist-test: dist
	rm -rf build/sdist-test && mkdir -p build/sdist-test
	tar -xzf dist/*.tar.gz -C build/sdist-test
	cd build/sdist-test/pyramid_tasks-* && $(MAKE) test PYTHON=$(abspath $(BIN)/python)

## Plain Celery, pyramid-tasks 0.4 and pyramid_tasks side by side, the
## curves and the outbox; report, summary.json and PNGs in bench/results/.
bench: venv
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## Memory over 100,000 tasks (worker solo and prefork, a web process);
## not part of make test. Writes bench/results/soak.md and soak.json.
soak: venv
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

lint: venv
	$(BIN)/ruff check src tests examples scripts bench
	$(BIN)/ruff format --check src tests examples scripts bench

clean:
	rm -rf $(VENV) .nox build dist docs/_build *.egg-info .pytest_cache .coverage*
