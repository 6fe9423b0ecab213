#!/usr/bin/env bash
# make docker-test [TORCH_VARIANT=cpu|cu130]: the image built and run for real, on this machine.
#  1. a Docker engine (Debian's docker.io, started if none runs), the pinned base or one bootstrapped from
#     Debian's packages, and torch's index or a loopback stand-in (scripts/docker-lib.sh);
#  2. make docker-build, then make docker-reproduce SCALE=tiny as a non-root user (you, or uid 1000 for root)
#     into a scratch folder: every registered figure, Table 1 and the claims report, all owned by that user;
#     a second run trains nothing;
#  3. docker-compose.yml at tiny scale (scheduler, 2 workers, runner on the project's private network): the
#     scheduler's workers ran the training tasks, and every store is complete;
#  4. the times of each step and a machine reference.
# A CUDA variant on a machine without a GPU (no nvidia-smi) stops after the build and an import of torch.
# DOCKER_TEST_STAGES="reproduce compose" skips the build and uses the image there is.
# Not part of `make test`. Logs go to $LOGDIR (default: a scratch folder, printed).
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-cpu}
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/docker-test.XXXX)}
source scripts/docker-lib.sh
work=$(mktemp -d /tmp/docker-test-out.XXXX)
project=grokking-docker-test-$$
finish() {
    [ -z "${COMPOSE:-}" ] || TORCH_VARIANT=$variant "${COMPOSE[@]}" -p "$project" down -v >/dev/null 2>&1 || true
    rm -rf "$work"
    cleanup
}
trap finish EXIT
fail() { echo "docker-test FAILED: $*" >&2; exit 1; }
step() { echo "== $* ($(date -u +%H:%M:%S))"; }

step "engine, base image and torch index"; t=$(date +%s)
ensure_docker
ensure_compose
ensure_base
ensure_torch_index "$variant"
t_setup=$(seconds "$t")

uid=$(id -u); [ "$uid" != 0 ] || uid=1000
image=grokking-vs-learning:$variant
gpus=; [ "$variant" = cpu ] || ! command -v nvidia-smi >/dev/null || gpus="--gpus all"
build=(TORCH_VARIANT="$variant" HOST_UID="$uid" GPUS="$gpus"
       DOCKER_BUILD_ARGS="--network host --build-arg BASE=$BASE ${TORCH_INDEX:+--build-arg TORCH_INDEX=$TORCH_INDEX}")

build_stage() {
    step "make docker-build ($image from $BASE, log $LOGDIR/build.log)"; t=$(date +%s)
    make docker-build "${build[@]}" >"$LOGDIR/build.log" 2>&1 || { tail -30 "$LOGDIR/build.log"; fail "image build"; }
    t_build=$(seconds "$t")
    docker run --rm "$image" python -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
    if [ "$variant" != cpu ] && [ -z "$gpus" ]; then
        echo "docker-test ($variant) on $(date -u +%Y-%m-%d): built in ${t_build}s (setup ${t_setup}s) and torch imports;" \
             "no GPU here (no nvidia-smi), so its tiny reproduce was not run; logs in $LOGDIR"
        exit 0
    fi
}

reproduce_stage() {
    mkdir -p "$work"/{data,figures,results} && chown -R "$uid:$uid" "$work"
    reproduce() { make docker-reproduce "${build[@]}" SCALE=tiny MOUNT="$work" >"$LOGDIR/$1" 2>&1 \
                      || { tail -30 "$LOGDIR/$1"; fail "make docker-reproduce ($1)"; }; }
    step "make docker-reproduce SCALE=tiny as uid $uid (log $LOGDIR/reproduce.log)"; t=$(date +%s)
    reproduce reproduce.log
    t_reproduce=$(seconds "$t")
    mapfile -t figures < <(docker run --rm "$image" python -c \
        'from repro.figures.pipeline import REGISTRY; print(*sorted(REGISTRY))' \
        | tr ' ' '\n' | grep .)
    [ "${#figures[@]}" -gt 0 ] || fail "no figures registered"
    for name in "${figures[@]/%/.png}" table1.md claims.md; do
        [ -s "$work/figures/tiny/$name" ] || fail "figures/tiny/$name was not written"
    done
    foreign=$(find "$work" ! -uid "$uid" | head -5)
    [ -z "$foreign" ] || fail "not owned by uid $uid: $foreign"
    echo "ok: ${#figures[@]} figures, table1.md and claims.md in figures/tiny, every file owned by uid $uid"

    step "second run"; t=$(date +%s)
    reproduce rerun.log
    t_rerun=$(seconds "$t")
    ! grep -q "Dask dashboard" "$LOGDIR/rerun.log" || fail "the second run started training (see $LOGDIR/rerun.log)"
    experiments=$(grep -cE '^[a-z0-9-]+ \(tiny\): ([0-9]+) of \1 cells already finished' "$LOGDIR/rerun.log" || true)
    [ "$experiments" -gt 0 ] && [ "$experiments" = "$(grep -c 'cells already finished' "$LOGDIR/rerun.log")" ] \
        || fail "the second run found unfinished cells (see $LOGDIR/rerun.log)"
    echo "ok: the second run found all $experiments experiments finished and trained nothing"
}

compose_stage() {
    step "docker-compose.yml: scheduler, 2 workers, runner (log $LOGDIR/compose.log)"; t=$(date +%s)
    export TORCH_VARIANT=$variant SCALE=tiny WORKERS=2
    DASHBOARD_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export DASHBOARD_PORT  # 8787 may be taken by a Dask dashboard on this machine
    dc=("${COMPOSE[@]}" -p "$project")
    "${dc[@]}" up -d --no-build --scale worker=2 scheduler worker >"$LOGDIR/compose.log" 2>&1 \
        || { tail -20 "$LOGDIR/compose.log"; fail "compose up"; }
    "${dc[@]}" run --rm runner >>"$LOGDIR/compose.log" 2>&1 || { tail -30 "$LOGDIR/compose.log"; fail "compose runner"; }
    t_compose=$(seconds "$t")
    # From the scheduler: the training tasks (keys <experiment>-seed<s>-a<i>-<run>) each worker computed; the
    # figure pass's tasks run there too.
    "${dc[@]}" exec -T scheduler python -c '
import re
from distributed import Client

with Client("tcp://localhost:8786", timeout=30) as client:
    done = client.run(lambda dask_worker: sorted({e[0] for e in dask_worker.state.log if e[1] == "put-in-memory"}))
training = {worker: [key for key in keys if re.search(r"-seed\d+-a\d+-", key)] for worker, keys in done.items()}
print("\n".join(f"{worker}: {len(training[worker])} training tasks, e.g. {training[worker][:2]}, and "
                f"{len(keys) - len(training[worker])} other tasks (the figure pass)" for worker, keys in done.items()))
assert len(training) == 2 and all(training.values()), done
' || fail "the workers did not run the training tasks"
    "${dc[@]}" run --rm --no-deps runner bash -c 'for s in results/*-tiny.zarr; do repro status "$s"; done' \
        >"$LOGDIR/status.log" 2>&1 || { cat "$LOGDIR/status.log"; fail "repro status"; }
    stores=$(grep -c 'epochs per cell' "$LOGDIR/status.log" || true)
    # Complete: each store's cells line names no state but finished (running, stopped, damaged, ...).
    [ "$stores" -gt 0 ] && [ "$(grep -cxE '  cells: [1-9][0-9]* finished' "$LOGDIR/status.log")" = "$stores" ] \
        || { cat "$LOGDIR/status.log"; fail "incomplete stores after the compose run"; }
    echo "ok: both workers ran training tasks; all $stores stores complete"
}

# DOCKER_TEST_STAGES runs some of the stages only (each later one needs the image of the first).
stages=${DOCKER_TEST_STAGES:-build reproduce compose}
for stage in $stages; do "${stage}_stage"; done

gflops=$(docker run --rm -e OMP_NUM_THREADS=1 "$image" python -c '
import time, torch
torch.set_num_threads(1); a = torch.randn(1024, 1024); a @ a; t = time.perf_counter()
for _ in range(10): a @ a
print(f"{10 * 2 * 1024**3 / (time.perf_counter() - t) / 1e9:.0f}")')
echo "docker-test ($variant: $stages) passed on $(date -u +%Y-%m-%d): setup ${t_setup}s, build ${t_build:--}s," \
     "reproduce tiny ${t_reproduce:--}s, rerun ${t_rerun:--}s, compose tiny ${t_compose:--}s;" \
     "$(nproc) cores, single-thread matmul ${gflops} GFLOP/s; logs in $LOGDIR"
