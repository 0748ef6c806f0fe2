#!/usr/bin/env bash
# The interdependency at a real budget (issue 13), on one GPU, 5 tune x 5 inference shares:
# first per operator (op_interdependency: resnet50's and bert_base's 4 heaviest tasks, 256 trials
# per task and share, every share tuned at once on its own server), then whole models (bert_base at
# 64 trials per task, resnet50 at 32, each share tuned alone, plus the untuned model and the same
# model in PyTorch eager and torch.compile at every inference share).
#
#   BUDGET_S=540 benchmarks/interdependency_real_budget.sh   # again until it prints "all done"
#   GROUP=ops-resnet, ops-bert, bert or resnet (a,b for several; default all; operator sweeps
#   first) runs those sweeps only (e.g. GROUP=resnet once the others are done: no call spent
#   checking them)
#
# Sliced like benchmarks/tuning_time_real_budget.sh (checkpoints beside the results). Rows of one
# card only: on another card set RESULTS_DIR and RUNS_DIR (e.g. results/h100, runs/h100).
set -u
cd "$(dirname "$0")/.."
results=${RESULTS_DIR:-results}
runs_root=${RUNS_DIR:-runs}
common=(platform=cuda tuner.trials_per_round=16 tuner.population=64 tuner.genetic_iters=1
        tuner.init_min_unmeasured=6 tuner.scheduler=rolling "tune_shares=[10,25,50,75,100]"
        "infer_shares=[10,25,50,75,100]" results_dir="$results" runs_dir="$runs_root")
declare -A of=([ops-resnet]="+exp=op_interdependency model=resnet50"
               [ops-bert]="+exp=op_interdependency model=bert_base"
               [bert]="+exp=interdependency model=bert_base tuner.trials=896 tuner.max_trials_per_task=64 vendors=[torch_eager,torch_compile,torch_cudagraphs]"
               [resnet]="+exp=interdependency model=resnet50 tuner.trials=1216 tuner.max_trials_per_task=32 vendors=[torch_eager,torch_compile,torch_cudagraphs]")
source benchmarks/slices.sh
picked=()
pick_sweeps of picked ops-resnet,ops-bert,bert,resnet || exit $?
ops=() models=()
for s in "${picked[@]}"; do
  case $s in "+exp=op_"*) ops+=("$s") ;; *) models+=("$s") ;; esac
done
if [ ${#ops[@]} -gt 0 ]; then
  run_slices "$results/cuda/op_interdependency/checkpoint.tar.xz" "$runs_root/cuda/op_interdependency" common ops \
    || exit $?
fi
if [ ${#models[@]} -gt 0 ]; then
  BUDGET_S=$(( ${BUDGET_S:-540} - SECONDS )) \
    run_slices "$results/cuda/interdependency/checkpoint.tar.xz" "$runs_root/cuda/interdependency" common models
fi
