# Reproducibility artifact for "Grokking vs. Learning" (arXiv 2502.01739). `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= quick

.PHONY: help reproduce test bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-deps -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

reproduce: $(STAMP)  ## Ising data, every experiment, every figure and the claims report (SCALE=quick|full)
	$(VENV)/bin/repro reproduce --scale $(SCALE)

test: $(STAMP)  ## run the test suite (installs the pinned environment first)
	$(PY) -m pytest -q

bench: $(STAMP)  ## ensemble trainer vs a plain one-model-at-a-time loop, as ratios
	$(PY) benchmarks/train_speed.py

clean:  ## remove the environment and caches (never result stores under data/ or results/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
