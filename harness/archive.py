"""Move superseded rows out of the drawn results: `archive` moves the rows of the named cells (or
of every cell) of one experiment directory into the same path under `<root>/archive/`, which
`python -m analysis` does not draw. Their utilisation timelines leave the tree (git history keeps
them), so the committed project stays small; the checkpoint is left as it is.

    python -m harness.archive results/cuda/tuning_time                    # every cell
    python -m harness.archive results/h100/cuda/tuning_time --cells ID ID  # some cells

Say in `<root>/archive/README.md` why they were superseded and the commit that last held them.
"""

from __future__ import annotations

import argparse
import os
import sys

from harness.results import ARCHIVE, timeline_paths
from harness.tables import read_rows, write_rows

TABLE_SUFFIXES = (".csv", ".csv.gz")


def archive_dir(exp_dir: str, root: str) -> str:
    rel = os.path.relpath(exp_dir, root)
    if rel.startswith(os.pardir) or ARCHIVE in rel.split(os.sep):
        raise ValueError(f"{exp_dir!r} is not an experiment directory below {root!r} outside {ARCHIVE}/")
    return os.path.join(root, ARCHIVE, rel)


def archive(exp_dir: str, root: str, cells: set[str] | None = None) -> tuple[int, list[str]]:
    """Move `cells`' rows (None: all) from every table in `exp_dir` to its archive directory;
    returns (rows moved, timeline files removed)."""
    dest = archive_dir(exp_dir, root)
    moved, tables = 0, sorted(n for n in os.listdir(exp_dir) if n.endswith(TABLE_SUFFIXES))
    ids: set[str] = set()
    for name in tables:
        rows = [r for r in read_rows(os.path.join(exp_dir, name)) if cells is None or r["cell_id"] in cells]
        if not rows:
            continue
        gone = {r["cell_id"] for r in rows}
        write_rows(os.path.join(dest, name), rows, replace_cells=gone)  # again: replaces, never doubles
        write_rows(os.path.join(exp_dir, name), [], replace_cells=gone)
        moved, ids = moved + len(rows), ids | gone
    removed = [p for cid in sorted(ids) for spans in (False, True) for p in timeline_paths(exp_dir, cid, spans)
               if os.path.exists(p)]
    for path in removed:
        os.remove(path)
    return moved, removed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.archive", description=__doc__.split("\n\n")[0])
    ap.add_argument("exp_dir", help="e.g. results/cuda/tuning_time")
    ap.add_argument("--cells", nargs="+", help="cell ids (default: every cell)")
    ap.add_argument("--root", default="results", help="the results root whose archive/ receives them")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.exp_dir):
        ap.error(f"experiment directory {a.exp_dir!r} does not exist")
    try:
        moved, removed = archive(a.exp_dir, a.root, set(a.cells) if a.cells else None)
    except ValueError as e:
        ap.error(str(e))
    if a.cells and not moved:
        ap.error(f"no rows of {', '.join(a.cells)} in {a.exp_dir}")
    print(f"moved {moved} rows to {archive_dir(a.exp_dir, a.root)}; removed {len(removed)} timeline files "
          "(git history keeps them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
