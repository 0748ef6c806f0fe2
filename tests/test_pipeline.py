"""The whole pipeline for real on CPU shares: tune -> database -> compile -> cross-infer -> rows.

One sweep is interrupted after its first tuning cell (completed rows must survive, no process
may linger), resumed to completion, then run again (everything skipped).
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pandas as pd
import pytest

from harness import results as R
from harness.config import InferConf, ModelConf, SweepConf, TunerConf
from harness.experiments import run_sweep
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
SHARES = [50, 100]


def conf(results, runs, **kw) -> SweepConf:
    kw = {"tune_shares": SHARES, "infer_shares": SHARES, **kw}
    return SweepConf(name="pipeline", model=ModelConf(name="tiny_mlp"),
                     tuner=TunerConf(trials=8, trials_per_round=4),
                     infer=InferConf(warmup=1, number=5, repeats=3),
                     results_dir=str(results), runs_dir=str(runs), **kw)


def interrupt_after_first_tuning(results, runs) -> None:
    cmd = [sys.executable, "-m", "harness.sweep", "+exp=smoke", "name=pipeline", "tuner.trials=8",
           "tuner.trials_per_round=4", "infer.warmup=1", "infer.number=5", "infer.repeats=3",
           f"tune_shares={SHARES}", f"infer_shares={SHARES}", f"results_dir={results}", f"runs_dir={runs}"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tuning = results / "cpu" / "pipeline" / R.TUNING
    deadline = time.time() + 400
    while not tuning.exists():
        assert p.poll() is None and time.time() < deadline, p.stdout.read() if p.poll() is not None else "timeout"
        time.sleep(0.5)
    time.sleep(3)  # the second tuning job is now running
    family = psutil.Process(p.pid).children(recursive=True)
    assert family, "the sweep should have a worker running"
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 130, out
    assert "interrupted" in out
    gone, alive = psutil.wait_procs(family, timeout=15)
    assert not alive, f"left behind: {alive}"
    assert len(R.done_cells(str(tuning))) == 1
    assert not (results / "cpu" / "pipeline" / R.FAILURES).exists(), "a cell stopped by Ctrl-C is no failure"


def scheduled_functions(work_dir: str) -> tuple[int, int]:
    """(fused functions of tiny_mlp the tuning database schedules when compiling, its records)."""
    import tvm
    from tvm.relax.transform import MetaScheduleApplyDatabase
    from tvm.s_tir import meta_schedule as ms

    from harness.worker.models import load
    from harness.worker.target import make_target
    from harness.worker.tasks import fuse

    target = make_target("cpu", 1)
    fused = fuse(load(ModelConf(name="tiny_mlp")).mod, target)
    db = ms.database.JSONDatabase(work_dir=work_dir)
    assert len(db) > 0
    with target, db, tvm.transform.PassContext(opt_level=3):
        applied = MetaScheduleApplyDatabase()(fused)
    n = sum(1 for _, f in applied.functions.items()
            if isinstance(f, tvm.tirx.PrimFunc) and f.attrs and f.attrs.get("tirx.is_scheduled"))
    return n, len(db)


def test_sweep_interrupt_resume_and_skip(dirs):
    results, runs = dirs
    interrupt_after_first_tuning(results, runs)
    out = results / "cpu" / "pipeline"
    assert not [f for f in os.listdir(out) if ".tmp" in f]

    summary = run_sweep(conf(results, runs))
    first = "tiny_mlp-b1-"
    assert not any(c.endswith("tune50") for c in summary.ran), "completed tuning cell was redone"
    assert any(c.endswith("tune100") for c in summary.ran)

    tuning = R.read_rows(str(out / R.TUNING))
    assert sorted(float(r["tune_share"]) for r in tuning) == SHARES
    assert {int(r["tune_units"]) for r in tuning} == {1, len(os.sched_getaffinity(0))} or len(os.sched_getaffinity(0)) == 1
    for r in tuning:
        assert int(r["trials_done"]) >= 8 and float(r["wall_s"]) > 0

    inf = R.read_rows(str(out / R.INFERENCE))
    pairs = {(r["tune_share"], r["infer_share"]) for r in inf}
    assert pairs == {(t, i) for t in ["50.0", "100.0", ""] for i in ["50.0", "100.0"]}
    for r in inf:
        assert float(r["latency_ms"]) > 0 and r["device"] and r["tvm_version"] and r["git_commit"]
    assert len(inf) == 6 * 3

    for r in R.read_rows(str(out / R.PHASES)):
        assert r["phase"] in {"search", "build", "measure", "cost_model", "other", "total"}
    assert R.read_rows(str(out / R.ROUNDS)) and R.read_rows(str(out / R.TASKS))

    row100 = next(r for r in tuning if r["tune_share"] == "100.0")
    tune_dir = runs / "cpu" / "pipeline" / row100["cell_id"]
    scheduled, records = scheduled_functions(str(tune_dir))
    assert scheduled >= 1
    # the interrupted attempt's finished rounds were continued, not repeated (a round that was
    # in the database but not yet in the progress file when the kill came is measured again)
    assert int(row100["trials_done"]) <= records <= int(row100["trials_done"]) + 4
    assert first in tune_dir.name

    shutil.rmtree(runs / "cpu" / "pipeline")  # a finished sweep's rows decide: no run directory needed
    again = run_sweep(conf(results, runs))
    assert again.ran == [] and len(again.skipped) == 2 + 6
    assert len(R.read_rows(str(out / R.INFERENCE))) == 6 * 3

    redo = run_sweep(conf(results, runs, tune_shares=[100], infer_shares=[100], untuned=False, rerun=True))
    assert len(redo.ran) == 2
    assert len(R.read_rows(str(out / R.INFERENCE))) == 6 * 3  # replaced, not duplicated


def test_deadline_pauses_and_the_same_sweep_continues(dirs):
    results, runs = dirs
    kw = dict(tune_shares=[100], infer_shares=[100])
    c = conf(results, runs, tune_deadline_s=0.5, **kw)  # starts, then stops after its first round
    c.tuner.trials, c.tuner.trials_per_round, c.tuner.max_trials_per_task = 12, 2, 6
    c.tuner.scheduler = "rolling"  # gradient would first send both tasks, then stop
    first = run_sweep(c)
    # the tuning cell, and the untuned model's measurement: no compile or measurement past the deadline
    assert len(first.paused) == 2 and first.ran == [], first
    out = results / "cpu" / "pipeline"
    assert not (out / R.TUNING).exists() and not (out / R.INFERENCE).exists()

    c.tune_deadline_s = None
    second = run_sweep(c)
    assert second.paused == [] and len(second.ran) == 4  # tune, compile untuned, infer both
    (row,) = R.read_rows(str(out / R.TUNING))
    assert int(row["segments"]) == 2 and int(row["trials_done"]) == 12
    assert [r["task"] for r in R.read_rows(str(out / R.ROUNDS))][:2] == [r["task"] for r in R.read_rows(
        str(out / R.TASKS))][:2]  # rolling: one task after the other
    rounds = R.read_rows(str(out / R.ROUNDS))
    per_task = {}
    for r in rounds:
        per_task[r["task"]] = per_task.get(r["task"], 0) + int(r["candidates"])
    # the per-task cap holds over both segments (MetaSchedule's own count restarts: 2 + 6 and 4)
    assert sorted(per_task.values()) == [6, 6], per_task
    assert [int(r["round"]) for r in rounds] == list(range(len(rounds)))
    assert [int(r["trials_done"]) for r in rounds] == sorted(int(r["trials_done"]) for r in rounds)
    _, records = scheduled_functions(str(runs / "cpu" / "pipeline" / row["cell_id"]))
    assert records == int(row["trials_done"])  # one database over both segments
    spans = pd.read_csv(R.timeline_file(str(out), row["cell_id"], spans=True)).to_dict("records")
    assert {r["phase"] for r in spans} >= {"search", "build", "measure", "cost_model"}
    assert all(float(r["end"]) >= float(r["start"]) for r in spans)
    assert len(R.read_rows(str(out / R.INFERENCE))) == 2 * 3
