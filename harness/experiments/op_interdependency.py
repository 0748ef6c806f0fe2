"""+exp=op_interdependency: the interdependency per operator. The model's heaviest tasks (FLOPs x
weight) are tuned on their own at every tune share at once, one client per share measuring on
its own server of the pool (the harness's Slice-Tune), one measurement at a time (the shares add
up to more than the device); once all are tuned, each share's best kernel of each task is
measured at every inference share, alone on the device.

Resumable like the others: a tune share whose rows are written is skipped, a paused one continues
from its database; the kernels are measured again whenever a share was tuned again.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from harness import metrics as M
from harness import results as R
from harness.cells import TuneCell, op_cells
from harness.experiments.base import Base, Summary
from harness.jobs import OpSource, Share, TaskInfo, TuneResult
from harness.layout import PROGRESS, SERVERS, Step
from harness.slicetune.clients import ClientSetup, tune_per_share
from harness.slicetune.servers import ServerPool

log = logging.getLogger("harness")


class OpInterdependency(Base):
    def __init__(self, cfg, progress=None):
        super().__init__(cfg, progress)
        self.cells = op_cells(cfg)

    def top(self) -> list[TaskInfo]:
        """The heaviest tasks, by FLOPs x weight."""
        return self.costliest(self.jobs.tasks().tasks, self.cfg.ops.top, "ops.top")

    def _run(self) -> Summary:
        cfg = self.cfg
        self.step(f"list the tuning tasks of {cfg.model.label}")
        tasks = self.top()
        # each share's run: ops.trials per task
        self.tuner = dataclasses.replace(cfg.tuner, trials=len(tasks) * cfg.ops.trials,
                                         max_trials_per_task=cfg.ops.trials)
        done_t = set() if cfg.rerun else R.done_cells(self.out(R.OP_TUNING))
        done_i = set() if cfg.rerun else R.done_cells(self.out(R.OP_INFERENCE))
        tune = [c for c in self.cells.tune if c.id not in done_t]
        infer = [(i, s) for i, s in self.cells.infer if i not in done_i or tune]
        self.summary.skipped = sorted({c.id for c in self.cells.tune} - {c.id for c in tune}
                                      | {i for i, _ in self.cells.infer} - {i for i, _ in infer})
        self.total(len(tune) + len(infer))
        if tune:
            log_path = os.path.join(self.summary.run_dir, "ops-tune.log")
            self.attempt("ops-tune", log_path, self._tune, tune, tasks, cells=[c.id for c in tune])
        waiting = [c.id for c in tune if c.id not in self.summary.ran]
        if waiting:
            log.info("not measuring kernels yet: %s not tuned to the end", ", ".join(waiting))
            return self.summary
        for cell_id, share in infer:
            if self.out_of_time(cell_id):  # no measurement starts past the deadline
                continue
            step = Step(os.path.join(self.summary.run_dir, "ops-infer"), cell_id)
            self.attempt(cell_id, step.log, self._infer, cell_id, share, [t.name for t in tasks], step)
        return self.summary

    def _tune(self, cells: list[TuneCell], tasks: list[TaskInfo]) -> None:
        cfg = self.cfg
        timeout = self.jobs.builder_timeout_s()
        setup = ClientSetup(cfg.model, self.tuner, cfg.platform.name, builder_timeout_s=timeout,
                            mps_dir=self.jobs.mps_dir, stall_s=cfg.tuning_stall_s(timeout),
                            task_modules=self.jobs.tasks().modules, warm=self.jobs.warm(self.tuner))
        self.step(f"tune {len(tasks)} tasks of {cfg.model.label} at {', '.join(c.share.label for c in cells)} at once",
                  self.summary.run_dir)
        progress = [os.path.join(c.work_dir, PROGRESS) for c in cells]
        with ServerPool([c.share for c in cells], os.path.join(self.summary.run_dir, f"ops-{SERVERS}"),
                        cfg.platform.mps_dir, devices=[0], host=cfg.slicetune.bind, wait=False) as pool, \
                self.ticker.watch(progress, self.tuner.trials * len(cells)):
            results = tune_per_share(setup, [t.name for t in tasks], pool, [(c.share, c.work_dir) for c in cells],
                                     deadline_s=self.time_left(),
                                     measure_lock=os.path.join(self.summary.run_dir, "ops-measure.lock"))
        for cell, res in zip(cells, results):
            self._record(cell, tasks, res)

    def _record(self, cell: TuneCell, tasks: list[TaskInfo], res: TuneResult | None) -> None:
        if res is None or not res.complete:
            self.summary.paused.append(cell.id)
            return
        rows = []
        for t in tasks:
            c = M.convergence(res.rounds, t.name, self.cfg.ops.converged_pct)
            rows.append(R.OpTuneRow(cell.id, t.name, t.flops, t.weight, cell.share.pct, c.trials,
                                    None if c.best_ms is None else 1e3 * c.best_ms, c.gain_pct, c.converged,
                                    res.wall_s, res.segments))
        ctx = self.context(res.grant.device, res.tvm_version, self.tuner)
        self.save(R.OP_TUNING, [R.flatten(ctx, r) for r in rows], cell.id)
        self.summary.ran.append(cell.id)
        self.advance()
        log.info("tuned %d tasks at %s: %d trials, %d of %d converged", len(tasks), cell.share.label,
                 res.trials_done, sum(r.converged for r in rows), len(rows))

    def _infer(self, cell_id: str, share: Share, tasks: list[str], step: Step) -> None:
        self.step(f"measure {len(tasks)} tasks' kernels of every tune share at {share.label}", step.log)
        sources = [OpSource(c.share.pct, c.work_dir) for c in self.cells.tune]
        res = self.jobs.ops(tasks, sources, share, step)
        if res.missing:
            log.warning("no valid kernel for %s (left out of the rows)", ", ".join(res.missing))
        by_share = {c.share.pct: c.id for c in self.cells.tune}
        rows = [R.OpInferRow(cell_id, by_share[m.tune_share], m.task, m.tune_share, share.pct, res.grant.units,
                             res.grant.unit, i, us) for m in res.measured for i, us in enumerate(m.latencies_us)]
        ctx = self.context(res.grant.device, res.tvm_version, self.tuner)
        self.save(R.OP_INFERENCE, [R.flatten(ctx, r) for r in rows], cell_id)
        self.summary.ran.append(cell_id)
        self.advance()
