# Sourced by scripts/docker-test.sh and scripts/fresh-install-test.sh: a Docker engine, a base image and an
# index for torch's CPU build, each from what this machine can reach. Everything started here is stopped by
# `cleanup` (the callers trap EXIT with it).
PINNED_BASE=$(sed -n 's/^ARG BASE=//p' Dockerfile)
LOCAL_BASE=grokking-base:bookworm
started_pids=()

cleanup() {
    local pid
    for pid in "${started_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${started_pids[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 1; done; done
}

seconds() { echo $(( $(date +%s) - $1 )); }

# A running engine, or Debian's docker.io installed and dockerd started (and stopped again by cleanup).
ensure_docker() {
    docker info >/dev/null 2>&1 && return
    [ "$(id -u)" = 0 ] || { echo "no Docker engine is running, and starting one needs root" >&2; return 1; }
    command -v dockerd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }
    dockerd >"${LOGDIR:-/tmp}/dockerd.log" 2>&1 &
    started_pids+=($!)
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && return; sleep 1; done
    echo "dockerd did not start; see ${LOGDIR:-/tmp}/dockerd.log" >&2
    return 1
}

# `docker compose` (v2) or `docker-compose` (v1, Debian's package), as the array COMPOSE.
ensure_compose() {
    if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); return; fi
    command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
    COMPOSE=(docker-compose)
}

# BASE: the Dockerfile's pinned base where it can be pulled, else one bootstrapped from Debian's packages.
ensure_base() {
    if docker image inspect "$PINNED_BASE" >/dev/null 2>&1 || docker pull -q "$PINNED_BASE" >/dev/null 2>&1; then
        BASE=$PINNED_BASE
    else
        echo "cannot pull $PINNED_BASE: bootstrapping $LOCAL_BASE from Debian's packages"
        scripts/docker-base.sh "$LOCAL_BASE"
        BASE=$LOCAL_BASE
    fi
}

# TORCH_INDEX: https://download.pytorch.org/whl/<variant> where it answers, else a PEP 503 stand-in served on
# loopback from the CPU wheel that pip here finds locally (PIP_FIND_LINKS), for builds with --network host.
ensure_torch_index() {
    local variant=$1 wheel dir folder port
    TORCH_INDEX=https://download.pytorch.org/whl/$variant
    curl -sf -m 10 -o /dev/null "$TORCH_INDEX/torch/" && return
    wheel=$(sed -n 's/.*Linux x86-64: \(torch-[^ ]*\.whl\) from.*/\1/p' "requirements-torch-$variant.lock")
    [ -n "$wheel" ] || { TORCH_INDEX=; return; }  # a build whose lock needs no index (cu130: all on PyPI)
    for dir in ${PIP_FIND_LINKS:-} ${TORCH_WHEEL_DIR:-}; do [ -f "$dir/$wheel" ] && folder=$dir; done
    [ -n "${folder:-}" ] || { echo "$TORCH_INDEX is unreachable and no local $wheel (set TORCH_WHEEL_DIR)" >&2; return 1; }
    STANDIN=$(mktemp -d "${LOGDIR:-/tmp}/torch-index.XXXX")
    mkdir "$STANDIN/torch"
    ln -s "$folder/$wheel" "$STANDIN/torch/$wheel"
    echo "<!DOCTYPE html><html><body><a href=\"${wheel/+/%2B}\">$wheel</a></body></html>" >"$STANDIN/torch/index.html"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 -m http.server --bind 127.0.0.1 --directory "$STANDIN" "$port" >"$STANDIN.log" 2>&1 &
    started_pids+=($!)
    TORCH_INDEX=http://127.0.0.1:$port
    for _ in $(seq 20); do curl -sf -o /dev/null "$TORCH_INDEX/torch/" && break; sleep 0.5; done
    echo "$variant index unreachable: stand-in $TORCH_INDEX serves $folder/$wheel"
}
