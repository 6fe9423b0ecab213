#!/usr/bin/env bash
# One prepared run on a machine with an NVIDIA GPU, in the repository root, each step under its own time limit:
#   1. the CUDA path against the CPU on tiny grids (benchmarks/gpu_agreement.py);
#   2. ms per model-epoch of the ensembles against the plain loop on the GPU (benchmarks/train_speed.py --device cuda);
#   3. the full-scale training cost on the GPU, extrapolated from short slices (benchmarks/full_cost.py --device cuda);
#   4. the whole modadd-main grid at full scale trained for real on the GPU, one ensemble of 110 models, stopped
#      after FULL_GRID_SECONDS if unfinished (its progress lines give the rate).
# Usage: benchmarks/gpu_run.sh [LOG]   (PYTHON selects the interpreter; default python3)
set -u
export PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-/tmp/numba}
PY=${PYTHON:-python3}
LOG=${1:-/dev/null}
WORK=$(mktemp -d)
step() {  # step SECONDS COMMAND...: run it, time it, never stop the script
    local limit=$1; shift
    echo "== $* (limit ${limit} s)"
    local start=$SECONDS
    timeout -s INT -k 30 "$limit" "$@"  # INT: the run closes its Dask cluster as on Ctrl-C
    echo "== exit $? after $((SECONDS - start)) s"
}
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
    step 130 "$PY" benchmarks/gpu_agreement.py --data-dir "$WORK/data"
    step 80 "$PY" benchmarks/train_speed.py --device cuda --ising-seeds 1,10 --ising-epochs 300 --modadd-models 11 \
        --modadd-seeds 1,10 --modadd-epochs 2 --repeats 1
    step 240 "$PY" benchmarks/full_cost.py --device cuda --data-dir "$WORK/data" --ising-epochs 1000 \
        --modadd-epochs 3 --plain-ising-epochs 50
    step "${FULL_GRID_SECONDS:-150}" "$PY" -m repro.cli run modadd-main --scale full --device cuda \
        --seed-group-size 10 --results-dir "$WORK/results" --data-dir "$WORK/data"
} 2>&1 | tee "$LOG"
rm -rf "$WORK"
