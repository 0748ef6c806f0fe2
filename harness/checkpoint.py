"""Carry tuning runs between machines: `pack` keeps what a sweep needs to continue (or recompile)
its cells, each tuning database trimmed to its best records per workload, in one compressed
file; `unpack` puts it into a run directory on another machine, where the same sweep continues.

    python -m harness.checkpoint pack runs/cuda/tuning_time results/cuda/tuning_time/checkpoint.tar.xz
    python -m harness.checkpoint unpack results/cuda/tuning_time/checkpoint.tar.xz runs/cuda/tuning_time

Kept: cell state, progress and tuning results (rounds, spans), who holds which task (Slice-Tune's
queue), the utilisation timeline and the databases; of a cell whose tuning finished (its rows
written), only its state, its best record per workload and the workloads those records use (what
compiling it needs). A cell finished when its state says so (Slice-Tune's comparison cells) or,
in a cell without a state, when its tuning result says complete (then the result and progress
are kept too: inference reads the result, and a sweep that lost the rows finds nothing left to tune).
Not kept: logs, compiled models, merged databases, task caches (made again).
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import sys
import tarfile

from harness.layout import CELL_STATE, DATABASE_FILES, MERGED, PROGRESS, QUEUE, SESSIONS, TIMELINE, tune_step

RECORDS, WORKLOADS = DATABASE_FILES
RESULT = os.path.basename(tune_step(".").result)
KEPT = {CELL_STATE, PROGRESS, QUEUE, SESSIONS, TIMELINE, RECORDS, WORKLOADS, RESULT}
FINISHED = {CELL_STATE, RECORDS, WORKLOADS}  # a finished cell's rows hold the rest
FINISHED_BY_RESULT = FINISHED | {RESULT, PROGRESS}  # ... of a cell without a state: inference reads its result
BEST_PER_WORKLOAD = 8  # a paused cell's: what its search continues from
BEST_WHEN_TUNED = 1  # a finished cell's: what compiling it needs


def _mean(run_secs) -> float:
    ok = [float(s) for s in run_secs or [] if s is not None]
    return sum(ok) / len(ok) if ok else float("inf")


def trim_records(text: str, keep: int = BEST_PER_WORKLOAD) -> str:
    """A MetaSchedule JSON database's tuning records, only the `keep` fastest per workload (in
    their original order; records that failed to measure are dropped)."""
    rows = [(i, line, json.loads(line)) for i, line in enumerate(text.splitlines()) if line.strip()]
    by_wl: dict[int, list[tuple[float, int]]] = {}
    for i, _, (wl, rec) in rows:
        by_wl.setdefault(wl, []).append((_mean(rec[1]), i))
    best = {i for ranked in by_wl.values() for t, i in sorted(ranked)[:keep] if t != float("inf")}
    return "".join(line + "\n" for i, line, _ in rows if i in best)


def trim_workloads(records: str, workloads: str) -> tuple[str, str]:
    """(records, workloads) with only the workloads some record refers to, renumbered in their
    order (a tuning of a model's few costliest tasks still wrote every task's workload)."""
    lines = [line for line in records.splitlines() if line.strip()]
    old = sorted({json.loads(line)[0] for line in lines})
    new = {o: n for n, o in enumerate(old)}
    wl = [line for line in workloads.splitlines() if line.strip()]
    out = []
    for line in lines:
        head = line.index(",")  # records are `[workload, record]`: renumber the first field only
        out.append(f"[{new[int(line[1:head])]}" + line[head:])
    return "".join(x + "\n" for x in out), "".join(wl[o] + "\n" for o in old)


def _flag(path: str, key: str) -> bool:
    try:
        with open(path) as f:
            return bool(json.load(f).get(key))
    except (OSError, ValueError, AttributeError):
        return False


def _database(work_dir: str, keep: int, done: bool) -> dict[str, bytes]:
    """A database's files as packed: its best records; a finished cell's only the workloads they use."""
    with open(os.path.join(work_dir, RECORDS)) as f:
        records = trim_records(f.read(), min(keep, BEST_WHEN_TUNED) if done else keep)
    if not done:  # a paused cell's clients continue the files as they are
        return {RECORDS: records.encode()}
    with open(os.path.join(work_dir, WORKLOADS)) as f:
        records, workloads = trim_workloads(records, f.read())
    return {RECORDS: records.encode(), WORKLOADS: workloads.encode()}


def pack(run_dir: str, dest: str, keep: int = BEST_PER_WORKLOAD) -> int:
    """Pack `run_dir`'s resumable state into `dest` (.tar.xz); returns the number of files."""
    n, finished, stateful = 0, set(), set()
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    # xz, extreme: a third of gzip's size on JSON, and the clients' near-identical workloads a tenth less again
    with tarfile.open(dest + ".tmp", "w:xz", preset=9 | lzma.PRESET_EXTREME) as tar:
        for root, dirs, files in os.walk(run_dir):
            dirs[:] = sorted(d for d in dirs if d not in ("logs", "locks", "servers", MERGED))  # merged: made again
            below = [root, *(os.path.join(root, d) for d in dirs)]
            if CELL_STATE in files:  # its state decides, not its clients' results (a paused cell's may be complete)
                stateful.update(below)
            if root in finished or _flag(os.path.join(root, CELL_STATE), "tuned") or \
                    (root not in stateful and _flag(os.path.join(root, RESULT), "complete")):
                finished.update(below)
            done = root in finished
            names = KEPT if not done else FINISHED if root in stateful else FINISHED_BY_RESULT
            db = _database(root, keep, done) if {RECORDS, WORKLOADS} <= set(files) else {}
            for name in sorted(files):
                if name not in names:
                    continue
                path = os.path.join(root, name)
                arc = os.path.relpath(path, run_dir)
                if name in db:
                    info = tarfile.TarInfo(arc)
                    info.size, info.mtime = len(db[name]), int(os.path.getmtime(path))
                    tar.addfile(info, io.BytesIO(db[name]))
                else:
                    tar.add(path, arc)
                n += 1
    os.replace(dest + ".tmp", dest)
    return n


def unpack(src: str, run_dir: str) -> int:
    """Unpack a checkpoint into `run_dir` (files there are replaced); returns the number of files."""
    os.makedirs(run_dir, exist_ok=True)
    with tarfile.open(src, "r:*") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        tar.extractall(run_dir, members=members, filter="data")  # refuses paths outside run_dir
    return len(members)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.checkpoint", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="run directory -> checkpoint file")
    p.add_argument("run_dir")
    p.add_argument("dest")
    p.add_argument("--keep", type=int, default=BEST_PER_WORKLOAD, help="records kept per workload")
    u = sub.add_parser("unpack", help="checkpoint file -> run directory")
    u.add_argument("src")
    u.add_argument("run_dir")
    a = ap.parse_args(argv)
    if a.cmd == "pack":
        if not os.path.isdir(a.run_dir):
            ap.error(f"run directory {a.run_dir!r} does not exist")
        if a.keep < 1:
            ap.error(f"--keep {a.keep} must be at least 1")
        print(f"packed {pack(a.run_dir, a.dest, a.keep)} files of {a.run_dir} into {a.dest} "
              f"({os.path.getsize(a.dest) / 1024:.0f} KiB)")
    else:
        if not os.path.isfile(a.src):
            ap.error(f"checkpoint {a.src!r} does not exist")
        print(f"unpacked {unpack(a.src, a.run_dir)} files into {a.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
