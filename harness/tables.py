"""Result files on disk: long-form CSV tables with a `cell_id` column, rewritten atomically;
gzip-compressed where the name ends in `.gz` (a plain file of the name without it, as first
written, is read in its place and replaced at the next write).

A row that is cut short, too long or holds NUL bytes (an interrupted write, another program) is
not trusted: reading warns with the file's path and ignores it, its cell counts as not done (so
it is measured again), and the next rewrite drops it. A file without a `cell_id` column is not
one of ours: it raises ResultFileError and is left untouched.
"""

from __future__ import annotations

import csv
import fcntl
import gzip
import io
import logging
import os

log = logging.getLogger("harness")
_NUL = "\ufffd"


class ResultFileError(ValueError):
    """A result file this harness cannot use, named with what is wrong."""


def existing(path: str) -> str:
    """`path`, or for X.csv.gz that is not there the plain X.csv it was before."""
    plain = path[:-3]
    return plain if path.endswith(".gz") and not os.path.exists(path) and os.path.exists(plain) else path


def _read_text(path: str) -> str:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rt", newline="", errors="replace") as f:
                return f.read()
        with open(path, newline="", errors="replace") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile) as e:
        raise ResultFileError(f"{path} cannot be read ({e}): move it away or repair it") from None


def _parse(path: str) -> tuple[list[dict], list[tuple[int, str | None]]]:
    """(good rows, [(line, cell_id or None)] of bad ones)"""
    path = existing(path)
    if not os.path.exists(path):
        return [], []
    text = _read_text(path).replace("\0", _NUL)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return [], []
    if "cell_id" not in header:
        raise ResultFileError(f"{path} has no cell_id column (columns: {', '.join(header[:8])}...); it is not a "
                              "slicetune result file: move it away or repair it")
    good, bad = [], []
    for line, values in enumerate(reader, start=2):
        row = dict(zip(header, values))
        cid = row.get("cell_id") or None
        if len(values) != len(header) or not cid or any(_NUL in v for v in values):
            bad.append((line, None if cid is None or _NUL in cid else cid))
        else:
            good.append(row)
    return good, bad


def _warn(path: str, bad: list[tuple[int, str | None]]) -> None:
    if bad:
        lines = ", ".join(str(n) for n, _ in bad[:10]) + (" ..." if len(bad) > 10 else "")
        log.warning("%s: %d malformed row(s) ignored (line %s); their cells are measured again", path, len(bad), lines)


def read_rows(path: str) -> list[dict]:
    good, bad = _parse(path)
    _warn(path, bad)
    return good


def done_cells(path: str) -> set[str]:
    """Cells with rows in `path`, less any cell with a malformed row."""
    good, bad = _parse(path)
    _warn(path, bad)
    return {r["cell_id"] for r in good} - {cid for _, cid in bad if cid}


def check(path: str) -> None:
    """Raise ResultFileError for a file the sweep could not use (before any work)."""
    _parse(path)


def write_rows(path: str, rows: list[dict], replace_cells: set[str] | None = None) -> None:
    """Append `rows`, first dropping existing rows of `replace_cells` (and malformed ones); atomic."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(f"{path}.lock", "w") as lock:  # another sweep may write the same file
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = [r for r in read_rows(path) if not replace_cells or r["cell_id"] not in replace_cells]
        allrows = old + rows
        if not allrows:
            if os.path.exists(path):
                os.remove(path)
            return
        fields: list[str] = []
        for r in allrows:
            fields += [k for k in r if k not in fields]
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        for r in allrows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
        data = buf.getvalue().encode()
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(gzip.compress(data, 9, mtime=0) if path.endswith(".gz") else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        if path.endswith(".gz") and os.path.exists(path[:-3]):
            os.remove(path[:-3])  # the plain file it replaces
