# Reproducibility artifact for "Grokking vs. Learning" (arXiv 2502.01739). `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= quick

.PHONY: help reproduce figures test bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-deps -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

reproduce: $(STAMP)  ## Ising data, every experiment, every figure and the claims report (SCALE=quick|full)
	$(VENV)/bin/repro reproduce --scale $(SCALE)

figures: $(STAMP)  ## re-render every figure and the claims report from existing stores (SCALE=quick|full)
	$(VENV)/bin/repro figures --scale $(SCALE)

test: $(STAMP)  ## run the test suite (installs the pinned environment first)
	$(PY) -m pytest -q

bench: $(STAMP)  ## speed vs plain one-model-at-a-time loops, as ratios, and the extrapolated full-scale cost
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/grid_speed.py
	$(PY) benchmarks/pruning_speed.py
	$(PY) benchmarks/full_cost.py

# The container: the Dockerfile installs the same lock with the same commands; docker-compose.yml adds a
# Dask scheduler and workers. The image's user gets your uid (1000 for root) so that it can write the mounted
# folders; `--user` then only changes anything for root, whose folders the container must write as root.
IMAGE ?= grokking-vs-learning
TORCH_VARIANT ?= cpu
HOST_UID := $(shell id -u)

.PHONY: lint docker-build docker-reproduce

lint: $(STAMP)  ## ruff on the code and hadolint on the Dockerfile; both must report nothing
	$(VENV)/bin/ruff check .
	$(VENV)/bin/hadolint Dockerfile

docker-build:  ## build the image grokking-vs-learning:TORCH_VARIANT (TORCH_VARIANT=cpu|cu128)
	docker build --build-arg TORCH_VARIANT=$(TORCH_VARIANT) --build-arg GIT_REVISION=$$(git rev-parse HEAD) \
		--build-arg UID=$(or $(filter-out 0,$(HOST_UID)),1000) -t $(IMAGE):$(TORCH_VARIANT) .

docker-reproduce: docker-build  ## make reproduce in the image, writing into data/, figures/ and results/ here
	mkdir -p data figures results
	docker run --rm --user $(HOST_UID) $(if $(filter-out cpu,$(TORCH_VARIANT)),--gpus all) -e SCALE=$(SCALE) \
		-v "$(CURDIR)/data:/app/data" -v "$(CURDIR)/figures:/app/figures" -v "$(CURDIR)/results:/app/results" \
		$(IMAGE):$(TORCH_VARIANT)

clean:  ## remove the environment and caches (never result stores under data/ or results/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
