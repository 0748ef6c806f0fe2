#!/usr/bin/env bash
# Two benchmark commands at once on a two-GPU host, each on its own GPU, its own half of the cores
# and its own MPS daemon, as if each had a one-GPU machine of half the host; every row they write
# says so in its side_by_side column. Check first that a pair measured alone and side by side
# differs by under 5% (issue 12) before comparing such rows with rows measured alone.
#
#   benchmarks/side_by_side.sh "BUDGET_S=540 benchmarks/tuning_time_real_budget.sh" \
#                              "BUDGET_S=540 benchmarks/interdependency_real_budget.sh"
#
# Output of each: side0.log, side1.log (in the project root); exit status: the worse of the two.
set -u
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then echo "usage: benchmarks/side_by_side.sh CMD_ON_GPU0 CMD_ON_GPU1" >&2; exit 2; fi
gpus=$(nvidia-smi -L 2>/dev/null | grep -c "^GPU")
if [ "$gpus" -lt 2 ]; then echo "side_by_side.sh: needs 2 GPUs, nvidia-smi lists $gpus" >&2; exit 2; fi
cores=$(nproc)
half=$((cores / 2))
one() {  # GPU index, command
  local lo=$(( $1 * half )) hi=$(( ($1 + 1) * half - 1 ))
  CUDA_VISIBLE_DEVICES=$1 SLICETUNE_MPS_DIR=/tmp/slicetune-mps-gpu$1 \
    SLICETUNE_SIDE_BY_SIDE="GPU $1 of $gpus, cores $lo-$hi of $cores" taskset -c "$lo-$hi" bash -c "$2" > "side$1.log" 2>&1
}
one 0 "$1" & a=$!
one 1 "$2" & b=$!
wait $a; ra=$?
wait $b; rb=$?
for i in 0 1; do echo "== side$i.log"; tr '\r' '\n' < "side$i.log" | grep -v "it/s\|s/it\|cell/s\|s/cell\|^\s*$" | tail -15; done
exit $(( ra > rb ? ra : rb ))
