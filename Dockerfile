# Image of the artifact: the pinned environment of the hashed locks in /app/.venv, installed by the
# Makefile's own commands, so that the default command `make reproduce` finds it up to date.
#   make docker-build / make docker-reproduce SCALE=quick     (CPU PyTorch; TORCH_VARIANT=cu130 for CUDA 13.0)
#   docker compose up --abort-on-container-exit runner       (Dask scheduler + workers, docker-compose.yml)
# Python 3.11, the minor version of the lock's wheels (made on 3.11.7). The digest is the multi-platform index
# of this tag (docker-library/repo-info), so the base cannot change under the tag. Where no registry can be
# reached, scripts/docker-base.sh bootstraps an equivalent base (Debian 12's Python 3.11) from Debian's
# packages: --build-arg BASE=grokking-base:bookworm (make docker-test does this by itself).
ARG BASE=python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3
FROM ${BASE}

# TORCH_VARIANT picks torch's lock, requirements-torch-<variant>.lock (cpu, cu130), and TORCH_INDEX where the
# Makefile looks for it when PyPI does not have it (the CPU build; a mirror or a local stand-in works too).
# Build arguments reach pip and make as environment variables during the build only.
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/${TORCH_VARIANT}
# The user's id: `make docker-build` passes yours, so that the bind-mounted result folders stay writable.
ARG UID=1000

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

# make runs the pipeline (it is the image's entry point); every Python package comes from the lock.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid "${UID}" --user-group --create-home --shell /bin/bash repro \
    && install -d -o repro -g repro /app

WORKDIR /app
USER ${UID}

# The environment first and on its own layer, so that editing the code does not download it again. The
# Makefile's own rules install it; TORCH stays set so that `make reproduce` in the image finds it up to date.
ENV TORCH=${TORCH_VARIANT}
COPY --chown=repro:repro Makefile requirements.lock requirements-torch-${TORCH_VARIANT}.lock pyproject.toml ./
RUN make .venv/.locked-${TORCH}

COPY --chown=repro:repro . .
# With the lock installed this only adds the project (editable) and writes the stamp that makes
# `make reproduce` and `make test` skip the install.
RUN make .venv/.installed \
    && mkdir -p data figures results

# The image carries no .git: stores record the revision it was built from (make docker-build passes it).
ARG GIT_REVISION=unknown
ENV PATH=/app/.venv/bin:${PATH} \
    GIT_REVISION=${GIT_REVISION}
VOLUME ["/app/data", "/app/figures", "/app/results"]
# 8787: Dask dashboard; 8786: Dask scheduler, when the image runs one (docker-compose.yml).
EXPOSE 8787 8786
CMD ["make", "reproduce"]
