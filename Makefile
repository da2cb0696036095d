# One command to set up and run the demo, one to set up and run the tests.
# Both create .venv on first use and reinstall only when pyproject.toml changes.
# No pip cache: the downloaded wheels (TensorFlow's among them; it installs 1.9 GB)
# would stay on disk a second time, and a CI run once failed with a full disk here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= demo

.PHONY: demo test lint bench clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-cache-dir --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-cache-dir -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m liverlib run --profile $(PROFILE)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check liverlib tests benchmarks

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/decode.py

clean-data:
	rm -rf data/interim data/processed
