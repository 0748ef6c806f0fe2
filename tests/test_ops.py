"""op_interdependency: convergence read from a task's rounds; the experiment on CPU at tiny scale
(tune shares tuned at once on their own servers, every kernel timed at every share), its figures."""

import dataclasses
import os

import pytest

from harness.jobs import RoundRecord
from harness.metrics import convergence


def rounds(task: str, bests: list[float], per_round: int = 8) -> list[RoundRecord]:
    return [RoundRecord(i, task, 1.0 * i, per_round * (i + 1), per_round, per_round, b, None)
            for i, b in enumerate(bests)]


def test_converged_when_the_last_quarter_improves_little():
    settled = rounds("a", [5.0, 3.0, 2.0, 1.00, 1.01, 1.0, 1.2, 0.995]) + rounds("b", [9.0])
    c = convergence(settled, "a", 2.0)
    assert (c.trials, c.best_ms, c.converged) == (64, 0.995, True) and c.gain_pct == pytest.approx(0.5)
    moving = rounds("a", [5.0, 3.0, 2.0, 1.5, 1.4, 1.3, 1.2, 1.0])
    c = convergence(moving, "a", 2.0)
    assert not c.converged and c.gain_pct == pytest.approx(100 * (1.3 - 1.0) / 1.3, abs=1e-3)
    assert not convergence(rounds("a", [2.0, 2.0]), "a", 2.0).converged  # two rounds cannot tell
    none = convergence(rounds("a", [None, None, None, None]), "a", 2.0)
    assert none.best_ms is None and not none.converged


def test_cells_one_tuning_run_per_share_and_one_measurement_per_inference_share():
    from harness.cells import op_cells
    from harness.config import ModelConf, OpsConf, SweepConf

    cfg = SweepConf(experiment="op_interdependency", model=ModelConf(name="resnet50"), tune_shares=[25, 100],
                    infer_shares=[10, 25, 100], ops=OpsConf(top=4, trials=256))
    c = op_cells(cfg)
    assert [t.share.pct for t in c.tune] == [25, 100] and [s.pct for _, s in c.infer] == [10, 25, 100]
    assert c.tune[0].id.startswith("resnet50-b1-ops4x256-") and c.tune[0].id.endswith("-tune25")
    other = op_cells(SweepConf(experiment="op_interdependency", model=ModelConf(name="resnet50"), tune_shares=[25],
                               ops=OpsConf(top=4, trials=512)))
    assert other.tune[0].id != c.tune[0].id  # a budget per task is another run


@pytest.mark.parametrize("ops, bad", [(dict(top=0), "ops.top=0"), (dict(trials=-1), "ops.trials=-1"),
                                      (dict(converged_pct=0), "ops.converged_pct=0")])
def test_bad_ops_settings_are_named(ops, bad):
    from harness.config import ConfigError, OpsConf, SweepConf
    from harness.validation import validate

    with pytest.raises(ConfigError, match=bad):
        validate(SweepConf(experiment="op_interdependency", ops=OpsConf(**ops)))


@pytest.mark.slow
def test_op_interdependency_on_cpu(tmp_path):
    from harness import results as R
    from harness.config import InferConf, ModelConf, OpsConf, SweepConf, TunerConf
    from harness.experiments import run_sweep
    from analysis.figures import make_all

    cfg = SweepConf(experiment="op_interdependency", model=ModelConf(name="tiny_cnn"),
                    tuner=TunerConf(trials=8, trials_per_round=4, population=16, init_min_unmeasured=4),
                    infer=InferConf(warmup=1, number=5, repeats=3), tune_shares=[50, 100], infer_shares=[100],
                    ops=OpsConf(top=2, trials=4), results_dir=str(tmp_path / "results"),
                    runs_dir=str(tmp_path / "runs"))
    summary = run_sweep(cfg)
    assert len(summary.ran) == 3 and not summary.failed
    out = tmp_path / "results" / "cpu" / "op_interdependency"
    tuned = R.read_rows(str(out / R.OP_TUNING))
    assert len(tuned) == 4 and {r["tune_share"] for r in tuned} == {"50.0", "100.0"}
    assert all(int(r["trials"]) == 4 and float(r["best_us"]) > 0 for r in tuned)
    assert all(r["converged"] == "False" for r in tuned)  # a round cannot show it
    timed = R.read_rows(str(out / R.OP_INFERENCE))
    assert len(timed) == 2 * 2 * 3 and {r["infer_share"] for r in timed} == {"100.0"}
    assert {(r["task"], r["tune_share"]) for r in timed} == {(r["task"], r["tune_share"]) for r in tuned}
    assert sorted(p.rsplit("_", 1)[-1] for p in make_all(str(tmp_path / "results"))) == ["summary.png", "tasks.png"]
    # the shares measured one at a time (their servers share the device)
    from harness.jobs import TuneResult
    from harness.layout import tune_step
    from harness.records import read_json

    held = []  # per share, its measure spans merged (a batch sent while the last is measured overlaps it)
    for d in (tmp_path / "runs" / "cpu" / "op_interdependency").glob("*-tune*"):
        spans = sorted((s.start, s.end) for s in read_json(tune_step(str(d)).result, TuneResult).spans
                       if s.phase == "measure")
        assert spans
        for start, end in spans:
            if held and held[-1][2] == d.name and start <= held[-1][1]:
                held[-1][1] = max(held[-1][1], end)
            else:
                held.append([start, end, d.name])
    held.sort()
    # each share's spans close before it lets the lock go: not even a scheduler's delay overlaps them
    assert len(held) >= 2 and all(a[1] <= b[0] for a, b in zip(held, held[1:])), held
    assert run_sweep(cfg).ran == []  # done: nothing again

    os.remove(out / R.OP_INFERENCE)  # tuned, not measured: past its deadline the sweep measures nothing
    late = run_sweep(dataclasses.replace(cfg, tune_deadline_s=1e-6))  # passed before any step
    assert late.ran == [] and len(late.paused) == 1 and not (out / R.OP_INFERENCE).exists()
    assert len(run_sweep(cfg).ran) == 1 and len(R.read_rows(str(out / R.OP_INFERENCE))) == 2 * 2 * 3
