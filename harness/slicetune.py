"""Slice-Tune tuning: K clients, each tuning one shard of a model's tasks, measuring on a
shared server pool; their databases are merged into one the model is compiled from."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass

from harness.config import ModelConf, TunerConf
from harness.proc import run_job, together
from harness.servers import ServerPool
from harness.shard import merge_databases, split
from harness.share import Placement, Share
from harness.tasks import TaskInfo
from harness.tune import RPCTarget, TuneJob, TuneResult, finished


@dataclass
class ShardedResult:
    shards: list[list[str]]
    clients: list[TuneResult]
    merged_dir: str | None  # None while a client is paused at its deadline
    records: int
    wall_s: float

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.clients)


def split_budget(trials: int, shards: list[list[str]], per_round: int = 1) -> list[int]:
    """The total trial budget divided between shards in whole rounds of `per_round`: one round
    each where there are enough, the rest in proportion to their task counts; rounds left over
    go first to shards that have none (in shard order: the LPT split puts the costliest first).
    At budgets below one round per shard some shards get 0, as the baseline leaves tasks
    untuned at such budgets; the sum is `trials`."""
    rounds = -(-trials // per_round)
    n = sum(len(s) for s in shards)
    base = 1 if rounds >= len(shards) else 0
    want = [(rounds - base * len(shards)) * len(s) / n for s in shards]
    got = [base + int(w) for w in want]
    order = sorted(range(len(shards)), key=lambda i: (got[i] > 0, got[i] - base - want[i], i))
    for i in order[:rounds - sum(got)]:
        got[i] += 1
    budgets = [g * per_round for g in got]
    for i in reversed(range(len(budgets))):  # the last round may be partial
        cut = min(sum(budgets) - trials, budgets[i])
        if cut <= 0:
            break
        budgets[i] -= cut
    return budgets


def tune_sharded(model: ModelConf, tuner: TunerConf, tasks: list[TaskInfo], pool: ServerPool, clients: int,
                 work_dir: str, platform: str = "cpu", split_how: str = "lpt", builder_timeout_s: float = 60.0,
                 mps_dir: str | None = None, deadline_s: float | None = None) -> ShardedResult:
    """Tune `tasks` with `clients` client processes against `pool`; with `deadline_s`, clients
    stop at it and a later call continues them (a client that already finished is not rerun)."""
    shards = [s for s in split(tasks, clients, split_how) if s]
    budgets = split_budget(tuner.trials, shards, tuner.trials_per_round)
    shards, budgets = [s for s, b in zip(shards, budgets) if b], [b for b in budgets if b]
    workers = tuner.builder_workers or max(1, len(os.sched_getaffinity(0)) // len(shards))
    keys = pool.keys
    host, port = pool.tracker
    dirs = [os.path.join(work_dir, f"client{i}") for i in range(len(shards))]
    results: list[TuneResult | None] = [None] * len(shards)

    def client(i: int) -> None:
        results[i] = finished(dirs[i], budgets[i])
        if results[i] is not None:
            return
        key = keys[i % len(keys)]
        rpc = RPCTarget(host, port, key, servers=sum(1 for s in pool.specs if s.key == key))
        job = TuneJob(place=Placement(platform, 100.0), model=model, work_dir=dirs[i],
                      builder_timeout_s=builder_timeout_s, search_threads=workers, tasks=shards[i], rpc=rpc,
                      compile=False, deadline_s=deadline_s,
                      tuner=dataclasses.replace(tuner, trials=budgets[i], builder_workers=workers))
        results[i] = run_job("tune", job, TuneResult, Share(platform, 100.0),
                             os.path.join(dirs[i], "tune.log"), mps_dir)

    t0 = time.perf_counter()
    # clients start up (TVM import, task extraction, builder warm-up) while the servers register
    waits = [] if pool.ready else [pool.wait_registered]
    together([*(lambda i=i: client(i) for i in range(len(shards))), *waits], "client")
    done = [r for r in results if r is not None]
    if not all(r.complete for r in done):
        return ShardedResult(shards, done, None, 0, time.perf_counter() - t0)
    merged = os.path.join(work_dir, "merged")
    if os.path.exists(merged):  # an earlier, interrupted merge
        shutil.rmtree(merged)
    records = merge_databases(dirs, merged)
    return ShardedResult(shards, done, merged, records, time.perf_counter() - t0)
