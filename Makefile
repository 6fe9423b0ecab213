# Reproducibility artifact for "Grokking vs. Learning" (arXiv 2502.01739). `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= quick

.PHONY: help reproduce figures reference test bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

# torch comes from its own lock, one per build: TORCH=cpu (default) or TORCH=cu130 (PyPI's CUDA 13.0 build
# with its runtime wheels). The CPU build is asked for in pip's own sources first (a local wheel folder, a
# mirror), and only then at TORCH_INDEX, so that a machine with a local copy never waits on that index.
TORCH ?= cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/$(TORCH)
TORCH_LOCK := requirements-torch-$(TORCH).lock
LOCKED := $(VENV)/.locked-$(TORCH)
PIP_LOCKED := $(PY) -m pip install -q --no-deps --require-hashes
define NO_TORCH
torch for TORCH=$(TORCH), pinned with its hash in $(TORCH_LOCK), was found neither in pip's own sources nor at
$(TORCH_INDEX). Download the wheel that file names for your platform from $(TORCH_INDEX)/torch/
and rerun with PIP_FIND_LINKS=<its folder>, or set TORCH_INDEX=<a mirror of that index>.
endef
export NO_TORCH

requirements-torch-%.lock:
	@echo "TORCH=$*: no $@; the torch builds with a lock are: $(patsubst requirements-torch-%.lock,%,$(wildcard requirements-torch-*.lock))" >&2
	@exit 1

# The hashed locks, every package without its dependencies (nngeometry's would pull an unpinned torch);
# torch first, so that an install that cannot get it stops before downloading the rest.
$(LOCKED): requirements.lock $(TORCH_LOCK)
	rm -f $(VENV)/.locked-* $(STAMP)
	$(PYTHON) -m venv $(VENV)
	$(PIP_LOCKED) -r $(TORCH_LOCK) 2>/dev/null || $(PIP_LOCKED) --extra-index-url $(TORCH_INDEX) -r $(TORCH_LOCK) \
		|| { echo "$$NO_TORCH" >&2; exit 1; }
	$(PIP_LOCKED) -r requirements.lock
	$(PY) -c 'import torch' || { echo "torch does not import in $(VENV) (TORCH=$(TORCH), $$(uname -sm))" >&2; exit 1; }
	touch $@

$(STAMP): $(LOCKED) pyproject.toml
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

reproduce: $(STAMP)  ## Ising data, every experiment, every figure and the claims report (SCALE=quick|full)
	$(VENV)/bin/repro reproduce --scale $(SCALE)

# What `make figures` draws from: the results stores of SCALE where there are any, else the reference results
# in reference/SCALE/ where those exist (no training, no stores); FROM=results or FROM=reference forces one.
RESULTS_DIR ?= results
REFERENCE_DIR ?= reference
FROM ?= $(if $(wildcard $(RESULTS_DIR)/*-$(SCALE).zarr),results,$(if $(wildcard $(REFERENCE_DIR)/$(SCALE)/*.zarr.zip),reference,results))

figures: $(STAMP)  ## re-render every figure and the claims report from the stores, else reference/SCALE/ (SCALE=quick|full, FROM=results|reference)
	$(VENV)/bin/repro figures --scale $(SCALE) $(if $(filter reference,$(FROM)),--reference $(REFERENCE_DIR),--results-dir $(RESULTS_DIR))

reference: $(STAMP)  ## draw the figures from the finished stores, ship them in reference/SCALE/ with the reduced stores (SCALE=quick|full)
	$(VENV)/bin/repro reference --scale $(SCALE)

# Test modules run on TEST_WORKERS processes (pytest-xdist), each module whole on one, so that its fixtures are
# built once: 1.6x faster on 2 cores than one process. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: $(STAMP)  ## run the test suite (installs the pinned environment first; TEST_WORKERS=2)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)  ## speed vs plain one-model-at-a-time loops, as ratios, and the extrapolated full-scale cost
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/denormal_speed.py
	$(PY) benchmarks/grid_speed.py
	$(PY) benchmarks/pruning_speed.py
	$(PY) benchmarks/full_cost.py

# The container: the Dockerfile installs the same lock with the same commands; docker-compose.yml adds a
# Dask scheduler and workers. The image's user gets your uid (1000 for root) so that it can write the mounted
# folders; `--user` then only changes anything for root, whose folders the container must write as root.
IMAGE ?= grokking-vs-learning
TORCH_VARIANT ?= $(TORCH)
HOST_UID := $(shell id -u)

.PHONY: lint docker-build docker-reproduce docker-test slurm-test

lint: $(STAMP)  ## ruff on the code and hadolint on the Dockerfile; both must report nothing
	$(VENV)/bin/ruff check .
	$(VENV)/bin/hadolint Dockerfile

DOCKER_BUILD_ARGS ?=
docker-build:  ## build the image grokking-vs-learning:TORCH_VARIANT (TORCH_VARIANT=cpu|cu130)
	docker build $(DOCKER_BUILD_ARGS) --build-arg TORCH_VARIANT=$(TORCH_VARIANT) \
		--build-arg GIT_REVISION=$$(git rev-parse HEAD) \
		--build-arg UID=$(or $(filter-out 0,$(HOST_UID)),1000) -t $(IMAGE):$(TORCH_VARIANT) .

# MOUNT: the folder whose data/, figures/ and results/ the container writes (default: this one).
MOUNT ?= $(CURDIR)
GPUS ?= $(if $(filter-out cpu,$(TORCH_VARIANT)),--gpus all)
docker-reproduce: docker-build  ## make reproduce in the image, writing into data/, figures/ and results/ here
	mkdir -p $(MOUNT)/data $(MOUNT)/figures $(MOUNT)/results
	docker run --rm --user $(HOST_UID) $(GPUS) -e SCALE=$(SCALE) \
		-v "$(MOUNT)/data:/app/data" -v "$(MOUNT)/figures:/app/figures" -v "$(MOUNT)/results:/app/results" \
		$(IMAGE):$(TORCH_VARIANT)

# Not part of `make test`: they start a Docker engine or a one-node SLURM cluster on this machine (as root).
docker-test:  ## build the image, tiny reproduce in it and through docker-compose.yml, with timings
	scripts/docker-test.sh $(TORCH_VARIANT)

slurm-test: $(STAMP)  ## one-node SLURM cluster here; a tiny grid through --cluster slurm and the README's config
	scripts/slurm-test.sh

clean:  ## remove the environment and caches (never result stores under data/ or results/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
