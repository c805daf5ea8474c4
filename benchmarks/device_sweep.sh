#!/bin/bash
# Runs benchmark sweeps on a lent GPU machine within one call's time limit, resumably.
#
#   benchmarks/device_sweep.sh DEADLINE_S PARALLEL JOBFILE...
#
# Each line of a job file is `SWEEP_NAME ARGS...`: one `aidemed bench label-efficiency` invocation whose
# output goes to $RESULTS/SWEEP_NAME (finished runs are skipped, a started run resumes from its last.pt,
# so a later call continues where this one stopped). A file's lines run PARALLEL at a time; files run
# one after another, so a later file's AIDE / pseudo_label runs reuse an earlier file's supervised runs
# as their bootstrap. A line `@ COMMAND` runs COMMAND once, before the file's jobs (e.g. `aidemed data
# corrupt`); `@cache DIR...` decodes those prepared datasets into their array caches once, rather than in
# every parallel job. Every job is stopped at the deadline. Paths are relative to the repository root,
# so the sweep folders read the same here and on the machine that trains.
#
# Environment: RESULTS (default $HOME/aidemed_device_runs: outside the repository, whose copy on the GPU
# machine is replaced at every call, so that finished runs survive between calls to a warm machine),
# DEVICE (cuda), EPOCHS (40), NET (unet-base), WHEELS (gpu/whl: wheels of packages the machine lacks,
# installed into /tmp/site), MPS (1: start the CUDA MPS daemon, so that the parallel runs share the GPU
# rather than taking turns; measured on an H100: 12 noisy-mask runs in 2.8 min with it, while 12
# supervised runs took 1.8 min without it), OUT (where results.tgz, without checkpoints, is written).
# The published GPU runs: docs/robustness.md, "GPU runs".
set -u
deadline=$(( $(date +%s) + $1 )); parallel=$2; shift 2
RESULTS=${RESULTS:-$HOME/aidemed_device_runs}; DEVICE=${DEVICE:-cuda}; EPOCHS=${EPOCHS:-40}; NET=${NET:-unet-base}
WHEELS=${WHEELS:-gpu/whl}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  [ -d /tmp/site ] || python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site \
    "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=$PWD:/tmp/site
else
  export PYTHONPATH=$PWD
fi
mkdir -p "$RESULTS/logs"
if [ "${MPS:-1}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
  pgrep -f nvidia-cuda-mps-control >/dev/null || nvidia-cuda-mps-control -d || echo "CUDA MPS did not start"
fi

say() {  # to stdout, and to a log inside RESULTS, so a call's START/END lines come back in results.tgz
  echo "$(date +%T) $*" | tee -a "$RESULTS/logs/calls.log"
}
run_job() {  # SWEEP_NAME ARGS...
  local name=$1; shift
  local left=$(( deadline - $(date +%s) ))
  [ "$left" -le 5 ] && { say "SKIP (deadline) $name $*"; return 0; }
  local log="$RESULTS/logs/${name}.$(echo "$*" | md5sum | cut -c1-8).log"
  say "START $name $*"
  timeout "$left" python3 -m aidemed bench label-efficiency --net "$NET" --epochs "$EPOCHS" --threads 1 --quiet \
    --device "$DEVICE" "$@" -o "$RESULTS/$name" >>"$log" 2>&1
  local rc=$?  # before any command substitution, which resets $?
  say "END rc=$rc $name $*"
}
export -f say run_job
export deadline RESULTS DEVICE EPOCHS NET

for jobs in "$@"; do
  while read -r line; do
    case "$line" in
      "@cache "*) [ $(date +%s) -ge $deadline ] && continue; python3 -c 'import sys
from aidemed.data.cache import load_arrays
from aidemed.data.manifest import load_dataset
for d in sys.argv[1:]: load_arrays(load_dataset(d))' ${line#@cache } || exit 1 ;;
      "@ "*) [ $(date +%s) -ge $deadline ] && continue; bash -c "${line#@ }" || exit 1 ;;
    esac
  done < "$jobs"
  grep -v '^\s*\(@\|#\|$\)' "$jobs" | xargs -P "$parallel" -L 1 bash -c 'run_job "$@"' _
done

for sweep in "$RESULTS"/*/; do
  [ -d "$sweep/runs" ] && python3 -m aidemed bench table "$sweep" >/dev/null 2>&1
done
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/results.tgz" --exclude='*.pt' --exclude='cache' --exclude="$RESULTS/data" "$RESULTS" && ls -la "$OUT"
fi
