"""benchmarks/slices.sh: a sliced call ends by its budget even when a sweep overruns its deadline,
and packs the checkpoint either way. The sweep is a stand-in (PYTHON) that runs until interrupted,
like a measurement that no deadline bounds."""

import os
import signal
import subprocess
import time

from tests.conftest import ROOT

STAND_IN = """#!/usr/bin/env bash
case "$2" in
  harness.sweep)
    trap 'kill $child; echo interrupted; exit 130' INT
    echo "sweep ${*: -2}"
    echo "args ${*:3}"
    sleep "$SWEEP_S" & child=$!
    wait $child ;;
  harness.checkpoint) echo "$3 $4" > "$5"; echo packed ;;
esac
"""


def stand_in_env(tmp_path, budget_s: int, sweep_s: int) -> dict:
    py = tmp_path / "python"
    py.write_text(STAND_IN)
    py.chmod(0o755)
    return {**os.environ, "PYTHON": str(py), "BUDGET_S": str(budget_s), "SLICE_MIN_S": "1", "SWEEP_S": str(sweep_s)}


def call(tmp_path, budget_s: int, sweep_s: int, sweeps: str = '"model=a" "model=b"', **popen):
    """bash running run_slices over `sweeps` with the stand-in; a Popen."""
    env = stand_in_env(tmp_path, budget_s, sweep_s)
    (tmp_path / "runs").mkdir()
    script = (f'source benchmarks/slices.sh; common=(platform=cpu); sweeps=({sweeps}); '
              f'run_slices {tmp_path}/ck.tar.xz {tmp_path}/runs common sweeps')
    return subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def test_a_sweep_past_the_budget_is_interrupted_and_the_checkpoint_packed(tmp_path):
    t0 = time.monotonic()
    p = call(tmp_path, budget_s=14, sweep_s=60)  # interrupted at 14 - 10 = 4 s
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 3, out
    assert time.monotonic() - t0 < 30
    assert "sweep model=a tune_deadline_s=-46" in out and "model=b" not in out  # the call ends with it
    assert "interrupted" in out and "was interrupted; its finished work is kept" in out
    assert (tmp_path / "ck.tar.xz").read_text().split() == ["pack", str(tmp_path / "runs")]
    assert out.rstrip().endswith("paused at BUDGET_S=14: run again to continue")


def test_sweeps_within_the_budget_all_run(tmp_path):
    p = call(tmp_path, budget_s=60, sweep_s=0)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out
    assert "model=a" in out and "model=b" in out and "interrupted" not in out
    assert out.rstrip().endswith("all done")


def test_ctrl_c_packs_the_checkpoint_too(tmp_path):
    p = call(tmp_path, budget_s=300, sweep_s=60, start_new_session=True)
    assert p.stdout.readline().startswith("sweep model=a")
    os.killpg(p.pid, signal.SIGINT)  # the terminal's Ctrl-C: the whole foreground group
    out, _ = p.communicate(timeout=30)
    assert p.returncode == 130, out
    assert "interrupted" in out and (tmp_path / "ck.tar.xz").exists()


def real_budget_script(tmp_path, group: str, script: str = "interdependency", **env) \
        -> tuple[subprocess.CompletedProcess, list[str]]:
    """benchmarks/<script>_real_budget.sh run with the stand-in; (the process, the arguments of each
    sweep it started)."""
    env = {**stand_in_env(tmp_path, 300, 0), "GROUP": group, "RESULTS_DIR": str(tmp_path / "results"),
           "RUNS_DIR": str(tmp_path / "runs"), **env}
    p = subprocess.run(["bash", f"benchmarks/{script}_real_budget.sh"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    return p, [line for line in p.stdout.splitlines() if line.startswith("args ")]


def test_a_real_budget_script_runs_only_the_groups_asked_for(tmp_path):
    p, sweeps = real_budget_script(tmp_path, "resnet")
    assert p.returncode == 0 and p.stdout.rstrip().endswith("all done"), p.stdout + p.stderr
    assert len(sweeps) == 1 and "+exp=interdependency model=resnet50" in sweeps[0], sweeps
    p, sweeps = real_budget_script(tmp_path, "ops-bert,bert")
    assert len(sweeps) == 2 and "op_interdependency model=bert_base" in sweeps[0], sweeps
    assert "+exp=interdependency model=bert_base" in sweeps[1], sweeps
    p, sweeps = real_budget_script(tmp_path, "resnet,vgg")
    assert p.returncode == 2 and "GROUP=vgg is not allowed; choose from: bert ops-bert ops-resnet resnet" in p.stderr
    assert "args" not in p.stdout and sweeps == []  # nothing ran


def test_the_scaling_script_passes_the_gpu_counts_and_scalings_asked_for(tmp_path):
    p, sweeps = real_budget_script(tmp_path, "resnet", "scaling")
    assert p.returncode == 0 and "slicetune.gpus=[1,2] slicetune.scale=[strong,weak]" in sweeps[0], sweeps
    p, sweeps = real_budget_script(tmp_path, "resnet", "scaling", GPUS="1,4", SCALE="strong")
    assert len(sweeps) == 1 and "slicetune.gpus=[1,4] slicetune.scale=[strong]" in sweeps[0], sweeps
    assert "model=resnet50" in sweeps[0]
