# Image of the artifact: the pinned environment of requirements.lock in /app/.venv, installed by the
# Makefile's own commands, so that the default command `make reproduce` finds it up to date.
#   make docker-build / make docker-reproduce SCALE=quick     (CPU PyTorch; TORCH_VARIANT=cu128 for CUDA 12.8)
#   docker compose up --abort-on-container-exit runner       (Dask scheduler + workers, docker-compose.yml)
# Python 3.11, the minor version of the lock's wheels (made on 3.11.7). The digest is the multi-platform index
# of this tag (docker-library/repo-info), so the base cannot change under the tag.
FROM python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3

# TORCH_VARIANT names the PyTorch wheel index (cpu, cu128, ...). Plain PyPI's torch is the CUDA build on
# Linux, so the lock resolves torch from that index and everything else from PyPI. Build arguments reach
# pip as environment variables during the build only; override PIP_INDEX_URL for a mirror.
ARG TORCH_VARIANT=cpu
ARG PIP_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
ARG PIP_EXTRA_INDEX_URL=https://pypi.org/simple
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

# The environment first and on its own layer, so that editing the code does not download it again.
COPY --chown=repro:repro requirements.lock pyproject.toml ./
# The lock leaves out the CUDA runtime wheels of a CUDA torch (nvidia-*, triton): those come with torch's
# own dependencies, every other version still held to the lock.
RUN python3 -m venv .venv \
    && .venv/bin/python -m pip install -q --no-deps -r requirements.lock \
    && if [ "${TORCH_VARIANT}" != cpu ]; then \
        .venv/bin/python -m pip install -q -c requirements.lock torch; \
    fi

COPY --chown=repro:repro . .
# The Makefile's install rule itself: with the lock installed it only adds the project (editable) and writes
# the stamp that makes `make reproduce` and `make test` skip the install.
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
