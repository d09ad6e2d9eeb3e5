# The two commands the README promises: `make demo` and `make test`.
# Both create .venv on first use; nothing needs to be installed beforehand but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint docs bench chromium-check

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

# Under CI one test drives headless Chromium and fails without it: say so first, in one line.
chromium-check:
	@if [ -n "$$CI" ] && [ "$$CI" != "false" ] && ! command -v chromium >/dev/null; then \
		echo "make test: CI is set but chromium is missing; install it with: apt-get install chromium" >&2; \
		exit 1; \
	fi

test: chromium-check lint docs
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_decoder.py
	$(BIN)/python benchmarks/bench_stream.py
