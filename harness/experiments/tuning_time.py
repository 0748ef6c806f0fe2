"""+exp=tuning_time: stock MetaSchedule against Slice-Tune, same model and trial budget.

The baseline is one tuning process (local builder on every core, local runner on the whole
device). Slice-Tune is a server pool (S servers per GPU, each on its share) and K clients, each
tuning one shard of the tasks with its own builder workers (cores divided) through
MetaSchedule's RPC runner. Each cell's model is then compiled from its database(s) and measured
on the whole device, so quality is compared too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time

from harness import metrics as M
from harness import results as R
from harness.cells import Cell, GridPoint, grid, grid_cells
from harness.device.gpu import visible_gpus
from harness.experiments.comparison import Comparison, Segment, check_measured, median_std
from harness.config import Builder
from harness.jobs import OpSource, Share, TaskInfo, TaskList, TuneResult
from harness.layout import PROGRESS, SERVERS, SESSIONS, TIMELINE, Step, client_dir
from harness.slicetune.clients import ClientSetup, tune_sharded
from harness.slicetune.servers import RemotePool, ServerPool
from harness.validation import address

log = logging.getLogger("harness")


class TuningTime(Comparison):
    def __init__(self, cfg, progress=None):
        super().__init__(cfg, progress)
        self.cells = grid_cells(cfg, [p for p in grid(cfg) if self._possible(p)])
        self._tasks: TaskList | None = None

    def gpus_needed(self) -> int:
        return max((p.gpus for p in self.cells.values()), default=1)

    def _possible(self, p: GridPoint) -> bool:
        have = 1 if self.cfg.platform.name == "cpu" else visible_gpus()
        if p.gpus > have:
            log.warning("skipping %s: it needs %d GPUs, %d visible", p.label, p.gpus, have)
            return False
        return True

    def _run(self):
        self.run_cells(self.cells, R.TUNING_TIME)
        return self.summary

    def tasks(self) -> TaskList:
        if self._tasks is None:
            self.step(f"list the tuning tasks of {self.cfg.model.label}")
            self._tasks = self.jobs.tasks()
        return self._tasks

    def _cell_tasks(self, p: GridPoint) -> list[TaskInfo]:
        """The tasks a grid point tunes: the model's, or its `top` costliest."""
        return self.costliest(self.tasks().tasks, p.top, "slicetune.top_tasks")

    @staticmethod
    def _handed(cell: Cell, p: GridPoint) -> bool:
        """Whether the cell's tuning processes are handed the listed tasks: Slice-Tune's clients and
        the best single process; stock MetaSchedule extracts its own."""
        return p.mode == "slicetune" or cell.tuner.builder != Builder.local

    def _tune(self, cell: Cell, p: GridPoint, left: float | None):
        """(each client's result, the database directories to compile from, the tasks a queue client
        held at once: slicetune.hold, at most tasks // clients)"""
        cfg = self.cfg
        if p.mode == "baseline":
            work = os.path.join(cell.work_dir, "tune")
            modules = self.tasks().modules if self._handed(cell, p) else None
            names = [t.name for t in self._cell_tasks(p)] if p.top else None
            with self.ticker.watch([os.path.join(work, PROGRESS)], cell.tuner.trials):
                res = self.jobs.tune(cfg.model, cell.tuner, work, self.jobs.whole, left, task_modules=modules,
                                     tasks=names)
            return [res], [work], None
        shares = [Share(cfg.platform.name, p.server_share)] * (p.servers * p.gpus)
        timeout = self.jobs.builder_timeout_s()
        setup = ClientSetup(cfg.model, cell.tuner, cfg.platform.name, p.split, p.shared, timeout,
                            self.jobs.mps_dir, cfg.tuning_stall_s(timeout), self.tasks().modules,
                            self.jobs.warm(cell.tuner), hold=p.hold)
        progress = [os.path.join(client_dir(cell.work_dir, i), PROGRESS) for i in range(p.clients)]
        log_dir = os.path.join(cell.work_dir, SERVERS)
        if cfg.slicetune.tracker:  # servers already up, on this host or others (python -m harness.servers serve)
            pool = RemotePool(address("slicetune.tracker", cfg.slicetune.tracker), shares[0], len(shares), log_dir)
        else:
            pool = ServerPool(shares, log_dir, cfg.platform.mps_dir, devices=list(range(p.gpus)),
                              host=cfg.slicetune.bind, gpu_uuids=self.jobs.gpu_uuids, wait=False,
                              sessions=os.path.join(cell.work_dir, SESSIONS))
        with pool, self.ticker.watch(progress, cell.tuner.trials):
            res = tune_sharded(setup, self._cell_tasks(p), pool, p.clients, cell.work_dir, deadline_s=left)
        return res.clients, res.client_dirs, res.hold

    def run_cell(self, cell: Cell, p: GridPoint) -> None:
        if self.out_of_time(cell.id, needs_s=Segment.MIN_S):
            return
        if self._handed(cell, p):
            self.tasks()  # listed once, before the cell's own step shows
        self.jobs.builder_timeout_s()  # the builder probe is the harness's, not the cell's time
        self.step(f"{self.cfg.experiment} {self.cfg.model.label}: {p.label}", cell.work_dir)
        with Segment(self, cell, R.TUNING_TIME, p.gpus) as seg:
            clients, db_dirs, hold = self._tune(cell, p, seg.left)
        seg.done(all(r.complete for r in clients))
        if seg.complete:
            self._record(cell, p, clients, db_dirs, seg, hold)

    def _verify(self, cell: Cell, p: GridPoint, db_dirs: list[str]):
        """With slicetune.verify_top_k: each task's top-k candidates of every client's database
        measured again alone at the tuning share, kept with those times in a database of their
        own, which the model is compiled from. (database dirs, R.Verified rows, seconds)"""
        if not p.verify:
            return db_dirs, [], None
        t0, out = time.perf_counter(), os.path.join(cell.work_dir, "verified")
        shutil.rmtree(out, ignore_errors=True)  # made again whole (a cut-short attempt's is not trusted)
        os.makedirs(out)
        sources = [OpSource(p.server_share, d) for d in db_dirs]
        names = [t.name for t in self._cell_tasks(p)]
        share = Share(self.cfg.platform.name, p.server_share)
        res = self.jobs.ops(names, sources, share, Step(cell.work_dir, "verify"), p.verify, out)
        rows = []
        for name in names:
            mine = [(median_std(m.latencies_us)[0], m) for m in res.measured if m.task == name]
            best = min(mine, key=lambda tm: (tm[0], tm[1].rank), default=(None, None))[1]  # a tie: the first as tuned
            rows += [R.Verified(cell.id, name, m.rank, m.tuned_us, round(t, 3), m is best) for t, m in mine]
        return [out], rows, round(time.perf_counter() - t0, 2)

    def _record(self, cell: Cell, p: GridPoint, clients: list[TuneResult], db_dirs: list[str], seg: Segment,
                hold: int | None = None):
        cfg, state = self.cfg, seg.state
        valid = check_measured(p.label, clients, os.path.join(cell.work_dir, "*", "logs"))
        db_dirs, checked, verify_s = self._verify(cell, p, db_dirs)
        inf = self.jobs.measure(cfg.model, cell.id, cell.work_dir, db_dirs)
        med, std = median_std(inf.measured[0].latencies_ms)
        trials = sum(r.trials_done for r in clients)
        clock = M.Clock(state.windows)
        pts = M.curve(clients, clock)
        samples = M.read_samples(os.path.join(cell.work_dir, TIMELINE))
        m = M.metrics(clients, clock, samples, pts)
        row = R.TuningTimeRow(
            cell.id, str(p.mode), p.clients, p.servers, p.server_share, p.gpus,
            str(p.split) if p.mode == "slicetune" else "", trials,
            valid, sum(len(r.tasks) for r in clients), state.wall_s, max(r.wall_s for r in clients),
            trials / state.wall_s, state.segments, med, std, inf.grant.units, self.jobs.builder_timeout_s(),
            **dataclasses.asdict(m), kept_processes=sum(r.started_kept for r in clients), scale=str(p.scale),
            tasks_measured=len({rd.task for r in clients for rd in r.rounds if rd.valid}), verify_s=verify_s,
            held=hold)
        ctx, ref = self.context(inf.grant.device, inf.tvm_version, cell.tuner), R.CellRef(cell.id)
        self.save(R.CURVES, [R.flatten(ctx, ref, pt) for pt in pts], cell.id)
        self.save(R.PHASE_USE, [R.flatten(ctx, ref, u) for u in M.phase_use(clients)], cell.id)
        on = R.MeasuredOn(cell.id, p.servers, p.server_share)
        self.save(R.MEASURES, [R.flatten(ctx, on, mc) for mc in M.measure_context(
            clients, samples, p.gpus, M.read_sessions(os.path.join(cell.work_dir, SESSIONS)))], cell.id)
        if checked:
            self.save(R.VERIFY, [R.flatten(ctx, v) for v in checked], cell.id)
        self.save(R.TUNING_TIME, [R.flatten(ctx, row)], cell.id)
        self.finish(cell, clients)
        log.info("%s: %d trials in %.1f s (%.2f trials/s; steady %s), start-up %s s, %.3f ms", p.label, trials,
                 state.wall_s, trials / state.wall_s, m.steady_trials_per_s, m.startup_s, med)
