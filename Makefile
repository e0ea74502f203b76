# migwatch: `make demo` runs the pipeline on an offline replica; `make test` runs every check.
# Both create .venv and install the project into it first (needs only python3 and make).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: help install demo test check lint typecheck pytest bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# An editable install leaves our own modules uncompiled; where PYTHONDONTWRITEBYTECODE
	@# is set (many CI and container images), every command would compile them again.
	$(BIN)/python -m compileall -q flows warehouse alerts
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install migwatch with its dev tools

demo: $(STAMP)  ## serve the offline replica, ingest it, write a digest
	$(BIN)/migwatch demo

test: check pytest  ## lint, type-check and run the test suite

check: lint typecheck  ## ruff and mypy

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)  ## the benchmarks in bench/ (print figures; not pass/fail)
	$(BIN)/python bench/eval_topics.py
	$(BIN)/python bench/bench_digest.py

clean:  ## remove the virtualenv and local data (var/)
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
