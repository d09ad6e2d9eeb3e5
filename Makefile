# The two commands the README promises: `make demo` and `make test`.
# Both create .venv on first use; nothing needs to be installed beforehand but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint docs bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/asyncinfer stream "What is Elastic?"

lint: $(BIN)/.installed
	$(BIN)/ruff check asyncinfer tests benchmarks examples
	$(BIN)/ruff format --check asyncinfer tests benchmarks examples
	$(BIN)/mypy --strict asyncinfer examples

docs: $(BIN)/.installed
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

test: lint docs
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_decoder.py
	$(BIN)/python benchmarks/bench_stream.py
