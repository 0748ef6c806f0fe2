#!/usr/bin/env bash
# Slice-Tune at a real trial budget (issue 12), on one GPU: bert_base at 64 trials per task (896)
# and resnet50 at 32 per task (1216), batch 1, the best single process against Slice-Tune (K=4
# clients taking tasks from a shared queue, on S=1 server at 100%, S=2 at 50% and S=4 at 25%),
# same search settings and seed; then stock MetaSchedule (LocalBuilder, LocalRunner) alike.
#
#   BUDGET_S=540 benchmarks/tuning_time_real_budget.sh   # again until it prints "all done"
#
# Each call stops its tuning at BUDGET_S (paused cells continue at the next call, on a machine
# with the same card) and packs the run directory into a checkpoint beside the results, which a
# fresh machine unpacks first. Slice-Tune runs first, so a short call still yields its rows.
# Rows of one card only: on another card set RESULTS_DIR and RUNS_DIR (e.g. results/h100, runs/h100).
#
# GROUP=NAME runs one group of sweeps only: single-bert, ours-bert, stock-bert, single-resnet,
# ours-resnet, stock-resnet (same run directory and checkpoint: one call at a time). RERUN=1
# measures the group's cells again from the start (their old rows are replaced); leave it off to
# continue. GROUP=a,b runs group a, then b with what is left of BUDGET_S once a is all done.
set -u
cd "$(dirname "$0")/.."
if [[ ${GROUP:-} == *,* ]]; then
  t0=$SECONDS
  IFS=, read -ra groups <<< "$GROUP"
  for g in "${groups[@]}"; do
    GROUP=$g BUDGET_S=$((${BUDGET_S:-540} - SECONDS + t0)) "$0" || exit
  done
  exit 0
fi
results=${RESULTS_DIR:-results}
runs_root=${RUNS_DIR:-runs}
group=${GROUP:-}
common=(+exp=tuning_time platform=cuda tuner.population=64 tuner.genetic_iters=1 tuner.init_min_unmeasured=6
        tuner.scheduler=rolling slicetune.servers=[1,2,4] results_dir="$results" runs_dir="$runs_root")
[ "${RERUN:-0}" = 1 ] && common+=(rerun=true)
bert="model=bert_base tuner.trials=896 tuner.max_trials_per_task=64"
resnet="model=resnet50 tuner.trials=1216 tuner.max_trials_per_task=32"
ours="slicetune.clients=[4] slicetune.builders=[persistent]"
single="slicetune.clients=[] slicetune.builders=[persistent]"  # the best single process only
stock="slicetune.clients=[] slicetune.builders=[local]"  # the stock baseline only
case $group in
  "") sweeps=("$bert $ours slicetune.baseline=false" "$bert $ours"
              "$resnet $ours slicetune.baseline=false" "$resnet $ours" "$bert $stock" "$resnet $stock") ;;
  single-bert) sweeps=("$bert $single") ;;
  ours-bert) sweeps=("$bert $ours slicetune.baseline=false") ;;
  stock-bert) sweeps=("$bert $stock") ;;
  single-resnet) sweeps=("$resnet $single") ;;
  ours-resnet) sweeps=("$resnet $ours slicetune.baseline=false") ;;
  stock-resnet) sweeps=("$resnet $stock") ;;
  *) echo "GROUP=$group is not allowed; choose one of: single-bert ours-bert stock-bert single-resnet" \
          "ours-resnet stock-resnet (or leave it unset)" >&2; exit 2 ;;
esac
source benchmarks/slices.sh
run_slices "$results/cuda/tuning_time/checkpoint.tar.xz" "$runs_root/cuda/tuning_time" common sweeps
