# Cairn developer tasks. `make demo` and `make test` work on a fresh clone.
#
# Each set of extras is installed once into .venv; a stamp file records it and is
# redone when pyproject.toml changes, so re-running a target does not reinstall.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_DIR ?= build/demo
PYTEST_ARGS ?=

.PHONY: venv demo test lint format bench docs clean distclean

venv: $(VENV)/.stamp-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.stamp-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	touch $@

# The demo uses every capability (the `all` extra). It runs in a fresh workspace.
demo: | $(BIN)/python
	@if [ ! -f $(VENV)/.stamp-test ]; then $(MAKE) --no-print-directory $(VENV)/.stamp-all; fi
	rm -rf $(DEMO_DIR)
	$(BIN)/python examples/demo/run.py --workspace $(DEMO_DIR)

# Lint first, then the whole suite. pytest's exit 5 (no tests collected) passes only when
# PYTEST_ARGS narrowed the selection (make test PYTEST_ARGS="-m postgres"); for the whole
# suite it means the tests were not found, which is a failure.
test: $(VENV)/.stamp-test
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then \
		if [ -n "$(PYTEST_ARGS)" ]; then echo "no tests selected by: $(PYTEST_ARGS)"; exit 0; fi; \
		echo "pytest collected no tests" >&2; \
	fi; \
	exit $$status

# lint-imports checks the layering contracts of docs/architecture.md (pyproject.toml).
lint: $(VENV)/.stamp-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.stamp-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: $(VENV)/.stamp-test
	$(BIN)/python docs/gen_cli.py

bench: $(VENV)/.stamp-test
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
