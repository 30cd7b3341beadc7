# Setup picks the CPU build of torch (torch==2.13.0) so a fresh machine does not pull
# several GB of CUDA packages; GPU users install their CUDA torch first (see README).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: venv demo test test-all bench docs clean

$(BIN)/tokrex: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev,demo,toy]"
	touch $(BIN)/tokrex

venv: $(BIN)/tokrex

## The main job on the embedded default model and corpus.
demo: venv
	$(BIN)/tokrex demo

## The test suite (CI runs exactly this).
test: venv
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks: figures printed with the machine they ran on.
bench: venv
	$(BIN)/python benchmarks/run.py

## Regenerate docs/cli.md from --help and the README's file map from the modules.
docs: venv
	$(BIN)/python docs/gen_cli.py
	$(BIN)/python docs/gen_filemap.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
