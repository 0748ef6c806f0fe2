#!/usr/bin/env bash
# Measurement fidelity (issue 15), on one GPU: resnet50's and bert_base's 4 costliest tasks, 64
# trials each (256), tuned by K=4 clients on S = 1, 2, 4, 8 servers sharing the GPU, each task's top
# 32 then measured again alone at the tuning share (+exp=fidelity); same search settings as
# benchmarks/tuning_time_real_budget.sh.
#
#   BUDGET_S=540 benchmarks/fidelity_real_budget.sh   # again until it prints "all done"
#
# Sliced like benchmarks/tuning_time_real_budget.sh (a checkpoint beside the results). Rows of one
# card only: on another card set RESULTS_DIR and RUNS_DIR (e.g. results/h100, runs/h100).
set -u
cd "$(dirname "$0")/.."
results=${RESULTS_DIR:-results}
runs_root=${RUNS_DIR:-runs}
common=(+exp=fidelity platform=cuda tuner.trials=256 tuner.max_trials_per_task=64 tuner.population=64
        tuner.genetic_iters=1 tuner.init_min_unmeasured=6 tuner.scheduler=rolling
        results_dir="$results" runs_dir="$runs_root")
models=("model=resnet50" "model=bert_base")
source benchmarks/slices.sh
run_slices "$results/cuda/fidelity/checkpoint.tar.xz" "$runs_root/cuda/fidelity" common models
