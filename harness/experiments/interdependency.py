"""+exp=interdependency: tune at each share, then infer every tuned model (and the untuned
reference) at every share: tune -> database -> compile -> cross-infer -> tidy rows.

Resumable: a cell whose rows are already in the result files is skipped (unless `rerun`);
a tuning cell is redone only if a pending inference needs its compiled model and it is gone.
"""

from __future__ import annotations

import logging
import os
import time

from harness import results as R
from harness.cells import InferCell, Plan, TuneCell, VendorCell, plan
from harness.device.monitor import Sampler
from harness.device.proc import together
from harness.device.share import CoreAllocator, available_cores, split_cores
from harness.experiments.base import Base, Summary
from harness.jobs import Artifact, InferItem, Share, TuneResult
from harness.layout import PROGRESS, TIMELINE, Step, artifact, has_database, reset, tune_step
from harness.records import read_json

log = logging.getLogger("harness")


def tune_rows(ctx: R.Context, cell: TuneCell, res: TuneResult) -> dict[str, list[dict]]:
    """A finished tuning run's rows, per results file (tuning.csv last: its row marks it done)."""
    share = cell.share.pct
    final = next((r.est_model_ms for r in reversed(res.rounds) if r.est_model_ms is not None), None)
    tune = R.TuneRow(cell.id, share, res.grant.units, res.grant.unit, res.trials_done, len(res.tasks),
                     res.extract_s, res.wall_s, res.artifact.compile_s if res.artifact else 0.0, final,
                     res.segments)
    phases = [R.PhaseRow(cell.id, share, k, "total" if k == "Total" else R.phase_of(k), v)
              for k, v in sorted(res.profile.items())]
    key = R.CellKey(cell.id, share)
    tasks = [R.TaskRow(cell.id, share, t.name, t.flops, t.weight) for t in res.tasks]
    return {
        R.PHASES: [R.flatten(ctx, r) for r in phases],
        R.ROUNDS: [R.flatten(ctx, key, r) for r in res.rounds],
        R.TASKS: [R.flatten(ctx, r) for r in tasks],
        R.TUNING: [R.flatten(ctx, tune)],
    }


class Interdependency(Base):
    def __init__(self, cfg, progress=None):
        super().__init__(cfg, progress)
        self.plan: Plan = plan(cfg)
        self.took: dict[str, float] = {}  # seconds the last measurement of each kind took (measure_on)
        # cpu runs side by side get disjoint core sets (on cuda, MPS splits the SMs)
        self.cores = CoreAllocator() if cfg.parallel_tuning > 1 and cfg.platform.name == "cpu" else None

    def tune(self, cell: TuneCell) -> Artifact | None:
        """Tune one cell; None if it stopped at the deadline (the next sweep continues it)."""
        cfg = self.cfg
        if self.out_of_time(cell.id):
            return None
        self.step(f"tune {cfg.model.label} at {cell.share.label}", tune_step(cell.work_dir).log)
        tuner, threads = split_cores(cfg.tuner, cfg.parallel_tuning) if cfg.parallel_tuning > 1 else (cfg.tuner, 0)
        os.makedirs(cell.work_dir, exist_ok=True)
        timeline = os.path.join(cell.work_dir, TIMELINE)
        if cfg.rerun:  # start over; its old row must not mark it done while it is paused
            reset(cell.work_dir)
            self.save(R.TUNING, [], cell.id)
        cont = os.path.exists(os.path.join(cell.work_dir, PROGRESS))
        if cont:
            log.info("continuing %s from its database", cell.id)
        elif os.path.exists(timeline):
            os.remove(timeline)
        cores = self.cores.take(cell.share.pct) if self.cores else None
        try:
            with Sampler(timeline, cfg.platform.name, cfg.platform.device_id, append=cont), \
                    self.ticker.watch([os.path.join(cell.work_dir, PROGRESS)], tuner.trials):
                res = self.jobs.tune(cfg.model, tuner, cell.work_dir, cell.share, self.time_left(), cores, threads,
                                     compile=True)
        finally:
            if cores:
                self.cores.give(cores)
        if not res.complete:
            self.summary.paused.append(cell.id)
            log.info("paused %s at its deadline: %d of %d trials; run the sweep again to continue",
                     cell.id, res.trials_done, cfg.tuner.trials)
            return None
        for name, rows in tune_rows(self.context(res.grant.device, res.tvm_version), cell, res).items():
            self.save(name, rows, cell.id)
        self.save_timelines(cell.id, timeline, [res.spans])
        self.summary.ran.append(cell.id)
        log.info("tuned %s: %d trials in %.1f s on %d %s", cell.id, res.trials_done, res.wall_s,
                 res.grant.units, res.grant.unit)
        return res.artifact

    def compile(self, cell: TuneCell, tuned: bool) -> Artifact:
        """Compile the untuned reference, or a tuned model again from its database (e.g. a
        sweep resumed on another machine, with the databases brought along)."""
        what = f"from the database tuned at {cell.share.label}" if tuned else "untuned"
        self.step(f"compile {self.cfg.model.label} {what}")
        art = self.jobs.compile(self.cfg.model, cell.work_dir, [cell.work_dir] if tuned else [], cell.share)
        self.summary.ran.append(cell.id)
        return art

    def measure_on(self, share: Share, ids: list[str], fn, cells: list):
        """`fn(share, cells, step)`: the cells `ids` measured in one process on `share`, one sweep at a
        time per share (cells another sweep measured meanwhile are dropped); (fn's value, the step),
        or None when the deadline is nearer than the last such measurement took, and nothing starts."""
        if self.out_of_time(*ids, needs_s=self.took.get(fn.__name__, 0.0)):
            return None
        step = Step(os.path.join(self.plan.run_dir, "infer"), ids[0])
        t0 = time.perf_counter()
        out = self.attempt(f"infer{share.pct:g}", step.log, fn, share, cells, step, cells=ids)
        self.took[fn.__name__] = time.perf_counter() - t0
        return out, step

    def _infer(self, share: Share, cells: list[tuple[InferCell, TuneCell, Artifact]], step: Step) -> None:
        cfg = self.cfg
        done = set() if cfg.rerun else R.done_cells(self.out(R.INFERENCE))
        cells = [c for c in cells if c[0].id not in done]
        if not cells:
            return
        self.step(f"infer {cfg.model.label}: {len(cells)} model(s) at {share.label}", step.log)
        items = [InferItem(c.id, a.path, a.entry) for c, _, a in cells]
        res = self.jobs.infer(cfg.model, items, share, step)
        ctx = self.context(res.grant.device, res.tvm_version)
        for (cell, source, _), m in zip(cells, res.measured):
            tune_units = None
            if cell.tune is not None:
                tune_units = read_json(tune_step(source.work_dir).result, TuneResult).grant.units
            rows = [R.flatten(ctx, R.InferRow(cell.id, source.id, cell.tune.share.pct if cell.tune else None,
                                              tune_units, share.pct, res.grant.units, res.grant.unit, i, ms))
                    for i, ms in enumerate(m.latencies_ms)]
            self.save(R.INFERENCE, rows, cell.id)
            self.summary.ran.append(cell.id)
            self.advance()

    def pending(self) -> tuple[list[TuneCell], list[InferCell]]:
        rerun = self.cfg.rerun
        done_t = R.done_cells(self.out(R.TUNING))
        done_i = R.done_cells(self.out(R.INFERENCE))
        infer = [c for c in self.plan.infer if rerun or c.id not in done_i]
        needed = {(c.tune or self.plan.untuned).id for c in infer}
        tune = [c for c in self.plan.tune
                if rerun or c.id not in done_t
                or (c.id in needed and artifact(c.work_dir) is None and not self._has_run(c))]
        # a model tuned again is a new model: measure it again at every share
        again = {c.id for c in tune}
        infer = [c for c in self.plan.infer if c in infer or (c.tune is not None and c.tune.id in again)]
        return tune, infer

    @staticmethod
    def _has_run(cell: TuneCell) -> bool:
        """Its database and result are there: the model can be compiled again from them."""
        return has_database(cell.work_dir) and os.path.exists(tune_step(cell.work_dir).result)

    def _tune_all(self, cells: list[TuneCell], arts: dict[str, Artifact]) -> None:
        def one(cell):
            art = self.attempt(cell.id, tune_step(cell.work_dir).log, self._tune_claimed, cell)
            if art is not None:
                arts[cell.id] = art
            self.advance()

        together([lambda c=c: one(c) for c in cells], "tune", max(1, self.cfg.parallel_tuning))

    def _compile_all(self, cells: list[InferCell], arts: dict[str, Artifact]) -> None:
        """The models `cells` measure that are not compiled here yet, compiled several at once (each
        its own process): a sweep resumed on a fresh machine compiles them all before measuring."""
        first: dict[str, InferCell] = {}
        for c in cells:
            first.setdefault((c.tune or self.plan.untuned).id, c)
        together([lambda c=c: self._source(c, arts) for c in first.values()], "compile",
                 max(2, len(available_cores()) // 2))

    def _tune_claimed(self, cell: TuneCell) -> Artifact | None:
        if not self.cfg.rerun and cell.id in R.done_cells(self.out(R.TUNING)) and artifact(cell.work_dir):
            log.info("%s was tuned by another sweep meanwhile", cell.id)
            return artifact(cell.work_dir)
        return self.tune(cell)

    def _source(self, cell: InferCell, arts: dict[str, Artifact]) -> tuple[TuneCell, Artifact] | None:
        """The model an inference cell measures, compiled (None: its tuning did not finish here)."""
        source = cell.tune or self.plan.untuned
        s = self.summary
        if source.id in s.paused or source.id in s.failed or source.id in s.busy:
            return None
        if self.out_of_time(cell.id):  # no compile or measurement starts past the deadline
            return None
        art = arts.get(source.id) or artifact(source.work_dir)
        if art is None:  # not compiled yet, or compiled on another machine
            log_path = os.path.join(source.work_dir, "compile.log")
            art = self.attempt(source.id, log_path, self.compile, source, cell.tune is not None)
            if art is None:
                return None
            arts[source.id] = art
        return source, art

    def _run(self) -> Summary:
        tune, infer = self.pending()
        done_i = set() if self.cfg.rerun else R.done_cells(self.out(R.INFERENCE))
        vendor: dict[Share, list[VendorCell]] = {}
        for c in self.plan.vendor:
            if c.id not in done_i:
                vendor.setdefault(c.share, []).append(c)
        done = {c.id for c in self.plan.tune if c not in tune} | {c.id for c in self.plan.infer if c not in infer}
        done |= {c.id for c in self.plan.vendor if c.id in done_i}
        self.summary.skipped = sorted(done)
        self.total(len(tune) + len(infer) + sum(len(v) for v in vendor.values()))
        arts: dict[str, Artifact] = {}
        self._tune_all(tune, arts)
        self._compile_all(infer, arts)
        by_share: dict[Share, list] = {}
        for cell in infer:
            found = self._source(cell, arts)
            if found is not None:
                by_share.setdefault(cell.share, []).append((cell, *found))
        for share, cells in by_share.items():
            self.measure_on(share, [c.id for c, _, _ in cells], self._infer, cells)
        for share, vcells in vendor.items():
            measured = self.measure_on(share, [c.id for c in vcells], self._vendor, vcells)
            if measured is None:
                continue
            failed, step = measured
            for cell_id, why in (failed or {}).items():  # no stale rows of an earlier run stay
                self.save(R.INFERENCE, [], cell_id)
                self._failed([cell_id], RuntimeError(why), step.log)
                self.advance()
        return self.summary

    def _vendor(self, share: Share, cells: list[VendorCell], step: Step) -> dict[str, str]:
        """Each vendor cell at `share` measured in one process; the cells whose mode failed, with why."""
        cfg = self.cfg
        self.step(f"infer {cfg.model.label} in PyTorch ({', '.join(c.vendor for c in cells)}) at {share.label}",
                  step.log)
        res = self.jobs.vendor(cfg.model, {c.id: c.vendor for c in cells}, share, step)
        ctx = self.context(res.grant.device, f"torch {res.torch_version}")
        by_id = {c.id: c for c in cells}
        for m in res.measured:
            cell = by_id[m.cell_id]
            rows = [R.flatten(ctx, R.InferRow(cell.id, "", None, None, share.pct, res.grant.units, res.grant.unit,
                                              i, ms, cell.vendor)) for i, ms in enumerate(m.latencies_ms)]
            self.save(R.INFERENCE, rows, cell.id)
            self.summary.ran.append(cell.id)
            self.advance()
        return res.failed
