#!/usr/bin/env bash
# Benchmark commands at once on a host of several GPUs, command i on GPU i (pinned by UUID: MPS
# renumbers devices), its own equal part of the cores (whole physical cores) and its own MPS
# daemon, as if each had a one-GPU machine of that part of the host; every row they write says so
# in its side_by_side column. Check first that a run measured alone and side by side differs by
# under 5% (issue 12: benchmarks/side_by_side_check.sh) before comparing such rows with rows
# measured alone. On the 4-GPU H100 host (64 vCPUs) it did not: 1.34x and 1.65x the wall time
# alone, 2.0x and 3.7x the CPU-s per trial (results/h100/side_by_side_check/).
#
#   benchmarks/side_by_side.sh "BUDGET_S=540 benchmarks/tuning_time_real_budget.sh" \
#                              "BUDGET_S=540 benchmarks/interdependency_real_budget.sh"
#
# PARTS=N splits the host into N parts although fewer commands run (a run alone, placed as it is
# side by side). Output of command i: side<i>.log (in the project root); exit status: the worst.
set -u
cd "$(dirname "$0")/.."
n=$#
cmds=("$@")
if [ "$n" -lt 1 ]; then echo "usage: benchmarks/side_by_side.sh CMD_ON_GPU0 [CMD_ON_GPU1 ...]" >&2; exit 2; fi
mapfile -t uuids < <(nvidia-smi --query-gpu=uuid --format=csv,noheader 2>/dev/null)
if [ "${#uuids[@]}" -lt "$n" ] || [ "${PARTS:-$n}" -lt "$n" ]; then
  echo "side_by_side.sh: $n commands need $n GPUs, nvidia-smi lists ${#uuids[@]}" >&2; exit 2
fi
cores=$(nproc)
# equal parts of whole physical cores (hyperthread siblings together: harness.device.share.split_host)
mapfile -t parts < <(python3 -c "from harness.device.share import split_host
for p in split_host(${PARTS:-$n}): print(','.join(map(str, p)))") || exit 2
pids=()
for ((i = 0; i < n; i++)); do
  CUDA_VISIBLE_DEVICES=${uuids[$i]} SLICETUNE_MPS_DIR=/tmp/slicetune-mps-gpu$i \
    SLICETUNE_SIDE_BY_SIDE="GPU $i of ${#uuids[@]}, cores ${parts[$i]} of $cores, $n at once" \
    taskset -c "${parts[$i]}" bash -c "${cmds[$i]}" > "side$i.log" 2>&1 &
  pids+=($!)
done
worst=0
for p in "${pids[@]}"; do wait "$p"; rc=$?; [ "$rc" -gt "$worst" ] && worst=$rc; done
for ((i = 0; i < n; i++)); do
  echo "== side$i.log"; tr '\r' '\n' < "side$i.log" | grep -v "it/s\|s/it\|cell/s\|s/cell\|^\s*$" | tail -15
done
exit "$worst"
