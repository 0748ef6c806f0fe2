"""Figures never pool rows of different machines, say which commits their rows come from and
how far the search went, and draw no more than was measured (synthetic test data in the
harness's row schema, not results). Figures are checked as matplotlib objects."""

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import LogNorm

from analysis.figures import FAMILIES
from analysis.interdependency import heatmap, interdependency_matrix
from analysis.load import Experiment
from analysis.provenance import caption, depth, measured
from analysis.scaling import scaling
from harness.results import INFERENCE, THROUGHPUT, TUNING, TUNING_TIME, InferRow, ThroughputRow, TuneRow
from tests.test_figures_families import config_row, context


class Keep:
    """A `save` that keeps the figures by file name instead of writing them."""

    def __init__(self):
        self.figs = {}

    def __call__(self, fig, name, dpi=100):
        assert name not in self.figs, f"{name} drawn twice"
        self.figs[name] = fig


@pytest.fixture
def keep():
    k = Keep()
    yield k
    plt.close("all")


def draw(tmp_path, exp: str, frames: dict[str, list[dict]], family: str | None = None) -> dict:
    keep = Keep()
    FAMILIES[family or exp](Experiment(str(tmp_path), exp, {n: pd.DataFrame(r) for n, r in frames.items()}), keep)
    return keep.figs


def titles(fig) -> str:
    parts = [fig._suptitle.get_text()] if fig._suptitle else []
    return "\n".join(parts + [ax.get_title() for ax in fig.axes])


def inference_rows(untuned_ms: float = 3.0, **ctx) -> list[dict]:
    """Two tuned shares and the untuned model, three repeats per cell."""
    lat = {(50.0, 50.0): 1.0, (50.0, 100.0): 0.8, (100.0, 50.0): 1.5, (100.0, 100.0): 0.6,
           (None, 50.0): untuned_ms, (None, 100.0): untuned_ms}
    rows = []
    for (t, i), ms in lat.items():
        tune_cell = f"tiny_cnn-b1-fp0-tune{t:g}" if t else "tiny_cnn-b1-untuned"
        for rep in range(3):
            row = InferRow(cell_id=f"{tune_cell}@infer{i:g}", tune_cell=tune_cell, tune_share=t, tune_units=1,
                           infer_share=i, infer_units=1, unit="cores", repeat=rep, latency_ms=ms * (1 + 0.01 * rep))
            rows.append({**context("interdependency", **ctx), **dataclasses.asdict(row)})
    return rows


def tuning_rows(n_tasks: int = 3, **ctx) -> list[dict]:
    return [{**context("interdependency", **ctx), **dataclasses.asdict(
        TuneRow(cell_id=f"tiny_cnn-b1-fp0-tune{t:g}", tune_share=t, tune_units=1, unit="cores", trials_done=32,
                n_tasks=n_tasks, extract_s=0.1, wall_s=30.0, compile_s=0.5, final_est_ms=1.0))} for t in (50.0, 100.0)]


@pytest.mark.parametrize("column, values, suffixes", [
    ("device", ["CPU A", "CPU B"], ["_cpu_a", "_cpu_b"]),
    ("host", ["node-1", "node-2"], ["_node_1", "_node_2"]),
])
def test_rows_of_two_machines_give_two_heatmaps(tmp_path, column, values, suffixes):
    rows = [r for v in values for r in inference_rows(**{column: v})]
    figs = draw(tmp_path, "interdependency", {INFERENCE: rows})
    assert sorted(figs) == [f"interdependency_tiny_cnn_b1{s}_heatmap.png" for s in suffixes]
    for v, s in zip(values, suffixes):
        text = titles(figs[f"interdependency_tiny_cnn_b1{s}_heatmap.png"])
        assert v in text and not any(o in text for o in values if o != v)


def test_rows_of_two_hosts_give_two_comparisons_and_a_missing_host_is_one_machine(tmp_path):
    rows = [config_row("tuning_time", f"c-{h}-{m}", m, "local", 100.0, host=h)
            for h in ("node-1", "node-2") for m in ("baseline", "slicetune")]
    figs = draw(tmp_path, "tuning_time", {TUNING_TIME: rows})
    assert sorted(figs) == ["tuning_time_tiny_cnn_b1_node_1.png", "tuning_time_tiny_cnn_b1_node_2.png"]
    for r in rows:
        del r["host"]
    assert list(draw(tmp_path, "tuning_time", {TUNING_TIME: rows})) == ["tuning_time_tiny_cnn_b1.png"]


def test_throughput_of_two_devices_is_two_figures(tmp_path):
    rows = []
    for dev in ("GPU A", "GPU B"):
        for mode, wall in [("baseline", 100.0), ("slicetune", 30.0)]:
            row = ThroughputRow(cell_id=f"set-{mode}", mode=mode, jobs=1, models="tiny_cnn", job_share=100.0,
                                trials_done=32, job_tune_s=wall, wall_s=wall, trials_per_s=32 / wall, segments=1,
                                final_latency_ms=0.5)
            rows.append({**context("throughput", device=dev), **dataclasses.asdict(row)})
    assert sorted(draw(tmp_path, "throughput", {THROUGHPUT: rows})) == ["throughput_tiny_cnn_gpu_a.png",
                                                                      "throughput_tiny_cnn_gpu_b.png"]


def test_rows_of_two_commits_are_labelled(tmp_path):
    rows = [config_row("tuning_time", "c-base", "baseline", "local", 160.0, git_commit="aaaaaaa"),
            config_row("tuning_time", "c-k2", "slicetune", "persistent", 60.0, clients=2, git_commit="bbbbbbb")]
    fig = draw(tmp_path, "tuning_time", {TUNING_TIME: rows})["tuning_time_tiny_cnn_b1.png"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert any(lab.endswith("[aaaaaaa]") for lab in labels) and any(lab.endswith("[bbbbbbb]") for lab in labels)
    assert "rows from commits aaaaaaa, bbbbbbb" in titles(fig)


def test_one_commit_is_not_labelled(tmp_path):
    rows = [config_row("tuning_time", "c-base", "baseline", "local", 160.0),
            config_row("tuning_time", "c-k2", "slicetune", "persistent", 60.0, clients=2)]
    fig = draw(tmp_path, "tuning_time", {TUNING_TIME: rows})["tuning_time_tiny_cnn_b1.png"]
    assert not any("[" in t.get_text() for t in fig.axes[0].get_yticklabels())
    assert "commits" not in titles(fig)


def test_heatmap_footnotes_the_commits_of_its_tuning_runs(tmp_path):
    tuning = tuning_rows()
    tuning[0]["git_commit"] = "1111111"
    figs = draw(tmp_path, "interdependency", {INFERENCE: inference_rows(), TUNING: tuning})
    assert "rows from commits 0, 1111111" in titles(figs["interdependency_tiny_cnn_b1_heatmap.png"])


def test_titles_state_rounds_per_task_and_smoke_test(tmp_path):
    # 32 trials, 16 a round, 3 tasks: 0.67 rounds per task
    rows = [config_row("tuning_time", "c-base", "baseline", "local", 160.0),
            config_row("tuning_time", "c-k2", "slicetune", "persistent", 60.0, clients=2)]
    text = titles(draw(tmp_path, "tuning_time", {TUNING_TIME: rows})["tuning_time_tiny_cnn_b1.png"])
    assert "smoke test: 0.67 rounds per task (32 trials, 16 a round, 3 tasks)" in text
    figs = draw(tmp_path, "interdependency", {INFERENCE: inference_rows(), TUNING: tuning_rows()})
    assert "smoke test: 0.67 rounds per task" in titles(figs["interdependency_tiny_cnn_b1_heatmap.png"])


def test_depth_without_smoke_test_and_without_tasks():
    deep = pd.DataFrame([{"trials": 960, "trials_per_round": 16, "n_tasks": 3}])
    assert depth(deep) == "20 rounds per task (960 trials, 16 a round, 3 tasks)"
    assert depth(deep.drop(columns="n_tasks").assign(trials=16)) == \
        "smoke test: at most 1 round per task (16 trials, 16 a round, tasks not recorded)"
    assert depth(pd.DataFrame([{"trials": 960, "trials_per_round": 16}])).startswith("at most 60 rounds")
    assert depth(pd.DataFrame([{"latency_ms": 1.0}])) == ""


def test_titles_warn_when_most_candidates_failed_to_measure():
    rounds = pd.DataFrame([{"valid": 1, "candidates": 16}, {"valid": 2, "candidates": 16}])
    assert measured(rounds) == "WARNING: only 9% of the candidates were measured (runner errors)"
    assert measured(pd.DataFrame([{"valid_trials": 30, "trials_done": 32}])) == ""
    assert measured(None) == "" and measured(pd.DataFrame([{"latency_ms": 1.0}])) == ""


def gpu_rows(gpus: list[int]) -> pd.DataFrame:
    return pd.DataFrame([{**config_row("scaling", f"c-g{n}", "slicetune", "persistent", 60.0 / n), "gpus": n}
                         for n in gpus])


def test_scaling_with_one_gpu_count_has_no_reference_lines_and_no_ticks_beyond_it(keep):
    fig = scaling(gpu_rows([1]), "t")
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [1]
        assert ax.get_xlim()[0] > 0 and ax.get_xlim()[1] < 2
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 1, 1, 0]  # the measured point only; no timelines
    assert "no timelines kept" in [t.get_text() for t in fig.axes[3].texts]
    assert "one GPU count measured" in titles(fig)


def test_scaling_reference_lines_span_the_measured_gpu_counts(keep):
    fig = scaling(gpu_rows([2, 4]), "t")
    assert list(fig.axes[0].get_xticks()) == [2, 4]
    refs = fig.axes[0].get_lines()[1:]
    assert len(refs) == 2 and all(list(r.get_xdata()) == [2, 4] for r in refs)
    assert "one GPU count" not in titles(fig)


def test_heatmap_colour_scale_covers_the_untuned_row_and_shows_the_spread(keep):
    inf = pd.DataFrame(inference_rows(untuned_ms=30.0))
    mat = interdependency_matrix(inf)
    fig = heatmap(inf, "t")
    norm = fig.axes[0].collections[0].norm
    assert isinstance(norm, LogNorm)
    assert norm.vmax >= mat.loc["untuned"].max() > 2 * mat.drop(index="untuned").max().max()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert f"{mat.loc['untuned', '50%']:.2f}\nIQR 1%" in texts  # (30.45 - 30.15) / 30.3
    assert np.isclose(mat.loc["untuned", "50%"], 30.3 / 1.01)


def test_caption_keeps_the_line_breaks_inside_a_line():
    long = "x " * 120
    assert caption("a: b", "", "median latency\nunder it: IQR", long).split("\n")[:3] == [
        "a: b", "median latency", "under it: IQR"]
    assert all(len(line) <= 190 for line in caption(long).split("\n"))
