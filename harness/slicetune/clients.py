"""Slice-Tune tuning: K client processes tuning a model's tasks, measuring on a shared server
pool; each takes tasks from a shared queue as it goes (or tunes a fixed shard: lpt, round_robin).
The model is later compiled from the clients' databases together."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from dataclasses import dataclass

from harness.config import ModelConf, Platform, Split, TunerConf
from harness.device.proc import Deadline, run_job, together
from harness.device.share import split_cores
from harness.device.warm import WarmPool
from harness.jobs import Placement, RPCTarget, Share, TaskInfo, TuneJob, TuneResult
from harness.layout import QUEUE, client_dir, finished, tune_step
from harness.slicetune.servers import PoolError, ServerPool, server_key
from harness.slicetune.shard import split, split_budget
from harness.taskqueue import TaskQueue, budgets

log = logging.getLogger("harness")


@dataclass
class ShardedResult:
    shards: list[list[str]]
    clients: list[TuneResult]
    client_dirs: list[str]  # their databases, to compile the model from
    wall_s: float
    restarted: list[int]  # servers that died and were restarted meanwhile
    hold: int | None = None  # tasks a queue client held at once (None: fixed shards)

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.clients)


@dataclass
class ClientSetup:
    """What every client of a sharded run shares."""

    model: ModelConf
    tuner: TunerConf
    platform: Platform = Platform.cpu
    split: Split = Split.queue
    shared_cost_model: bool = True  # queue: each client's cost model learns from the others' measurements
    builder_timeout_s: float = 60.0
    mps_dir: str | None = None  # the daemon the clients talk to (cuda)
    stall_s: float | None = None  # a client finishing no round for this long is ended (None: never)
    task_modules: str | None = None  # the model's tasks listed once (harness.jobs.TaskList.modules)
    warm: WarmPool | None = None  # client processes kept up between runs (harness.device.warm)
    hold: int = 1  # queue: tasks a client tunes in turn, a round each


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


@dataclass
class Plan:
    """What each client tunes: a fixed shard (tasks, trials) or tasks taken from a shared queue."""

    shards: list[list[str] | None]  # None: from the queue
    budgets: list[int]  # trials (a queue client's cap: the whole budget; the queue decides)
    queue: TaskQueue | None = None
    per_task: int | None = None  # the largest share of any task (a queue's)
    hold: int = 1  # tasks a queue client holds at once: at most tasks // clients, so a late one finds some

    def held(self) -> list[list[str]]:
        if self.queue is None:
            return [s or [] for s in self.shards]
        return [[e.name for e in self.queue.held(i)] for i in range(len(self.shards))]


def plan(setup: ClientSetup, tasks: list[TaskInfo], clients: int, work_dir: str) -> Plan:
    t = setup.tuner
    if setup.split == Split.queue:
        entries = budgets(tasks, t.trials, t.max_trials_per_task)
        queue = TaskQueue(os.path.join(work_dir, QUEUE)).create(entries)
        n = min(clients, len(entries))
        hold = max(1, min(setup.hold, len(entries) // max(1, n)))  # a late client still finds tasks
        return Plan([None] * n, [t.trials] * n, queue, max((e.trials for e in entries), default=None), hold)
    shards = [s for s in split(tasks, clients, setup.split) if s]
    sizes = split_budget(t.trials, shards, t.trials_per_round)
    return Plan([s for s, b in zip(shards, sizes) if b], [b for b in sizes if b])


def _job(setup: ClientSetup, work_dir: str, rpc: RPCTarget, tuner: TunerConf, threads: int,
         deadline_s: float | None, **kw) -> TuneJob:
    """A client's tuning job: measured through `rpc`, its tasks handed over, compiled later."""
    return TuneJob(place=Placement(setup.platform, 100.0), model=setup.model, work_dir=work_dir,
                   builder_timeout_s=setup.builder_timeout_s, search_threads=threads, rpc=rpc,
                   task_modules=setup.task_modules, compile=False, deadline_s=deadline_s, tuner=tuner, **kw)


def _run_clients(setup: ClientSetup, pool: ServerPool, dirs: list[str], job_of) -> tuple[list, list[int]]:
    """A client per work dir of `dirs`, all at once against `pool` (`job_of(i)`: client i's job),
    while the servers register and with a watchdog restarting any that dies; a client whose work
    dir holds a complete result is not rerun (complete is done: a queue client ends when nothing is
    left to take, and a per-task cap may end a shard under its budget). (results, servers restarted)"""
    results: list[TuneResult | None] = [None] * len(dirs)
    share = Share(setup.platform, 100.0)

    def client(i: int) -> None:
        results[i] = finished(dirs[i], 0)
        if results[i] is None:
            results[i] = run_job("tune", job_of(i), tune_step(dirs[i]), share, setup.mps_dir,
                                 deadline=Deadline.stalled(dirs[i], setup.stall_s), warm=setup.warm)

    # clients start up (TVM import, task extraction, builder warm-up) while the servers register
    waits = [] if pool.ready else [pool.wait_registered]
    with Watchdog(pool) as dog:
        together([*(lambda i=i: client(i) for i in range(len(dirs))), *waits], "client")
    return results, dog.restarted


def tune_sharded(setup: ClientSetup, tasks: list[TaskInfo], pool: ServerPool, clients: int, work_dir: str,
                 deadline_s: float | None = None) -> ShardedResult:
    """Tune `tasks` with `clients` client processes against `pool`; with `deadline_s`, clients
    stop at it and a later call continues them (a client that already finished is not rerun)."""
    p = plan(setup, tasks, clients, work_dir)
    n = len(p.budgets)
    tuner, threads = split_cores(setup.tuner, n)
    if p.per_task:
        tuner = dataclasses.replace(tuner, max_trials_per_task=p.per_task)
    dirs = [client_dir(work_dir, i) for i in range(n)]

    def job_of(i: int) -> TuneJob:
        key = pool.keys[i % len(pool.keys)]
        rpc = RPCTarget(*pool.tracker, key, servers=sum(1 for s in pool.specs if s.key == key))
        return _job(setup, dirs[i], rpc, dataclasses.replace(tuner, trials=p.budgets[i]), threads, deadline_s,
                    tasks=p.shards[i], queue=p.queue.path if p.queue else None, client=i, hold=p.hold,
                    peers=[d for d in dirs if d != dirs[i]] if p.queue and setup.shared_cost_model else [])

    t0 = time.perf_counter()
    results, restarted = _run_clients(setup, pool, dirs, job_of)
    done = [r for r in results if r is not None]
    return ShardedResult(p.held(), done, dirs, time.perf_counter() - t0, restarted, p.hold if p.queue else None)


def tune_per_share(setup: ClientSetup, tasks: list[str], pool: ServerPool, runs: list[tuple[Share, str]],
                   deadline_s: float | None = None, measure_lock: str | None = None) -> list[TuneResult | None]:
    """One client per (share, work dir) of `runs`, all at once: `tasks` tuned (in the tuner's
    scheduler's order) and measured on the pool's server of that share (op_interdependency); with
    `measure_lock`, one client measures at a time, so each share's kernels are timed with the device
    otherwise idle. A finished client is not rerun; with `deadline_s`, clients stop at it and a
    later call continues them."""
    tuner, threads = split_cores(setup.tuner, len(runs))

    def job_of(i: int) -> TuneJob:
        share, work = runs[i]
        rpc = RPCTarget(*pool.tracker, server_key(share, 0), servers=1)
        return _job(setup, work, rpc, tuner, threads, deadline_s, tasks=tasks, measure_lock=measure_lock)

    return _run_clients(setup, pool, [w for _, w in runs], job_of)[0]
