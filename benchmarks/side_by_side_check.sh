#!/usr/bin/env bash
# Are runs side by side on a host of several GPUs measured as they would be alone (issue 12: under
# 5% apart)? A short tuning cell (bert_base, the best single process, 8 trials per task, the
# real-budget search settings) runs alone on GPU 0 with its part of the cores, then again on GPU 0
# while every other GPU works, each placed as by side_by_side.sh. Rows:
# $RESULTS_DIR/side_by_side_check/{alone,together}; the ratios are printed.
# Measured: results/h100/side_by_side_check/host{1,2} (two 4-GPU H100 machines).
#
#   N=4 RESULTS_DIR=results/h100 benchmarks/side_by_side_check.sh            # the cell on every GPU
#   N=4 BUDGET_S=420 benchmarks/side_by_side_check.sh "CMD0" "CMD1" "CMD2" "CMD3"
#
# With commands, GPUs 1.. run theirs from the start of the second run, and GPU 0 its own after
# the cell, with BUDGET_S (for the real-budget scripts) less the time the cell took.
set -u
cd "$(dirname "$0")/.."
n=${N:-2}
results=${RESULTS_DIR:-results}/side_by_side_check
cell() {  # $1: where its rows go
  echo "python3 -m harness.sweep +exp=tuning_time platform=cuda model=bert_base tuner.trials=112 \
tuner.max_trials_per_task=8 tuner.population=64 tuner.genetic_iters=1 tuner.init_min_unmeasured=6 \
tuner.scheduler=rolling slicetune.clients=[] slicetune.builders=[persistent] rerun=true \
results_dir=$results/$1 runs_dir=/tmp/slicetune-check/$1"
}
if [ $# -gt 0 ] && [ $# -ne "$n" ]; then echo "side_by_side_check.sh: N=$n GPUs need $n commands, got $#" >&2; exit 2; fi
PARTS=$n benchmarks/side_by_side.sh "$(cell alone)" || exit
cmds=()
if [ $# -eq 0 ]; then
  cmds+=("$(cell together)")
  for ((i = 1; i < n; i++)); do cmds+=("$(cell other$i)"); done
else
  cmds+=("t0=\$SECONDS; $(cell together); BUDGET_S=\$((${BUDGET_S:-540} - SECONDS + t0)) $1")
  cmds+=("${@:2}")
fi
benchmarks/side_by_side.sh "${cmds[@]}"
rc=$?
python3 - "$results" <<'PY'
import sys
import pandas as pd
root = sys.argv[1]
cols = ["side_by_side", "wall_s", "trials_done", "trials_per_s", "steady_trials_per_s", "startup_s",
        "cpu_s_per_trial", "gpu_busy_pct", "final_latency_ms"]
rows = {w: pd.read_csv(f"{root}/{w}/cuda/tuning_time/tuning_time.csv").iloc[-1] for w in ("alone", "together")}
print(pd.DataFrame({w: r.reindex(cols) for w, r in rows.items()}).T.to_string())
for c in ("wall_s", "trials_per_s", "steady_trials_per_s", "startup_s"):
    print(f"{c}: together / alone = {rows['together'][c] / rows['alone'][c]:.3f}")
PY
exit $rc
