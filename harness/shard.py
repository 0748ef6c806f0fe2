"""Sharding a model's tuning tasks across clients, and merging the clients' databases."""

from __future__ import annotations

import heapq
import os

from harness.tasks import TaskInfo

SPLITS = ("lpt", "round_robin")


def split(tasks: list[TaskInfo], k: int, how: str = "lpt") -> list[list[str]]:
    """Task names for each of `k` shards.

    lpt: greedy longest-processing-time by estimated cost (FLOPs x weight, at least 1), each
    task to the currently cheapest shard; round_robin: in task order."""
    if k < 1:
        raise ValueError(f"shards={k} is not allowed; it must be >= 1")
    if how not in SPLITS:
        raise ValueError(f"split={how!r} is not allowed; choose one of: {', '.join(SPLITS)}")
    shards: list[list[str]] = [[] for _ in range(k)]
    if how == "round_robin":
        for i, t in enumerate(tasks):
            shards[i % k].append(t.name)
        return shards
    heap = [(0.0, i) for i in range(k)]
    for t in sorted(tasks, key=lambda t: -max(1.0, t.flops * t.weight)):
        cost, i = heapq.heappop(heap)
        shards[i].append(t.name)
        heapq.heappush(heap, (cost + max(1.0, t.flops * t.weight), i))
    return shards


def merge_databases(src_dirs: list[str], out_dir: str) -> int:
    """Copy every tuning record of the JSON databases in `src_dirs` into one at `out_dir`."""
    from tvm.s_tir import meta_schedule as ms

    os.makedirs(out_dir, exist_ok=True)
    out = ms.database.JSONDatabase(work_dir=out_dir)
    n = 0
    for d in src_dirs:
        for rec in ms.database.JSONDatabase(work_dir=d).get_all_tuning_records():
            wl = out.commit_workload(rec.workload.mod)
            out.commit_tuning_record(ms.database.TuningRecord(rec.trace, wl, rec.run_secs, rec.target, rec.args_info))
            n += 1
    return n
