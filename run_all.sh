#!/usr/bin/env bash
# Regenerate every result and figure of slicetune. See --help.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
usage: ./run_all.sh [--full] [--platform auto|cpu|cuda] [--only EXP] [--resume] [--figures-only] [-- HYDRA_OVERRIDES...]

Creates (or reuses) .venv, installs slicetune, detects the platform (an NVIDIA GPU with CUDA MPS
-> cuda, else cpu), runs each experiment's profile and draws the figures from the result files.
The quick profile measures on this machine into results/local/<platform>/ (not committed; its
figures in results/local/<platform>/figures/), apart from the committed reference results in
results/<platform>/; it measures again on every run unless --resume. --full writes the
reference results and resumes: completed cells are skipped. One experiment failing (or one of
its cells) does not stop the others: every experiment runs, every figure its rows allow is
drawn, and the failures are listed at the end (exit status 1).

profiles (expected run time):
  quick (default)  smoke tests of every experiment (a few rounds per task; nothing converges):
                   interdependency of tiny_cnn (48 trials), tuned at 50% and 100% of the device,
                   each model inferred at both shares + the untuned reference; op_interdependency
                   (tiny_cnn's 2 heaviest tasks, 16 trials each at 50% and 100%); tuning_time
                   (tiny_cnn, 32 trials: stock and persistent-builder baselines against K=2
                   clients on S=2 servers, both builders); throughput (tiny_mlp and tiny_cnn, 16
                   trials each, one after another vs at once); scaling on cuda only (the GPUs
                   present; one GPU count is one point). Under 20 minutes on 2 idle CPU cores,
                   install included (README: measured times)
  --full           the paper's matrix: resnet50 and mobilenet_v2, 5 tune x 5 inference shares,
                   2000 trials per tuning run: days on 2 CPU cores; on an H200 host a round of
                   16 resnet50 candidates took ~13 s, i.e. ~30 min per tuning run and ~5 hours
                   for both models one run after another

options:
  --platform P     force cpu or cuda (default: auto)
  --only EXP       run one experiment: interdependency, op_interdependency, tuning_time, throughput or scaling
  --resume         quick profile: keep this machine's completed cells instead of measuring them again
  --figures-only   only regenerate the figures of every result file under results/
  -h, --help       this text
environment:
  SLICETUNE_PYTHON=python3   use this interpreter as is (no .venv, no install): e.g. on a GPU
                             host where TVM comes from an offline bundle
USAGE
}

PROFILE=quick PLATFORM=auto FIGURES_ONLY=0 RESUME=0 ONLY=all EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --full) PROFILE=full ;;
    --platform) PLATFORM=${2:?--platform needs cpu, cuda or auto}; shift ;;
    --figures-only) FIGURES_ONLY=1 ;;
    --resume) RESUME=1 ;;
    --only) ONLY=${2:?--only needs interdependency, op_interdependency, tuning_time, throughput or scaling}; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "run_all.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$PLATFORM" in auto|cpu|cuda) ;; *) echo "run_all.sh: --platform '$PLATFORM' is not one of auto, cpu, cuda" >&2; exit 2 ;; esac
case "$ONLY" in all|interdependency|op_interdependency|tuning_time|throughput|scaling) ;; *) echo "run_all.sh: --only '$ONLY' is not one of interdependency, op_interdependency, tuning_time, throughput, scaling" >&2; exit 2 ;; esac
want() { [ "$ONLY" = all ] || [ "$ONLY" = "$1" ]; }

if [ -n "${SLICETUNE_PYTHON:-}" ]; then
  PY=$SLICETUNE_PYTHON
else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  PY=.venv/bin/python
  stamp=$(md5sum pyproject.toml | cut -c1-32)
  if [ "$(cat .venv/.slicetune-installed 2>/dev/null)" != "$stamp" ]; then
    echo "run_all.sh: installing slicetune into .venv (about a minute, once)"
    $PY -m pip install -q --upgrade pip
    $PY -m pip install -q -e .
    echo "$stamp" > .venv/.slicetune-installed
  fi
fi

if [ "$PLATFORM" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU \
     && command -v nvidia-cuda-mps-control >/dev/null 2>&1; then PLATFORM=cuda; else PLATFORM=cpu; fi
fi
echo "run_all.sh: platform=$PLATFORM profile=$PROFILE"

FAILED=()
sweep() {  # one experiment; a failure is noted and the next one runs
  echo "run_all.sh: $*"
  $PY -m harness.sweep "$@" || FAILED+=("$1 (exit $?)")
}
OUT=results
if [ "$FIGURES_ONLY" = 0 ]; then
  if [ "$PROFILE" = quick ]; then
    OUT=results/local
    again=(); [ "$RESUME" = 1 ] || again=(rerun=true)
    for exp in interdependency op_interdependency tuning_time throughput scaling; do
      # scaling compares GPU counts: on cpu it would be one point
      if [ $exp = scaling ] && [ "$PLATFORM" = cpu ] && [ "$ONLY" != scaling ]; then continue; fi
      if want $exp; then sweep +exp=quick_$exp platform=$PLATFORM results_dir=$OUT "${again[@]}" "${EXTRA[@]}"; fi
    done
  else
    for model in resnet50 mobilenet_v2; do
      sweep +exp=interdependency_full platform=$PLATFORM model=$model "${EXTRA[@]}"
    done
  fi
  OUT=$OUT/$PLATFORM
fi
echo "run_all.sh: figures from $OUT:"
$PY -m analysis "$OUT" || FAILED+=("figures (exit $?)")
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "run_all.sh: failed: ${FAILED[*]}; see the cells and logs listed above (failures.csv in each results directory)" >&2
  exit 1
fi
