#!/usr/bin/env bash
# make slurm-test: `repro run modadd-main --scale tiny --cluster slurm` through a one-node SLURM cluster started
# here (Debian's slurm-wlm and munge; slurmctld + slurmd with a minimal slurm.conf in a scratch folder, stopped
# at the end), with the SLURM example config of the README's "Scale-out" section, only its placeholder path
# replaced by this checkout. Checks that every cell was trained by a task in a job that SLURM scheduled with that
# config (partition, account, constraint, time limit), and that the store is complete. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
[ "$(id -u)" = 0 ] || { echo "slurm-test starts slurmctld, slurmd and munged: run it as root" >&2; exit 1; }
for tool in slurmctld slurmd munged; do
    command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; break; }
done
dir=$(mktemp -d /tmp/slurm-test.XXXX)
fail() { echo "slurm-test FAILED: $* (logs in $dir)" >&2; exit 1; }
pids=()
stop() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -z "${started_munged:-}" ] || runuser -u munge -- munged --stop
}
trap stop EXIT
t0=$(date +%s)

# munge: the key the package made (or a new one), and munged unless one already answers.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -f /etc/munge/munge.key ] || mungekey --create
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- munged
    started_munged=1
    munge -n | unmunge >/dev/null || fail "munged does not answer"
fi

node=$(hostname -s)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))
features=$(grep -o -w -m1 avx2 /proc/cpuinfo | head -1 || true)
mkdir -p "$dir"/{state,spool,tasks}
export SLURM_CONF=$dir/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=grokking-test
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
MinJobAge=3600
ReturnToService=2
MpiDefault=none
NodeName=$node CPUs=$(nproc) RealMemory=$memory ${features:+Features=$features} State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -f "$SLURM_CONF"
for _ in $(seq 30); do [ -s "$dir/slurmctld.pid" ] && break; sleep 0.5; done
pids+=("$(cat "$dir/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
for _ in $(seq 30); do [ -s "$dir/slurmd.pid" ] && break; sleep 0.5; done
pids+=("$(cat "$dir/slurmd.pid")")
for _ in $(seq 60); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %t | grep -q idle || fail "the SLURM node did not come up: $(sinfo 2>&1)"
t_start=$(( $(date +%s) - t0 ))
echo "SLURM up in ${t_start}s: $(sinfo -h -o '%P %D node(s) %c CPUs %m MB features %f %t')"

# The README's example, verbatim but for its placeholder path.
awk '/^- \*\*SLURM:\*\*/ {s=1} s && /```toml/ {t=1; next} t && /```/ {exit} t {sub(/^  /, ""); print}' README.md \
    | sed "s|/path/to/grokking|$root|" >"$dir/slurm.toml"
grep -q "source $root/.venv/bin/activate" "$dir/slurm.toml" || fail "no SLURM example config found in README.md"
read -r partition account <<<"$(python3 -c 'import sys, tomllib; c = tomllib.load(open(sys.argv[1], "rb"))["cluster"];
print(c["queue"], c["account"])' "$dir/slurm.toml")"

# Each worker (in its job) logs the tasks it finished; the jobs inherit this environment from sbatch.
export DASK_DISTRIBUTED__WORKER__PRELOAD="['$root/scripts/slurm_task_log.py']" TASK_LOG_DIR=$dir/tasks
store=$dir/modadd-main-tiny.zarr
t=$(date +%s)
(cd "$dir" && "$root/.venv/bin/repro" run modadd-main --scale tiny --cluster slurm --cluster-config "$dir/slurm.toml" \
    --store "$store" --data-dir "$dir/data") 2>&1 | tee "$dir/run.log" | grep -v '^\s*$' | tail -5
t_run=$(( $(date +%s) - t))
"$root/.venv/bin/repro" status "$store" | tee "$dir/status.log"
# Every cell finished: the cells line names no other state (running, stopped, damaged, ...).
grep -qxE '  cells: [1-9][0-9]* finished' "$dir/status.log" || fail "the store is not complete"

# Every training task ran in a SLURM job, and those jobs carry the README config's settings.
tasks=$(cat "$dir"/tasks/*.tasks 2>/dev/null | grep -c -- '-seed' || true)
[ "$tasks" -gt 0 ] || fail "no task was run by a worker in a SLURM job"
[ ! -e "$dir/tasks/no-slurm-job.tasks" ] || fail "tasks ran outside SLURM jobs"
for file in "$dir"/tasks/*.tasks; do
    job=$(basename "$file" .tasks)
    info=$(scontrol show job "$job") || fail "job $job unknown to SLURM"
    for want in "Partition=$partition" "Account=$account" "Features=$features" "TimeLimit=04:00:00" "NodeList=$node"; do
        grep -q "$want" <<<"$info" || fail "job $job lacks $want"
    done
    echo "job $job (partition $partition, account $account, on $node) trained $(grep -c -- '-seed' "$file") task(s)"
done
submitted=$(grep -c "JobId=" "$dir/jobcomp.log" 2>/dev/null || true)
echo "slurm-test passed on $(date -u +%Y-%m-%d): SLURM start ${t_start}s, repro run modadd-main tiny ${t_run}s" \
     "($tasks tasks in $(ls "$dir"/tasks | wc -l) jobs; $submitted jobs recorded by SLURM); $(nproc) cores; logs in $dir"
