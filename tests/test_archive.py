"""harness.archive: superseded cells' rows move under results/archive/, their timelines leave the tree."""

import pytest

from harness import archive as A
from harness.results import CURVES, TUNING_TIME, timeline_file
from harness.tables import read_rows, write_rows


def _cells(path):
    return sorted(r["cell_id"] for r in read_rows(str(path)))


def test_named_cells_move_with_their_rows_and_timelines(tmp_path):
    exp = tmp_path / "results" / "h100" / "cuda" / "tuning_time"
    write_rows(str(exp / TUNING_TIME), [{"cell_id": c, "wall_s": w} for c, w in (("old", 9), ("new", 5))])
    write_rows(str(exp / CURVES), [{"cell_id": c, "t_s": t} for c in ("old", "new") for t in (1, 2)])
    for c in ("old", "new"):
        for spans in (False, True):
            path = timeline_file(str(exp), c, spans)
            (exp / "timelines").mkdir(exist_ok=True)
            open(path, "w").close()
    (exp / "checkpoint.tar.xz").write_bytes(b"kept")
    root = str(tmp_path / "results")
    assert A.main([str(exp), "--cells", "old", "--root", root]) == 0
    with pytest.raises(SystemExit):  # nothing left to move: said, nothing doubled
        A.main([str(exp), "--cells", "old", "--root", root])
    dest = tmp_path / "results" / "archive" / "h100" / "cuda" / "tuning_time"
    assert _cells(dest / TUNING_TIME) == ["old"] and _cells(dest / CURVES) == ["old", "old"]
    assert _cells(exp / TUNING_TIME) == ["new"] and _cells(exp / CURVES) == ["new", "new"]
    assert sorted(p.name for p in (exp / "timelines").iterdir()) == ["new.csv.xz", "new.spans.csv.xz"]
    assert (exp / "checkpoint.tar.xz").read_bytes() == b"kept"
    A.archive(str(exp), root)  # every cell
    assert _cells(dest / TUNING_TIME) == ["new", "old"] and not (exp / TUNING_TIME).exists()


def test_bad_input_names_the_value(tmp_path, capsys):
    exp = tmp_path / "results" / "cpu" / "tuning_time"
    write_rows(str(exp / TUNING_TIME), [{"cell_id": "a", "wall_s": 1}])
    for argv, said in (([str(tmp_path / "nope")], "does not exist"),
                       ([str(exp), "--cells", "zz", "--root", str(tmp_path / "results")], "no rows of zz"),
                       ([str(exp), "--root", str(tmp_path / "elsewhere")], "not an experiment directory")):
        with pytest.raises(SystemExit):
            A.main(argv)
        assert said in capsys.readouterr().err
