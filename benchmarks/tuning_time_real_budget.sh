#!/usr/bin/env bash
# Slice-Tune at a real trial budget (issue 12), on one GPU: bert_base at 64 trials per task (896)
# and resnet50 at 32 per task (1216), batch 1, the best single process against Slice-Tune (K=4
# clients taking tasks from a shared queue, on S=1 server at 100%, S=2 at 50% and S=4 at 25%),
# same search settings and seed; then stock MetaSchedule (LocalBuilder, LocalRunner) alike, and
# Slice-Tune with the stock builder at each model's best S (to separate the mechanism from our builder).
#
#   BUDGET_S=540 benchmarks/tuning_time_real_budget.sh   # again until it prints "all done"
#
# Each call stops its tuning at BUDGET_S (paused cells continue at the next call, on a machine
# with the same card) and packs the run directory into a checkpoint beside the results, which a
# fresh machine unpacks first. Slice-Tune runs first, so a short call still yields its rows.
# Rows of one card only: on another card set RESULTS_DIR and RUNS_DIR (e.g. results/h100, runs/h100).
#
# GROUP=NAME runs one group of sweeps only: single-bert, ours-bert, stock-bert, single-resnet,
# ours-resnet, stock-resnet, stockbuilder-bert, stockbuilder-resnet (same run directory and checkpoint: one call at a time); GROUP=a,b
# runs a, then b once a is all done; unset: every group, Slice-Tune first. RERUN=1 measures the
# groups' cells again from the start (their old rows are replaced); leave it off to continue.
set -u
cd "$(dirname "$0")/.."
results=${RESULTS_DIR:-results}
runs_root=${RUNS_DIR:-runs}
common=(+exp=tuning_time platform=cuda tuner.population=64 tuner.genetic_iters=1 tuner.init_min_unmeasured=6
        tuner.scheduler=rolling slicetune.verify_top_k=0 results_dir="$results" runs_dir="$runs_root")
# verify_top_k=0: these rows were measured before verification was on by default (issue 15 measures it)
[ "${RERUN:-0}" = 1 ] && common+=(rerun=true)
bert="model=bert_base tuner.trials=896 tuner.max_trials_per_task=64"
resnet="model=resnet50 tuner.trials=1216 tuner.max_trials_per_task=32"
ours="slicetune.servers=[1,2,4] slicetune.clients=[4] slicetune.builders=[persistent] slicetune.baseline=false"
single="slicetune.servers=[1,2,4] slicetune.clients=[] slicetune.builders=[persistent]"  # the best single process
stock="slicetune.servers=[1,2,4] slicetune.clients=[] slicetune.builders=[local]"  # the stock baseline only
stockbuilder="slicetune.clients=[4] slicetune.builders=[local] slicetune.baseline=false"  # + servers: the best S
declare -A of=([ours-bert]="$bert $ours" [single-bert]="$bert $single" [ours-resnet]="$resnet $ours"
               [single-resnet]="$resnet $single" [stock-bert]="$bert $stock" [stock-resnet]="$resnet $stock"
               [stockbuilder-bert]="$bert $stockbuilder slicetune.servers=[4]"
               [stockbuilder-resnet]="$resnet $stockbuilder slicetune.servers=[2]")
source benchmarks/slices.sh
sweeps=()
pick_sweeps of sweeps ours-bert,single-bert,ours-resnet,single-resnet,stock-bert,stock-resnet,stockbuilder-bert,stockbuilder-resnet \
  || exit $?
run_slices "$results/cuda/tuning_time/checkpoint.tar.xz" "$runs_root/cuda/tuning_time" common sweeps
