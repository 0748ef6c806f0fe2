"""Stock MetaSchedule against Slice-Tune on CPU shares: the grid, and real runs of both
experiments with a tiny model (real tuning, real tracker and servers, real compile and infer)."""

import logging
import os

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from harness import results as R
from harness.cells import GridPoint, grid, grid_cells
from harness.config import ConfigError, InferConf, ModelConf, SliceTuneConf, SweepConf, ThroughputConf, TunerConf
from harness.validation import validate
from harness.experiments import run_sweep
from harness.sweep import to_conf
from tests.conftest import CONF


def test_grid_has_the_baselines_then_every_slicetune_point():
    cfg = SweepConf(slicetune=SliceTuneConf(clients=[1, 4], servers=[1, 2], server_shares=[0, 50],
                                            builders=["local"]))
    g = grid(cfg)
    assert g[0] == GridPoint("baseline", "local")
    st = [c for c in g if c.mode == "slicetune"]
    assert len(st) == 2 * 3  # per K: s1 at 100% and 50%; s2 at 0 (=50%) and 50% is one point
    assert GridPoint("slicetune", "local", 4, 2, 50.0, split="queue", shared=True, hold=4, verify=5) in st
    assert all(c.verify == 5 for c in st) and g[0].verify == 0  # verified by default: Slice-Tune cells only
    # a fixed split is its own cell; lpt's label is the one it had before the queue came, and a
    # queue client holding one task at a time the one it had before clients held several
    queue = GridPoint("slicetune", "local", 4, 2, 50.0, split="queue", shared=True)
    assert queue.label == "k4-s2-p50-local-queue-shared"
    assert GridPoint("slicetune", "local", 4, 2, 50.0, split="queue", shared=True, hold=4).label \
        == "k4-s2-p50-local-queue-h4-shared"
    assert GridPoint("slicetune", "local", 4, 2, 50.0, split="queue").label == "k4-s2-p50-local-queue"
    assert GridPoint("slicetune", "local", 4, 2, 50.0, split="lpt").label == "k4-s2-p50-local"
    assert GridPoint("slicetune", "local", 4, 2, 50.0, split="queue", shared=True, hold=4, verify=5).label \
        == "k4-s2-p50-local-queue-h4-shared-v5"
    assert {c.label for c in g} >= {"baseline-local", "k4-s2-p50-local-queue-h4-shared-v5",
                                    "k1-s1-p100-local-queue-h4-shared-v5"}


def test_top_tasks_tunes_the_costliest_only():
    from harness.jobs import TaskInfo
    from harness.taskqueue import heaviest

    cfg = SweepConf(slicetune=SliceTuneConf(clients=[2], servers=[2], builders=["persistent"], top_tasks=2))
    assert [p.label for p in grid(cfg)] == ["baseline-persistent-t2", "k2-s2-p50-persistent-queue-h4-shared-v5-t2"]
    tasks = [TaskInfo("small", 10, 1), TaskInfo("big", 1000, 2), TaskInfo("mid", 100, 3)]
    assert [t.name for t in heaviest(tasks, 2)] == ["big", "mid"]
    assert [t.name for t in heaviest(tasks)] == ["big", "mid", "small"] == [t.name for t in heaviest(tasks, 5)]


def test_clients_per_gpu_and_weak_scaling_grow_with_the_gpus():
    cfg = SweepConf(tuner=TunerConf(trials=64, max_trials_per_task=16),
                    slicetune=SliceTuneConf(baseline=False, gpus=[1, 2], clients=[4], servers=[2],
                                            builders=["persistent"], clients_per_gpu=True, scale=["strong", "weak"],
                                            verify_top_k=0))
    validate(cfg)
    cells = grid_cells(cfg, grid(cfg))
    by_label = {p.label: (p, c.tuner) for c, p in cells.items()}
    assert sorted(by_label) == ["k4-s2-p50-persistent-queue-h4-shared",  # one GPU: strong and weak are one cell
                                "k8-s2-p50-g2-persistent-queue-h4-shared",
                                "k8-s2-p50-g2-weak-persistent-queue-h4-shared"]
    (one, t1), (strong, t2), (weak, tw) = (by_label[k] for k in sorted(by_label))
    assert (one.clients, strong.clients, weak.clients) == (4, 8, 8)  # K per GPU
    assert (t1.trials, t2.trials, tw.trials) == (64, 64, 128)  # weak: the budget per GPU
    assert (t2.max_trials_per_task, tw.max_trials_per_task) == (16, 32)
    cfg.slicetune.clients_per_gpu = False
    assert {p.clients for p in grid(cfg)} == {4}


def test_no_clients_runs_the_baselines_only():
    cfg = SweepConf(slicetune=SliceTuneConf(clients=[], builders=["local", "persistent"]))
    validate(cfg)
    assert grid(cfg) == [GridPoint("baseline", "local"), GridPoint("baseline", "persistent")]


@pytest.mark.parametrize("exp", ["tuning_time", "throughput", "scaling", "fidelity"])
def test_experiments_compose_and_validate(exp):
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        cfg = to_conf(compose("config", overrides=[f"+exp={exp}"]))
    validate(cfg)
    assert cfg.experiment == exp and cfg.dir_name == exp


@pytest.mark.parametrize("change, bad", [
    (dict(slicetune=SliceTuneConf(clients=[0])), "slicetune.clients has 0"),
    (dict(slicetune=SliceTuneConf(clients=[], baseline=False)), "slicetune.clients is empty"),
    (dict(slicetune=SliceTuneConf(builders=[])), "slicetune.builders is empty"),
    (dict(slicetune=SliceTuneConf(builders=["fast"])), "slicetune.builders entry='fast'"),
    (dict(slicetune=SliceTuneConf(server_shares=[150])), "server_shares has 150"),
    (dict(experiment="throughput", throughput=ThroughputConf(models=["nope"])), "throughput.models entry='nope'"),
    (dict(experiment="throughput", throughput=ThroughputConf(models=["onnx"])), "throughput.models has 'onnx'"),
    (dict(experiment="throughput", throughput=ThroughputConf(modes=[])), "throughput.modes is empty"),
    (dict(experiment="sideways"), "experiment='sideways'"),
    (dict(slicetune=SliceTuneConf(verify_top_k=-1)), "slicetune.verify_top_k=-1 is not allowed"),
    (dict(slicetune=SliceTuneConf(top_tasks=-2)), "slicetune.top_tasks=-2 is not allowed"),
])
def test_bad_comparison_settings_are_named(change, bad):
    with pytest.raises(ConfigError, match=bad.replace("[", r"\[")):
        validate(SweepConf(**change))


def conf(tmp_path, **kw) -> SweepConf:
    # a small search: the sweep's machinery is under test, not the search's quality
    return SweepConf(model=ModelConf(name="tiny_mlp"), tuner=TunerConf(trials=8, trials_per_round=4, population=16,
                                                                        genetic_iters=1, init_min_unmeasured=4),
                     infer=InferConf(warmup=1, number=5, repeats=3),
                     results_dir=str(tmp_path / "results"), runs_dir=str(tmp_path / "runs"), **kw)


@pytest.mark.slow
def test_tuning_time_baseline_and_slicetune(tmp_path, caplog):
    cfg = conf(tmp_path, name="tt", experiment="tuning_time",
               slicetune=SliceTuneConf(clients=[2], servers=[2], builders=["persistent"], verify_top_k=2))
    with caplog.at_level(logging.INFO, logger="harness"):
        summary = run_sweep(cfg)
    assert len(summary.ran) == 2 and not summary.paused
    # the baseline's process is kept up and tunes as a client of the next cell
    assert "tuning processes: 2 started, 1 jobs ran in one kept from an earlier job" in caplog.text
    out = tmp_path / "results" / "cpu" / "tt"
    rows = {r["mode"]: r for r in R.read_rows(str(out / R.TUNING_TIME))}
    assert set(rows) == {"baseline", "slicetune"}
    st, base = rows["slicetune"], rows["baseline"]
    assert (base["kept_processes"], st["kept_processes"]) == ("0", "1")
    assert (st["clients"], st["servers"], st["server_share"]) == ("2", "2", "50.0")
    for r in rows.values():
        assert int(r["trials_done"]) >= 8 and float(r["wall_s"]) > 0 and float(r["final_latency_ms"]) > 0
        assert float(r["trials_per_s"]) == pytest.approx(int(r["trials_done"]) / float(r["wall_s"]))
        assert r["builder"] == "persistent" and r["exp"] == "tuning_time"
        assert 0 < int(r["valid_trials"]) <= int(r["trials_done"])
    assert int(base["n_tasks"]) == int(st["n_tasks"])  # the shards cover the model's tasks
    assert 0 < int(st["tasks_measured"]) <= int(st["n_tasks"]) and st["scale"] == "strong"
    assert int(st["held"]) == max(1, min(4, int(st["n_tasks"]) // 2)) and base["held"] == ""  # 2 queue clients, hold 4
    # verification: the top 2 of each task measured again alone, the model compiled from the best of them
    assert st["cell_id"].endswith("-v2") and float(st["verify_s"]) > 0 and base["verify_s"] == ""
    checked = pd.read_csv(out / R.VERIFY)
    assert set(checked["cell_id"]) == {st["cell_id"]} and (checked["isolated_us"] > 0).all()
    per_task = checked.groupby("task")
    assert (per_task["rank"].max() <= 1).all() and (per_task["chosen"].sum() == 1).all()
    verified = tmp_path / "runs" / "cpu" / "tt" / st["cell_id"] / "verified" / "database_tuning_record.json"
    assert len(verified.read_text().splitlines()) == len(checked)  # what was measured alone, with those times
    measured = R.read_rows(str(out / R.MEASURES))  # every measured round with what ran beside it
    assert {m["cell_id"] for m in measured} == {base["cell_id"], st["cell_id"]}
    assert all(float(m["co_measuring"]) == 0 for m in measured if m["cell_id"] == base["cell_id"])
    # the servers' sessions: Slice-Tune's rounds were measured on its 2 servers; the baseline has none
    busy = [int(m["servers_measuring_max"]) for m in measured if m["cell_id"] == st["cell_id"]]
    assert max(busy) >= 1 and all(0 <= b <= 2 for b in busy)
    assert all(m["servers_measuring"] == "" for m in measured if m["cell_id"] == base["cell_id"])
    assert sum(int(m["candidates"]) for m in measured if m["cell_id"] == st["cell_id"]) == int(st["trials_done"])
    for r in rows.values():  # harness.metrics on every row, its curve and phase use beside it
        assert 0 < float(r["startup_s"]) < float(r["wall_s"]) and float(r["cpu_s_per_trial"]) > 0
        curve = [c for c in R.read_rows(str(out / R.CURVES)) if c["cell_id"] == r["cell_id"]]
        assert curve and float(curve[-1]["est_model_ms"]) == pytest.approx(float(r["est_final_ms"]))
        use = {u["phase"]: u for u in R.read_rows(str(out / R.PHASE_USE)) if u["cell_id"] == r["cell_id"]}
        assert {"search", "build", "measure"} <= set(use) and float(use["build"]["cpu_s"]) > 0
    spans = pd.read_csv(R.timeline_file(str(out), st["cell_id"], spans=True)).astype(str).to_dict("records")
    assert {r["client"] for r in spans} == {"0", "1"}
    assert os.path.exists(R.timeline_file(str(out), base["cell_id"]))
    assert run_sweep(cfg).ran == []  # done cells are skipped
    # rows lost, tuning kept (a results file not brought along): measured again, no new segment or trial
    os.remove(out / R.TUNING_TIME)
    assert len(run_sweep(cfg).ran) == 2
    again = {r["mode"]: r for r in R.read_rows(str(out / R.TUNING_TIME))}
    for mode, r in rows.items():
        for col in ("trials_done", "wall_s", "segments"):
            assert again[mode][col] == r[col], (mode, col)


@pytest.mark.slow
def test_throughput_one_after_another_and_side_by_side(tmp_path):
    cfg = conf(tmp_path, name="tp", experiment="throughput",
               throughput=ThroughputConf(models=["tiny_mlp", "tiny_cnn"]))
    run_sweep(cfg)
    rows = R.read_rows(str(tmp_path / "results" / "cpu" / "tp" / R.THROUGHPUT))
    assert sorted((r["mode"], r["model"]) for r in rows) == [
        ("baseline", "tiny_cnn"), ("baseline", "tiny_mlp"), ("slicetune", "tiny_cnn"), ("slicetune", "tiny_mlp")]
    for r in rows:
        assert r["jobs"] == "2" and r["models"] == "tiny_mlp+tiny_cnn" and float(r["final_latency_ms"]) > 0
        assert float(r["job_share"]) == (100.0 if r["mode"] == "baseline" else 50.0)
        assert float(r["wall_s"]) >= float(r["job_tune_s"]) > 0


def test_gpu_counts_beyond_those_present_are_skipped(tmp_path, caplog):
    from harness.experiments.scaling import Scaling

    cfg = conf(tmp_path, name="sc", experiment="scaling",
               slicetune=SliceTuneConf(baseline=False, gpus=[1, 2, 4], clients=[2], servers=[1], builders=["persistent"]))
    with caplog.at_level("WARNING", logger="harness"):
        r = Scaling(cfg)
    assert [p.gpus for p in r.cells.values()] == [1] and r.gpus_needed() == 1
    assert "needs 2 GPUs, 1 visible" in caplog.text and "needs 4 GPUs" in caplog.text


def test_no_segment_starts_nearer_the_deadline_than_it_needs(tmp_path):
    """A tuning segment needs its start-up and a round: with less than Segment.MIN_S before the
    deadline, the cells wait for the next call (which the slicing script makes) instead."""
    cfg = conf(tmp_path, name="late", experiment="tuning_time", tune_deadline_s=30.0,
               slicetune=SliceTuneConf(clients=[2], servers=[2], builders=["persistent"]))
    summary = run_sweep(cfg)
    assert summary.ran == [] and len(summary.paused) == 2
    assert not (tmp_path / "results" / "cpu" / "late" / R.TUNING_TIME).exists()
