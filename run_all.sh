#!/usr/bin/env bash
# Regenerate every result and figure of slicetune. See --help.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
usage: ./run_all.sh [--full] [--platform auto|cpu|cuda] [--only EXP] [--resume] [--figures-only] [-- HYDRA_OVERRIDES...]

Creates (or reuses) .venv, installs slicetune, detects the platform (an NVIDIA GPU with CUDA MPS
-> cuda, else cpu), runs each experiment's profile and regenerates the figures from the result
files into results/<platform>/figures/. The quick profile measures again on this machine,
replacing the rows of the same cells (the committed ones included); --full resumes: completed
cells are skipped.

profiles (expected run time):
  quick (default)  interdependency of tiny_cnn, tuned at 50% and 100% of the device, each model
                   inferred at both shares + the untuned reference (about 5 minutes on 2 CPU
                   cores, plus about 1 minute to install on a fresh machine); then tuning_time
                   (tiny_cnn, 64 trials: stock and persistent-builder baselines, Slice-Tune with
                   K=2 clients and S=1 or 2 servers, both builders) and throughput (tiny_mlp and
                   tiny_cnn, 32 trials each, one after another vs at once) and scaling (the GPUs
                   present; on cpu one point): about 12 minutes more
  --full           the paper's matrix: resnet50 and mobilenet_v2, 5 tune x 5 inference shares,
                   2000 trials per tuning run: days on 2 CPU cores; on an H200 host a round of
                   16 resnet50 candidates took ~13 s, i.e. ~30 min per tuning run and ~5 hours
                   for both models one run after another

options:
  --platform P     force cpu or cuda (default: auto)
  --only EXP       run one experiment: interdependency, tuning_time, throughput or scaling
  --resume         quick profile: keep completed cells instead of measuring them again
  --figures-only   only regenerate figures from existing result files
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
    --only) ONLY=${2:?--only needs interdependency, tuning_time, throughput or scaling}; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "run_all.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$PLATFORM" in auto|cpu|cuda) ;; *) echo "run_all.sh: --platform '$PLATFORM' is not one of auto, cpu, cuda" >&2; exit 2 ;; esac
case "$ONLY" in all|interdependency|tuning_time|throughput|scaling) ;; *) echo "run_all.sh: --only '$ONLY' is not one of interdependency, tuning_time, throughput, scaling" >&2; exit 2 ;; esac
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

if [ "$FIGURES_ONLY" = 0 ]; then
  if [ "$PROFILE" = quick ]; then
    again=(); [ "$RESUME" = 1 ] || again=(rerun=true)
    if want interdependency; then
      $PY -m harness.sweep +exp=interdependency platform=$PLATFORM "${again[@]}" "${EXTRA[@]}"
    fi
    if want tuning_time; then
      $PY -m harness.sweep +exp=quick_tuning_time platform=$PLATFORM "${again[@]}" "${EXTRA[@]}"
    fi
    if want throughput; then
      $PY -m harness.sweep +exp=quick_throughput platform=$PLATFORM "${again[@]}" "${EXTRA[@]}"
    fi
    if want scaling; then  # GPU counts beyond those present are skipped
      $PY -m harness.sweep +exp=quick_scaling platform=$PLATFORM "${again[@]}" "${EXTRA[@]}"
    fi
  else
    for model in resnet50 mobilenet_v2; do
      $PY -m harness.sweep +exp=interdependency_full platform=$PLATFORM model=$model "${EXTRA[@]}"
    done
  fi
fi
echo "run_all.sh: figures:"
$PY -m analysis "results/$PLATFORM"
