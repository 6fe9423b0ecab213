#!/usr/bin/env bash
# The README's two commands as a researcher meets them: in a container from the base image (Debian's Python 3.11,
# no pip configuration, no local wheels) that reaches PyPI and torch's CPU index — or, where that index cannot be
# reached from here, a loopback stand-in serving the CPU wheel (scripts/docker-lib.sh). From a fresh clone of HEAD:
#  1. with no torch index reachable, `make test` stops before installing anything else, saying where to get torch;
#  2. with the index, `make test` and `make reproduce SCALE=tiny` pass, and torch imports as the CPU build.
# Not part of `make test`; needs Docker (started if need be, as in make docker-test). Logs go to $LOGDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/fresh-install.XXXX)}
source scripts/docker-lib.sh
clone=$(mktemp -d /tmp/fresh-install-clone.XXXX)
trap 'rm -rf "$clone"; cleanup' EXIT
fail() { echo "fresh-install-test FAILED: $* (logs in $LOGDIR)" >&2; exit 1; }

ensure_docker
ensure_base
ensure_torch_index cpu
# A researcher's machine: the base plus git and an ordinary user.
docker build -q --network host -t grokking-fresh-install --build-arg BASE="$BASE" - >/dev/null <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --create-home researcher
DOCKERFILE
git clone -q "$(pwd)" "$clone/repo" && chown -R 1000:1000 "$clone"
as_researcher() { docker run --rm --network host --user researcher -v "$clone/repo:/home/researcher/repo" \
                      -w /home/researcher/repo grokking-fresh-install bash -c "$1"; }

# No reachable index: the default one where it cannot be reached from here, else a closed loopback port.
unreachable=${STANDIN:+https://download.pytorch.org/whl/cpu}
t=$(date +%s)
if as_researcher "TORCH_INDEX=${unreachable:-http://127.0.0.1:9} make test" >"$LOGDIR/no-index.log" 2>&1; then
    fail "make test passed without a torch index"
fi
grep -q "was found neither in pip's own sources nor at" "$LOGDIR/no-index.log" || { tail "$LOGDIR/no-index.log"; fail "no clear message"; }
grep -q "requirements.lock" <(grep -- "-r requirements.lock" "$LOGDIR/no-index.log") && fail "the rest was installed before torch"
echo "ok: without a torch index make test stopped after $(( $(date +%s) - t ))s with:"
grep -A2 "was found neither" "$LOGDIR/no-index.log" | sed 's/^/    /'

as_researcher "rm -rf .venv"
t=$(date +%s)
as_researcher "export TORCH_INDEX=$TORCH_INDEX; make test" >"$LOGDIR/make-test.log" 2>&1 || { tail -30 "$LOGDIR/make-test.log"; fail "make test"; }
t_test=$(( $(date +%s) - t ))
tail -1 "$LOGDIR/make-test.log"
t=$(date +%s)
as_researcher "make reproduce SCALE=tiny" >"$LOGDIR/reproduce.log" 2>&1 || { tail -30 "$LOGDIR/reproduce.log"; fail "make reproduce"; }
t_reproduce=$(( $(date +%s) - t ))
torch=$(as_researcher ".venv/bin/python -c 'import torch; print(torch.__version__)'")
[[ "$torch" == *+cpu ]] || fail "torch $torch is not the CPU build"
echo "fresh-install-test passed on $(date -u +%Y-%m-%d): torch $torch; make test ${t_test}s including the install," \
     "make reproduce SCALE=tiny ${t_reproduce}s; $(nproc) cores; logs in $LOGDIR"
