"""harness.checkpoint: a run directory packed here continues elsewhere, its databases trimmed."""

import json
import os
import tarfile

import pytest

from harness import checkpoint as C


def _record(wl, secs):
    return json.dumps([wl, [["trace"], secs, {"kind": "llvm"}, None]])


def test_trim_keeps_the_fastest_per_workload_in_order():
    lines = [_record(0, [3.0]), _record(1, [9.0]), _record(0, [1.0, 1.0]), _record(0, None), _record(0, [2.0]),
             _record(1, [8.0])]
    kept = C.trim_records("\n".join(lines) + "\n", keep=2).splitlines()
    assert kept == [lines[1], lines[2], lines[4], lines[5]]  # failed measurements never kept


def test_pack_unpack_round_trip(tmp_path):
    run = tmp_path / "runs" / "tuning_time"
    client = run / "cell-a" / "client0"
    client.mkdir(parents=True)
    (run / "cell-a" / "cell.state.json").write_text('{"wall_s": 12.0}')
    (client / "tune.progress.json").write_text('{"trials_done": 3}')
    (client / "database_workload.json").write_text('["w0"]\n')
    (client / "database_tuning_record.json").write_text("\n".join(_record(0, [s]) for s in (5.0, 4.0, 3.0)) + "\n")
    (client / "tune.log").write_text("not carried")
    (run / "cell-a" / "model.so").write_bytes(b"\0")
    dest = tmp_path / "ck.tar.xz"
    assert C.main(["pack", str(run), str(dest), "--keep", "1"]) == 0
    other = tmp_path / "elsewhere"
    assert C.unpack(str(dest), str(other)) == 4
    assert (other / "cell-a" / "cell.state.json").read_text() == '{"wall_s": 12.0}'
    assert not (other / "cell-a" / "model.so").exists() and not (other / "cell-a" / "client0" / "tune.log").exists()
    recs = (other / "cell-a" / "client0" / "database_tuning_record.json").read_text().splitlines()
    assert recs == [_record(0, [3.0])]


def test_a_finished_cell_keeps_what_compiling_it_needs(tmp_path):
    run = tmp_path / "runs"
    for cell, tuned in (("done", True), ("paused", False)):
        client = run / cell / "client0"
        client.mkdir(parents=True)
        (run / cell / "cell.state.json").write_text(json.dumps({"tuned": tuned}))
        (run / cell / "timeline.csv").write_text("t_s\n1\n")
        (run / cell / "measure.sessions.csv").write_text("0,1.0,2.0\n")
        for name in ("tune.progress.json", "tune.result.json"):
            (client / name).write_text("{}")
        (client / "database_workload.json").write_text('["w0"]\n')
        (client / "database_tuning_record.json").write_text("\n".join(_record(0, [s]) for s in (5.0, 4.0)) + "\n")
    C.pack(str(run), str(tmp_path / "ck.tar.xz"))
    with tarfile.open(tmp_path / "ck.tar.xz") as tar:
        names = set(tar.getnames())
        recs = tar.extractfile("done/client0/database_tuning_record.json").read().decode().splitlines()
    assert {n for n in names if n.startswith("done/")} == {
        "done/cell.state.json", "done/client0/database_workload.json", "done/client0/database_tuning_record.json"}
    assert recs == [_record(0, [4.0])]
    assert {"paused/timeline.csv", "paused/measure.sessions.csv", "paused/client0/tune.progress.json",
            "paused/client0/tune.result.json"} <= names


def test_a_cell_without_state_is_finished_when_its_result_says_complete(tmp_path):
    """op_interdependency's and interdependency's cells: their tuning result decides; it is kept
    (inference reads it) with the progress (a sweep that lost the rows finds nothing left to tune)."""
    run = tmp_path / "runs"
    for cell, complete in (("done", True), ("paused", False)):
        d = run / cell / "tune"
        d.mkdir(parents=True)
        (d / "tune.result.json").write_text(json.dumps({"complete": complete}))
        (d / "tune.progress.json").write_text("{}")
        (d / "timeline.csv").write_text("t_s\n1\n")
        (d / "database_workload.json").write_text('["w0"]\n["w1"]\n')
        (d / "database_tuning_record.json").write_text("\n".join(_record(1, [s]) for s in (5.0, 4.0)) + "\n")
    # a Slice-Tune cell's state decides, whatever its clients' results say
    client = run / "sliced" / "client0"
    client.mkdir(parents=True)
    (run / "sliced" / "cell.state.json").write_text(json.dumps({"tuned": False}))
    (client / "tune.result.json").write_text(json.dumps({"complete": True}))
    (client / "database_workload.json").write_text('["w0"]\n')
    (client / "database_tuning_record.json").write_text("\n".join(_record(0, [s]) for s in (5.0, 4.0)) + "\n")
    C.pack(str(run), str(tmp_path / "ck.tar.xz"))
    with tarfile.open(tmp_path / "ck.tar.xz") as tar:
        names = set(tar.getnames())
        read = {n: tar.extractfile(n).read().decode().splitlines() for n in names}
    assert {n for n in names if n.startswith("done/")} == {
        "done/tune/tune.result.json", "done/tune/tune.progress.json", "done/tune/database_workload.json",
        "done/tune/database_tuning_record.json"}
    assert read["done/tune/database_tuning_record.json"] == [_record(0, [4.0])]  # renumbered: one workload left
    assert read["done/tune/database_workload.json"] == ['["w1"]']
    assert "paused/tune/timeline.csv" in names and len(read["paused/tune/database_tuning_record.json"]) == 2
    assert len(read["sliced/client0/database_tuning_record.json"]) == 2


def test_a_finished_cell_keeps_only_the_workloads_its_records_use():
    records = "".join(_record(wl, [s]) + "\n" for wl, s in ((3, 2.0), (1, 1.0), (3, 1.5)))
    workloads = "".join(f'["w{i}"]\n' for i in range(5))
    recs, wls = C.trim_workloads(records, workloads)
    assert wls.splitlines() == ['["w1"]', '["w3"]']
    assert recs.splitlines() == [_record(1, [2.0]), _record(0, [1.0]), _record(1, [1.5])]


def test_bad_input_and_unsafe_archive(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        C.main(["pack", str(tmp_path / "nope"), str(tmp_path / "x.tar.gz")])
    assert e.value.code == 2 and "nope" in capsys.readouterr().err
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        src = tmp_path / "f"
        src.write_text("x")
        tar.add(src, "../../outside")
    with pytest.raises(tarfile.TarError):
        C.unpack(str(evil), str(tmp_path / "run"))
    assert not os.path.exists(tmp_path.parent / "outside")
