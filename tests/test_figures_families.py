"""Each figure family from a small synthetic results tree in the harness's schema; the family
is chosen by the rows' exp column (synthetic test data, not results)."""

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.figures import make_all
from analysis.load import last_runs
from analysis.scaling import steady_busy
from analysis.tuning_time import time_to_quality
from harness.results import (
    CURVES,
    THROUGHPUT,
    TUNING,
    TUNING_TIME,
    Context,
    ThroughputRow,
    TuneRow,
    TuningTimeRow,
    VERIFY,
)
from analysis.fidelity import task_fidelity, verify_cost

COMPARISON_PX, SCALING_PX = 1200, 1400  # widths at 100 dpi


def context(exp: str, model: str = "tiny_cnn", **kw) -> dict:
    ctx = Context(exp=exp, platform="cpu", device="Test CPU", model=model, batch=1, trials=32,
                  trials_per_round=16, builder="persistent", cost_model="xgb", search="evolutionary",
                  population=64, tuner_fp="fp0", tvm_version="0", git_commit="0", timestamp="0")
    return {**dataclasses.asdict(ctx), **kw}


def write_rows(d, name: str, rows: list[dict]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(d / name, index=False)


def write_timeline(d, cell: str, clients: int = 2) -> None:
    """Samples (with GPU columns and the epoch clock) and phase spans of one run, as older runs wrote them (.csv.gz)."""
    (d / "timelines").mkdir(parents=True, exist_ok=True)
    t = [float(i) for i in range(1, 21)]
    pd.DataFrame({"t_s": t, "cpu_util_pct": [50.0] * 20, "gpu_util_pct": [30.0] * 20, "gpu_mem_mib": [600.0] * 20,
                  "sm_clock_mhz": [1500.0] * 20, "gpu_procs": [clients] * 20, "epoch": [1000 + s for s in t]}
                 ).to_csv(d / "timelines" / f"{cell}.csv.gz", index=False)
    spans = [{"client": c, "round": r, "phase": phase, "start": 1001 + 6 * r + i, "end": 1002 + 6 * r + i + 2 * c}
             for c in range(clients) for r in range(2) for i, phase in enumerate(["search", "build", "measure"])]
    pd.DataFrame(spans).to_csv(d / "timelines" / f"{cell}.spans.csv.gz", index=False)


def config_row(exp: str, cell: str, mode: str, builder: str, wall_s: float, clients: int = 1, **ctx) -> dict:
    row = TuningTimeRow(cell_id=cell, mode=mode, clients=clients, servers=0 if mode == "baseline" else 2,
                        server_share=100.0 if mode == "baseline" else 50.0, gpus=1, split="lpt", trials_done=32,
                        valid_trials=32, n_tasks=3, wall_s=wall_s, tune_s=0.9 * wall_s, trials_per_s=32 / wall_s,
                        segments=1, final_latency_ms=1.0 + wall_s / 1000, latency_std_ms=0.01, infer_units=2)
    return {**context(exp, builder=builder, **ctx), **dataclasses.asdict(row)}


def write_configs(d, exp: str, baseline: bool = True) -> list[str]:
    """tuning_time.csv rows (stock baseline, persistent baseline, two Slice-Tune configurations)
    and the timelines of every run; returns the cells."""
    rows = [config_row(exp, "c-k2-persistent", "slicetune", "persistent", 60.0, clients=2),
            config_row(exp, "c-k4-persistent", "slicetune", "persistent", 40.0, clients=4)]
    if baseline:
        rows += [config_row(exp, "c-baseline-local", "baseline", "local", 160.0),
                 config_row(exp, "c-baseline-persistent", "baseline", "persistent", 90.0)]
    write_rows(d, TUNING_TIME, rows)
    for r in rows:
        write_timeline(d, r["cell_id"], r["clients"])
    return [r["cell_id"] for r in rows]


def figures(root) -> dict[str, int]:
    """make_all's PNGs: file name -> width in pixels."""
    out = {}
    for p in make_all(str(root)):
        assert os.path.getsize(p) > 3000
        with Image.open(p) as im:
            out[os.path.basename(p)] = im.size[0]
    return out


def test_tuning_time_comparison_and_its_timelines(tmp_path):
    write_configs(tmp_path / "cpu" / "tuning_time", "tuning_time")
    figs = figures(tmp_path)
    assert sorted(figs) == ["tuning_time_tiny_cnn_b1.png", "tuning_time_tiny_cnn_b1_timelines.png"]
    assert figs["tuning_time_tiny_cnn_b1.png"] == COMPARISON_PX


def test_time_to_quality_from_the_curves(tmp_path):
    d = tmp_path / "cpu" / "tuning_time"
    cells = write_configs(d, "tuning_time")
    # est. latency over time: the stock baseline ends at 2.0 ms; k4 gets there at 30 s, k2 never
    curves = {"c-baseline-local": [(50, 3.0), (150, 2.0)], "c-k4-persistent": [(10, 4.0), (30, 1.9)],
              "c-k2-persistent": [(20, 2.5)], "c-baseline-persistent": [(40, 2.0)]}
    write_rows(d, CURVES, [{**context("tuning_time"), "cell_id": c, "t_s": t, "trials_done": 16, "est_model_ms": e}
                           for c, pts in curves.items() for t, e in pts])
    tt = pd.read_csv(d / TUNING_TIME)
    reach = time_to_quality(tt, pd.read_csv(d / CURVES))
    assert reach.to_dict() == pytest.approx({"c-k2-persistent": float("nan"), "c-k4-persistent": 30.0,
                                            "c-baseline-local": 150.0, "c-baseline-persistent": 40.0}, nan_ok=True)
    assert "tuning_time_tiny_cnn_b1_quality.png" in figures(tmp_path) and len(cells) == 4


def test_scaling_is_picked_by_the_exp_column_not_by_a_baseline_row(tmp_path):
    d = tmp_path / "cpu" / "tuning_time"
    write_configs(d, "scaling", baseline=True)
    pd.read_csv(d / TUNING_TIME).drop(columns="scale").to_csv(d / TUNING_TIME, index=False)  # rows made before it
    figs = figures(tmp_path)
    assert sorted(figs) == ["scaling_tiny_cnn_b1.png", "scaling_tiny_cnn_b1_timelines.png"]
    assert figs["scaling_tiny_cnn_b1.png"] == SCALING_PX


def test_strong_and_weak_scaling_share_one_figure(tmp_path):
    d = tmp_path / "cuda" / "scaling"
    rows = []
    for cell, gpus, scale, trials, wall in [("g1", 1, "strong", 32, 40.0), ("g2", 2, "strong", 32, 24.0),
                                            ("g2-weak", 2, "weak", 64, 42.0)]:
        r = config_row("scaling", cell, "slicetune", "persistent", wall, clients=4 * gpus)
        rows.append({**r, "gpus": gpus, "scale": scale, "trials": trials, "trials_done": trials,
                     "trials_per_s": trials / wall})
    write_rows(d, TUNING_TIME, rows)
    for r in rows:
        write_timeline(d, r["cell_id"], r["clients"])
    assert sorted(figures(tmp_path)) == ["scaling_tiny_cnn_b1.png", "scaling_tiny_cnn_b1_timelines.png"]


def test_steady_busy_reads_the_timeline_after_every_client_sent_its_first_candidates(tmp_path):
    d = tmp_path / "scaling"
    write_timeline(d, "c", clients=2)  # measure spans start at epoch 1003 for both clients; the last ends at 1012
    tl = pd.read_csv(d / "timelines" / "c.csv.gz")
    start_up = tl["epoch"] < 1003
    tl.loc[start_up, "cpu_util_pct"], tl.loc[start_up, "gpu_util_pct"] = 100.0, 0.0
    tl.loc[tl["epoch"] > 1012, "cpu_util_pct"] = 0.0  # after tuning (inference)
    tl.to_csv(d / "timelines" / "c.csv.gz", index=False)
    assert steady_busy(str(d), "c") == (50.0, 30.0)
    assert all(np.isnan(steady_busy(str(d), "no-such-cell")))


def test_fidelity_from_the_verified_candidates(tmp_path):
    d = tmp_path / "cuda" / "fidelity"
    tuned = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    alone = {"c-s1": [10.0, 11.0, 12.0, 13.0, 14.0, 15.0],  # ranked as alone
             "c-s2": [12.0, 13.0, 10.5, 11.0, 16.0, 14.0]}  # the one chosen as tuned is 12/10.5 off
    rows, verified = [], []
    for cell, servers in (("c-s1", 1), ("c-s2", 2)):
        rows.append({**config_row("fidelity", cell, "slicetune", "persistent", 50.0, clients=4), "servers": servers,
                     "verify_s": 12.0 * servers})
        verified += [{**context("fidelity"), "cell_id": cell, "task": "t", "rank": i, "tuned_us": t,
                      "isolated_us": a, "chosen": a == min(alone[cell])} for i, (t, a) in enumerate(zip(tuned, alone[cell]))]
    write_rows(d, TUNING_TIME, rows)
    write_rows(d, VERIFY, verified)
    f = task_fidelity(pd.DataFrame(verified), k=3).set_index("cell_id")
    assert f.loc["c-s1", "spearman_all"] == pytest.approx(1.0) and f.loc["c-s1", "regret"] == 1.0
    assert f.loc["c-s2", "spearman_all"] < 0.95 and f.loc["c-s2", "regret"] == pytest.approx(12 / 10.5)
    assert f.loc["c-s2", "regret_verified"] == 1.0  # the best alone is in the top 3 as tuned
    assert f.loc["c-s2", "spearman_top"] == pytest.approx(-0.5)
    cost = verify_cost(pd.DataFrame(rows), task_fidelity(pd.DataFrame(verified)))  # 1 task, 6 candidates a cell
    assert cost.to_dict("index") == {1: {"per_task": 12.0, "per_candidate": 2.0},
                                     2: {"per_task": 24.0, "per_candidate": 4.0}}
    assert "fidelity_tiny_cnn_b1.png" in figures(tmp_path)


@pytest.mark.parametrize("baseline, width", [(True, COMPARISON_PX), (False, SCALING_PX)])
def test_rows_without_exp_column_fall_back_to_the_baseline_rule(tmp_path, baseline, width):
    d = tmp_path / "cpu" / "sweep"
    write_configs(d, "unused", baseline=baseline)
    pd.read_csv(d / TUNING_TIME).drop(columns="exp").to_csv(d / TUNING_TIME, index=False)
    figs = figures(tmp_path)
    assert sorted(figs) == ["sweep_tiny_cnn_b1.png", "sweep_tiny_cnn_b1_timelines.png"]
    assert figs["sweep_tiny_cnn_b1.png"] == width


def test_throughput(tmp_path):
    rows = []
    for mode, share, wall in [("baseline", 100.0, 100.0), ("slicetune", 50.0, 30.0)]:
        for model in ("tiny_mlp", "tiny_cnn"):
            row = ThroughputRow(cell_id=f"set-{mode}", mode=mode, jobs=2, models="tiny_mlp+tiny_cnn", job_share=share,
                                trials_done=32, job_tune_s=wall / 2, wall_s=wall, trials_per_s=64 / wall, segments=1,
                                final_latency_ms=0.5)
            rows.append({**context("throughput", model), **dataclasses.asdict(row)})
    write_rows(tmp_path / "cpu" / "throughput", THROUGHPUT, rows)
    assert list(figures(tmp_path)) == ["throughput_tiny_mlp_tiny_cnn.png"]


def write_tuning(d, shares_with_timeline: dict[str, dict[float, bool]], exp: str = "interdependency") -> None:
    """tuning.csv rows per model and share, with a timeline (spans included) where asked."""
    rows = []
    for model, shares in shares_with_timeline.items():
        for share, timeline in shares.items():
            cell = f"{model}-b1-fp0-tune{share:g}"
            row = TuneRow(cell_id=cell, tune_share=share, tune_units=1, unit="cores", trials_done=32, n_tasks=3,
                          extract_s=0.1, wall_s=30.0, compile_s=0.5, final_est_ms=1.0)
            rows.append({**context(exp, model), **dataclasses.asdict(row)})
            if timeline:
                write_timeline(d, cell)
    write_rows(d, TUNING, rows)


def test_single_run_timeline_per_model_at_the_largest_share_with_samples(tmp_path):
    d = tmp_path / "cpu" / "interdependency"
    write_tuning(d, {"tiny_cnn": {50.0: True, 75.0: True, 100.0: False}, "tiny_mlp": {100.0: True, 25.0: True}})
    assert last_runs(str(d), pd.read_csv(d / TUNING)) == ["tiny_cnn-b1-fp0-tune75", "tiny_mlp-b1-fp0-tune100"]
    assert sorted(figures(tmp_path)) == ["interdependency_timeline_tiny_cnn-b1-fp0-tune75.png",
                                         "interdependency_timeline_tiny_mlp-b1-fp0-tune100.png"]


def test_an_exp_without_a_family_of_its_own_is_drawn_by_its_files(tmp_path):
    d = tmp_path / "cpu" / "smoke"
    write_tuning(d, {"tiny_mlp": {100.0: True}}, exp="smoke")
    assert list(figures(tmp_path)) == ["smoke_timeline_tiny_mlp-b1-fp0-tune100.png"]


def test_rows_under_archive_are_not_drawn_unless_asked_for(tmp_path):
    write_configs(tmp_path / "cpu" / "tuning_time", "tuning_time")
    write_configs(tmp_path / "archive" / "cpu" / "tuning_time", "tuning_time")
    assert sorted(os.path.relpath(p, tmp_path) for p in make_all(str(tmp_path))) == [
        "cpu/figures/tuning_time_tiny_cnn_b1.png", "cpu/figures/tuning_time_tiny_cnn_b1_timelines.png"]
    assert len(make_all(str(tmp_path / "archive"))) == 2


def test_timelines_are_written_as_xz_and_read_as_older_runs_wrote_them(tmp_path):
    from harness.experiments.base import Base
    from harness.results import timeline_file, timeline_paths

    (tmp_path / "timelines").mkdir()
    pd.DataFrame({"t_s": [1.0]}).to_csv(tmp_path / "timelines" / "c.csv.gz", index=False)
    assert timeline_file(str(tmp_path), "c", written=True).endswith("c.csv.gz")
    Base._compress(timeline_paths(str(tmp_path), "c"), "t_s\n2.0\n")  # a re-run replaces the older file
    assert os.listdir(tmp_path / "timelines") == ["c.csv.xz"]
    assert pd.read_csv(timeline_file(str(tmp_path), "c", written=True))["t_s"].tolist() == [2.0]


def test_prune_removes_only_the_timelines_no_figure_draws(tmp_path):
    from analysis.prune import main as prune

    d = tmp_path / "cpu" / "interdependency"
    write_tuning(d, {"tiny_cnn": {50.0: True, 100.0: True}, "tiny_mlp": {25.0: True}})
    before = figures(tmp_path)
    files = lambda: sorted(p.name for p in (d / "timelines").iterdir())  # noqa: E731
    assert prune([str(tmp_path), "--dry-run"]) == 0 and len(files()) == 6
    assert prune([str(tmp_path)]) == 0
    assert files() == ["tiny_cnn-b1-fp0-tune100.csv.gz", "tiny_cnn-b1-fp0-tune100.spans.csv.gz",
                       "tiny_mlp-b1-fp0-tune25.csv.gz", "tiny_mlp-b1-fp0-tune25.spans.csv.gz"]
    assert figures(tmp_path) == before  # every figure is made as before
