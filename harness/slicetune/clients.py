"""Slice-Tune tuning: K client processes, each tuning one shard of a model's tasks, measuring on
a shared server pool. The model is later compiled from the clients' databases together."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass

from harness.config import ModelConf, Platform, TunerConf
from harness.device.proc import Deadline, run_job, together
from harness.device.share import split_cores
from harness.jobs import Placement, RPCTarget, Share, TaskInfo, TuneJob, TuneResult
from harness.layout import client_dir, finished, tune_step
from harness.slicetune.servers import PoolError, ServerPool
from harness.slicetune.shard import split, split_budget

log = logging.getLogger("harness")


@dataclass
class ShardedResult:
    shards: list[list[str]]
    clients: list[TuneResult]
    client_dirs: list[str]  # their databases, to compile the model from
    wall_s: float
    restarted: list[int]  # servers that died and were restarted meanwhile

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.clients)


@dataclass
class ClientSetup:
    """What every client of a sharded run shares."""

    model: ModelConf
    tuner: TunerConf
    platform: Platform = Platform.cpu
    split: str = "lpt"
    builder_timeout_s: float = 60.0
    mps_dir: str | None = None  # the daemon the clients talk to (cuda)
    stall_s: float | None = None  # a client finishing no round for this long is ended (None: never)
    task_modules: str | None = None  # the model's tasks listed once (harness.jobs.TaskList.modules)


class Watchdog:
    """`with Watchdog(pool):` restarts a server that dies while the clients tune (a client whose
    server is gone would wait for it forever). Lives as long as the clients: a server's parent-death
    signal follows the thread that started it."""

    def __init__(self, pool: ServerPool, interval_s: float = 1.0):
        self.pool, self.interval_s = pool, interval_s
        self.restarted: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self.pool.ready or not self.pool.dead():
                continue
            try:
                again = self.pool.restart_dead()
            except PoolError as e:
                log.error("server pool: %s", e)
                continue
            log.warning("server(s) %s died and were restarted (logs in %s)", again, self.pool.log_dir)
            self.restarted += again

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.pool.start_timeout_s + 5)


def tune_sharded(setup: ClientSetup, tasks: list[TaskInfo], pool: ServerPool, clients: int, work_dir: str,
                 deadline_s: float | None = None) -> ShardedResult:
    """Tune `tasks` with `clients` client processes against `pool`; with `deadline_s`, clients
    stop at it and a later call continues them (a client that already finished is not rerun)."""
    shards = [s for s in split(tasks, clients, setup.split) if s]
    budgets = split_budget(setup.tuner.trials, shards, setup.tuner.trials_per_round)
    shards, budgets = [s for s, b in zip(shards, budgets) if b], [b for b in budgets if b]
    tuner, threads = split_cores(setup.tuner, len(shards))
    dirs = [client_dir(work_dir, i) for i in range(len(shards))]
    results: list[TuneResult | None] = [None] * len(shards)
    share = Share(setup.platform, 100.0)

    def client(i: int) -> None:
        results[i] = finished(dirs[i], budgets[i])
        if results[i] is not None:
            return
        key = pool.keys[i % len(pool.keys)]
        rpc = RPCTarget(*pool.tracker, key, servers=sum(1 for s in pool.specs if s.key == key))
        job = TuneJob(place=Placement(setup.platform, 100.0), model=setup.model, work_dir=dirs[i],
                      builder_timeout_s=setup.builder_timeout_s, search_threads=threads, tasks=shards[i], rpc=rpc,
                      task_modules=setup.task_modules, compile=False, deadline_s=deadline_s,
                      tuner=dataclasses.replace(tuner, trials=budgets[i]))
        results[i] = run_job("tune", job, tune_step(dirs[i]), share, setup.mps_dir,
                             deadline=Deadline.stalled(dirs[i], setup.stall_s))

    t0 = time.perf_counter()
    # clients start up (TVM import, task extraction, builder warm-up) while the servers register
    waits = [] if pool.ready else [pool.wait_registered]
    with Watchdog(pool) as dog:
        together([*(lambda i=i: client(i) for i in range(len(shards))), *waits], "client")
    done = [r for r in results if r is not None]
    return ShardedResult(shards, done, dirs, time.perf_counter() - t0, dog.restarted)
