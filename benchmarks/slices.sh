# Sourced by the real-budget scripts: long sweeps sliced into device commands of BUDGET_S seconds.
#
#   run_slices CHECKPOINT RUNS_DIR COMMON SWEEPS   (COMMON, SWEEPS: names of bash arrays)
#
# A fresh machine first unpacks CHECKPOINT into RUNS_DIR. Each sweep (COMMON + one entry of SWEEPS)
# runs with tune_deadline_s set from the time left, and is interrupted (SIGINT: it stops its workers
# and keeps what it finished) if it still runs 10 s before BUDGET_S; the first one that pauses ends
# the call. The run directory is packed into CHECKPOINT (trimmed databases, compressed) either way,
# Ctrl-C included. Prints "all done" (exit 0) or "paused ..." (exit 3: call again). No sweep starts
# with less than SLICE_MIN_S (150) seconds left.
run_slices() {
  local ck=$1 runs=$2
  local -n _common=$3 _sweeps=$4
  local budget=${BUDGET_S:-540} t0=$SECONDS py=${PYTHON:-python3} rc=0 out left s
  if [ ! -d "$runs" ] && [ -f "$ck" ]; then $py -m harness.checkpoint unpack "$ck" "$runs"; fi
  out=$(mktemp)
  for s in "${_sweeps[@]}"; do
    left=$((budget - (SECONDS - t0)))
    if [ "$left" -lt "${SLICE_MIN_S:-150}" ]; then rc=3; break; fi
    # --foreground: a Ctrl-C still reaches the sweep's workers; at the limit only the sweep is
    # signalled, and it ends them
    # shellcheck disable=SC2086
    timeout --foreground -s INT -k 60 $((left - 10)) \
      $py -m harness.sweep "${_common[@]}" $s tune_deadline_s=$((left - 60)) 2>&1 | tee -i "$out"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 124 ]; then
      echo "a sweep still ran 10 s before BUDGET_S=$budget and was interrupted; its finished work is kept"
      rc=3; break
    fi
    if [ "$rc" -ne 0 ]; then break; fi
    if grep -q "stopped at tune_deadline_s" "$out"; then rc=3; break; fi
  done
  rm -f "$out"
  if [ -d "$runs" ]; then $py -m harness.checkpoint pack "$runs" "$ck"; fi  # none: no sweep started
  case $rc in
    0) echo "all done" ;;
    3) echo "paused at BUDGET_S=$budget: run again to continue" ;;
  esac
  return $rc
}

# pick_sweeps OF OUT DEFAULT: appends to array OUT the entries of associative array OF named in
# GROUP (comma-separated; DEFAULT when unset); a name OF lacks is an error (returns 2).
pick_sweeps() {
  local -n _of=$1 _out=$2
  local g groups
  IFS=, read -ra groups <<< "${GROUP:-$3}"
  for g in "${groups[@]}"; do
    if [ -z "$g" ]; then continue; fi  # GROUP=a, or ,a
    if [ -z "${_of[$g]+set}" ]; then
      echo "GROUP=$g is not allowed; choose from: $(printf "%s\n" "${!_of[@]}" | sort | xargs) (or leave it unset)" >&2
      return 2
    fi
    _out+=("${_of[$g]}")
  done
}
