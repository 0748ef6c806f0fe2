"""Figures come from result files alone; the notebook renders the same figures."""

import os

import jupytext
import pandas as pd
import pytest
from nbclient import NotebookClient

from analysis.figures import make_all
from analysis.interdependency import interdependency_matrix, phase_table
from tests.conftest import ROOT

CTX = dict(exp="interdependency", platform="cpu", device="Test CPU", model="tiny_cnn", batch=1)


def write_fixture(root):
    """A small results tree in the harness's schema (synthetic test data, not results)."""
    d = root / "cpu" / "interdependency"
    d.mkdir(parents=True)
    rows = []
    lat = {(50, 50): 1.0, (50, 100): 0.8, (100, 50): 1.5, (100, 100): 0.6, (None, 50): 3.0, (None, 100): 2.0}
    for (t, i), ms in lat.items():
        for rep in range(3):
            rows.append({**CTX, "cell_id": f"{t}@{i}", "tune_share": t, "infer_share": i,
                         "infer_units": 1 if i == 50 else 2, "repeat": rep, "latency_ms": ms + 0.01 * rep})
    pd.DataFrame(rows).to_csv(d / "inference.csv", index=False)
    ph = []
    for t in (50, 100):
        for scope, phase, s in [("EvoSearch/Evolve/Mutation", "search", 3.0), ("SendToBuilder", "build", 5.0),
                                ("SendToRunner", "measure", 2.0), ("MeasureCallback/UpdateCostModel", "cost_model", 0.5),
                                ("Total", "total", 12.0)]:
            ph.append({**CTX, "cell_id": f"t{t}", "tune_share": t, "scope": scope, "phase": phase, "seconds": s})
    pd.DataFrame(ph).to_csv(d / "tuning_phases.csv", index=False)
    rounds = [{**CTX, "cell_id": f"t{t}", "tune_share": t, "round": r, "trials_done": 16 * (r + 1),
               "est_model_ms": 2.0 / (r + 1)} for t in (50, 100) for r in range(3)]
    pd.DataFrame(rounds).to_csv(d / "tuning_rounds.csv", index=False)
    return d


def test_matrix_normalises_to_best_per_inference_share(tmp_path):
    d = write_fixture(tmp_path)
    mat = interdependency_matrix(pd.read_csv(d / "inference.csv"))
    assert list(mat.index) == ["50%", "100%", "untuned"]
    assert list(mat.columns) == ["50%", "100%"]
    assert mat.loc["50%", "50%"] == pytest.approx(1.0)
    assert mat.loc["100%", "50%"] == pytest.approx(1.51 / 1.01)
    assert mat.loc["100%", "100%"] == pytest.approx(1.0)
    assert mat.loc["untuned", "100%"] == pytest.approx(2.01 / 0.61)


def test_phase_table_puts_unprofiled_time_in_other(tmp_path):
    d = write_fixture(tmp_path)
    tab = phase_table(pd.read_csv(d / "tuning_phases.csv"))
    row = tab[tab["tune_share"] == 50].iloc[0]
    assert row["build"] == 5.0 and row["other"] == pytest.approx(1.5)


def test_figures_from_result_files(tmp_path):
    write_fixture(tmp_path)
    paths = make_all(str(tmp_path))
    names = sorted(os.path.basename(p) for p in paths)
    assert names == ["interdependency_tiny_cnn_b1_convergence.png", "interdependency_tiny_cnn_b1_heatmap.png",
                     "interdependency_tuning_time.png"]
    assert all(os.path.getsize(p) > 3000 for p in paths)  # drawn: empty axes make a 2.6 KB PNG


def test_notebook_runs(tmp_path, monkeypatch):
    write_fixture(tmp_path)
    monkeypatch.setenv("SLICETUNE_RESULTS", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", ROOT)
    nb = jupytext.read(os.path.join(ROOT, "notebooks", "figures.py"))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert (tmp_path / "cpu" / "figures" / "interdependency_tiny_cnn_b1_heatmap.png").exists()


def test_a_figure_no_rows_draw_any_more_is_removed_only_where_every_experiment_was_drawn(tmp_path, capsys):
    from analysis.__main__ import main

    write_fixture(tmp_path)
    other = tmp_path / "cpu" / "other"  # a second experiment drawing into cpu/figures
    other.mkdir()
    (other / "inference.csv").write_text((tmp_path / "cpu" / "interdependency" / "inference.csv").read_text())
    stale = tmp_path / "cpu" / "figures" / "interdependency_gone_b1_heatmap.png"
    stale.parent.mkdir()
    stale.write_bytes(b"png")
    assert main([str(tmp_path / "cpu" / "interdependency")]) == 0  # one of the two: nothing removed
    assert main([str(tmp_path / "cpu" / "interdependency") + "/."]) == 0  # spelt otherwise: the same
    assert stale.exists() and not (tmp_path / "cpu" / "interdependency" / "figures").exists()
    assert main([str(tmp_path)]) == 0
    assert not stale.exists() and f"removed {stale}: no rows draw it now" in capsys.readouterr().out
    assert (tmp_path / "cpu" / "figures" / "interdependency_tiny_cnn_b1_heatmap.png").exists()
