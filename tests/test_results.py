"""Result files: long-form rows, atomic rewrite, cell bookkeeping, typed records."""

import os
from dataclasses import dataclass, field

import pytest

from harness import results as R
from harness.records import from_dict, read_json, to_dict, write_json


def test_write_rows_appends_and_replaces(tmp_path):
    path = str(tmp_path / "x" / "inference.csv")
    R.write_rows(path, [{"cell_id": "a", "latency_ms": 1.0}, {"cell_id": "a", "latency_ms": 1.1}])
    R.write_rows(path, [{"cell_id": "b", "latency_ms": 2.0, "extra": "y"}])
    assert R.done_cells(path) == {"a", "b"}
    rows = R.read_rows(path)
    assert len(rows) == 3 and rows[0]["extra"] == "" and rows[2]["extra"] == "y"
    R.write_rows(path, [{"cell_id": "a", "latency_ms": 9.0}], replace_cells={"a"})
    rows = R.read_rows(path)
    assert [r["cell_id"] for r in rows] == ["b", "a"] and rows[1]["latency_ms"] == "9.0"
    assert not [f for f in os.listdir(os.path.dirname(path)) if ".tmp" in f]  # no temporary files left


def test_missing_file_has_no_cells(tmp_path):
    assert R.done_cells(str(tmp_path / "none.csv")) == set()


@dataclass
class Inner:
    a: int
    b: list[float] = field(default_factory=list)


@dataclass
class Outer:
    name: str
    inner: Inner
    items: list[Inner]
    maybe: Inner | None = None


def test_records_round_trip(tmp_path):
    obj = Outer("x", Inner(1, [2.0]), [Inner(3), Inner(4, [5.0])], None)
    assert from_dict(Outer, to_dict(obj)) == obj
    path = str(tmp_path / "r.json")
    write_json(path, obj)
    assert read_json(path, Outer) == obj


def test_gzipped_files_and_the_plain_files_they_replace(tmp_path):
    plain, gz = tmp_path / "rows.csv", tmp_path / "rows.csv.gz"
    plain.write_text("cell_id,x\na,1\n")
    assert R.done_cells(str(gz)) == {"a"}  # read in its place until written
    R.write_rows(str(gz), [{"cell_id": "b", "x": 2}])
    assert not plain.exists() and [r["cell_id"] for r in R.read_rows(str(gz))] == ["a", "b"]
    first = gz.read_bytes()
    R.write_rows(str(gz), [], replace_cells={"c"})
    assert gz.read_bytes() == first  # the same rows give the same bytes (no time stamp inside)
    gz.write_bytes(first[:20])
    with pytest.raises(R.ResultFileError, match="cannot be read"):
        R.read_rows(str(gz))
