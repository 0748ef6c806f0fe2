"""The tuning-share advisor reads the interdependency rows and names the tune share whose worst
slowdown over the deployment range is smallest."""

import pandas as pd
import pytest

from analysis.advise import advise_rows, main, parse_range

# median latency (ms) tuned at row share, inferred at column share (None: untuned)
LAT = {25: {25: 2.0, 50: 1.6, 100: 1.5}, 50: {25: 2.1, 50: 1.2, 100: 1.1}, 100: {25: 3.0, 50: 1.3, 100: 1.0},
       None: {25: 2.5, 50: 2.0, 100: 1.8}}


def rows() -> pd.DataFrame:
    out = []
    for t, by in LAT.items():
        for i, ms in by.items():
            for rep, jitter in enumerate((0.99, 1.0, 1.01)):
                out.append(dict(exp="interdependency", platform="cuda", device="NVIDIA H200", host="gpu1",
                                model="resnet50", batch=1, trials=1216, trials_per_round=16, tuner_fp="abc",
                                cell_id=f"c{t}@{i}", tune_cell=f"c{t}", tune_share=t, infer_share=i, repeat=rep,
                                latency_ms=ms * jitter))
    return pd.DataFrame(out)


def with_vendor() -> pd.DataFrame:
    """rows() and torch.compile at each share: faster than every tuned model at 25%, slower elsewhere."""
    base = rows().assign(source="tvm")
    extra = base[base["tune_share"] == 50].assign(source="torch_compile", tune_share=None, tune_cell="")
    extra["latency_ms"] = extra["infer_share"].map({25: 1.5, 50: 1.5, 100: 1.5})
    return pd.concat([base, extra], ignore_index=True)


def test_vendor_rows_are_references_not_candidates():
    table, pick, worst, _ = advise_rows(with_vendor(), 25, 100)
    assert list(table.index) == ["25%", "50%", "100%", "untuned", "torch.compile"]
    assert table.loc["torch.compile", "25%"] == pytest.approx(1.5 / 2.0)  # beats the best tuned model there
    assert pick == "50%" and worst == pytest.approx(1.1)  # picked from the tuned rows only
    from analysis.advise import Advice, report

    text = report(Advice("t", table, pick, worst, None), 25, 100)
    assert "against torch.compile: the model tuned at 50% is faster at 50%, 100% of 25%, 50%, 100%" in text


def test_the_smallest_worst_slowdown_over_the_range_wins():
    table, pick, worst, untuned = advise_rows(rows(), 25, 50)
    assert list(table.columns) == ["25%", "50%", "worst"]
    assert pick == "50%" and worst == pytest.approx(2.1 / 2.0)  # 25%'s worst is 1.6/1.2, 100%'s 3.0/2.0
    assert untuned == pytest.approx(2.0 / 1.2)
    table, pick, worst, _ = advise_rows(rows(), 50, 100)
    assert pick == "100%" and worst == pytest.approx(1.3 / 1.2)  # 50%'s worst is 1.1/1.0
    assert advise_rows(rows(), 60, 90) is None  # no inference share in the range


def test_ranges_are_checked():
    assert parse_range("25-75") == (25.0, 75.0) and parse_range("10 - 100%") == (10.0, 100.0)
    for bad in ("75-25", "0-50", "abc", "25-175"):
        with pytest.raises(ValueError, match=f"--deploy '{bad}'"):
            parse_range(bad)


def test_cli_prints_the_table_and_the_advice(tmp_path, capsys):
    d = tmp_path / "cuda" / "interdependency"
    d.mkdir(parents=True)
    rows().to_csv(d / "inference.csv.gz", index=False)
    assert main([str(tmp_path), "--deploy", "25-100"]) == 0
    out = capsys.readouterr().out
    assert "resnet50 (batch 1) on NVIDIA H200 (host gpu1)" in out and "worst" in out
    assert "advice: tune at 50%: at most 1.100x the best tuned model anywhere in 25-100%" in out
    assert "smoke test" not in out
    assert main([str(tmp_path), "--deploy", "60-90"]) == 1
    assert main([str(tmp_path), "--deploy", "90-60"]) == 2
    assert "needs 0 < LO <= HI <= 100" in capsys.readouterr().err


def test_reference_rows_join_every_tuner_setting():
    """The untuned and vendor cells carry no tuner setting: measured once, they belong beside the
    tuned models of every setting."""
    from analysis.interdependency import with_references

    inf = with_vendor()
    later = rows().assign(source="tvm", tuner_fp="def", latency_ms=lambda d: d["latency_ms"] * 0.9)
    later = later[later["tune_share"].notna()].assign(cell_id=lambda d: "late-" + d["cell_id"])
    both = pd.concat([inf, later], ignore_index=True)
    g = with_references(both[both["tuner_fp"] == "def"], both)
    assert set(g["source"]) == {"tvm", "torch_compile"} and g["tune_share"].isna().any()
    assert len(g) == len(later) + int(inf["tune_share"].isna().sum())


def test_operator_rows_are_advised_on_the_geometric_mean_over_tasks(tmp_path, capsys):
    """op_interdependency rows: task a favours its own share, task b the 100% kernel; the geometric
    mean decides (25%: worst sqrt(1.0 * 1.44) = 1.2 over 25-100; 100%: sqrt(2.25 * 1.0) = 1.5)."""
    us = {"a": {25: {25: 10.0, 100: 5.0}, 100: {25: 15.0, 100: 5.0}},
          "b": {25: {25: 10.0, 100: 7.2}, 100: {25: 15.0, 100: 5.0}}}
    out = [dict(exp="op_interdependency", platform="cuda", device="NVIDIA H100", host="gpu1", model="resnet50",
                batch=1, trials=256, trials_per_round=16, tuner_fp="abc", cell_id=f"i{i}", tune_cell=f"t{t}",
                task=task, tune_share=t, infer_share=i, repeat=rep, latency_us=v * jitter)
           for task, by in us.items() for t, row in by.items() for i, v in row.items()
           for rep, jitter in enumerate((0.99, 1.0, 1.01))]
    tuning = [dict(exp="op_interdependency", cell_id=f"t{t}", task=task, trials=256, trials_per_round=16,
                   converged=task == "a") for task in us for t in (25, 100)]
    d = tmp_path / "cuda" / "op_interdependency"
    d.mkdir(parents=True)
    pd.DataFrame(out).to_csv(d / "op_inference.csv.gz", index=False)
    pd.DataFrame(tuning).to_csv(d / "op_tuning.csv", index=False)
    assert main([str(tmp_path), "--deploy", "25-100"]) == 0
    text = capsys.readouterr().out
    assert "resnet50 (batch 1) kernels of 2 tasks on NVIDIA H100 (host gpu1)" in text
    assert "converged: 2 of 4 runs" in text
    assert "advice: tune at 25%: at most 1.200x the best tuned kernels anywhere in 25-100%" in text
    assert main([str(tmp_path), "--deploy", "100-100"]) == 0
    assert "advice: tune at 100%: at most 1.000x" in capsys.readouterr().out
