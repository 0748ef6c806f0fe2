"""+exp=throughput: a set of models tuned one after another (baseline) or all at once, each on
1/N of the device (slicetune)."""

from __future__ import annotations

import logging
import os
import time

from harness import results as R
from harness.cells import Cell, throughput_cells
from harness.config import ModelConf, TunerConf
from harness.device.proc import together
from harness.device.share import partition_cores, split_cores
from harness.experiments.comparison import Comparison, Segment, check_measured, median_std
from harness.jobs import Share, TuneResult
from harness.layout import PROGRESS

log = logging.getLogger("harness")


class Throughput(Comparison):
    def __init__(self, cfg, progress=None):
        super().__init__(cfg, progress)
        self.models = [ModelConf(name=m) for m in cfg.throughput.models]
        self.cells = throughput_cells(cfg, self.models)

    def _run(self):
        self.run_cells(self.cells, R.THROUGHPUT)
        return self.summary

    def run_cell(self, cell: Cell, mode: str) -> None:
        if self.out_of_time(cell.id, needs_s=Segment.MIN_S):
            return
        n = len(self.models)
        self.step(f"throughput: {n} models, {mode}", cell.work_dir)
        work = [os.path.join(cell.work_dir, f"job{i}-{m.name}") for i, m in enumerate(self.models)]
        share = self.jobs.whole if mode == "baseline" else Share(self.cfg.platform.name, round(100.0 / n, 2))
        progress = [os.path.join(w, PROGRESS) for w in work]
        with Segment(self, cell, R.THROUGHPUT) as seg, self.ticker.watch(progress, n * cell.tuner.trials):
            if mode == "baseline":
                out = self._one_after_another(cell.tuner, work, seg.left)
            else:
                out = self._side_by_side(cell.tuner, work, share, seg.left)
        seg.done(all(r.complete for r in out))
        if seg.complete:
            self._record(cell, mode, work, share, out, seg)

    def _record(self, cell: Cell, mode: str, work: list[str], share: Share, out: list[TuneResult], seg: Segment):
        n, state = len(self.models), seg.state
        for m, w, r in zip(self.models, work, out):
            check_measured(f"{mode} {m.name}", [r], os.path.join(w, "logs"))
        total = sum(r.trials_done for r in out)
        rows = []
        for m, w, r in zip(self.models, work, out):
            inf = self.jobs.measure(m, cell.id, w, [w])
            row = R.ThroughputRow(cell.id, str(mode), n, "+".join(str(x.name) for x in self.models), share.pct,
                                  r.trials_done, r.extract_s + r.wall_s, state.wall_s, total / state.wall_s,
                                  state.segments, median_std(inf.measured[0].latencies_ms)[0])
            rows.append(R.flatten(self.context(inf.grant.device, inf.tvm_version, cell.tuner, m), row))
        self.save(R.THROUGHPUT, rows, cell.id)
        self.finish(cell, out)
        log.info("throughput %s: %d trials in %.1f s", mode, total, state.wall_s)

    def _one_after_another(self, tuner: TunerConf, work: list[str], left: float | None) -> list[TuneResult]:
        t0, out = time.perf_counter(), []
        for m, w in zip(self.models, work):
            spent = time.perf_counter() - t0
            out.append(self.jobs.tune(m, tuner, w, self.jobs.whole, None if left is None else left - spent))
        return out

    def _side_by_side(self, tuner: TunerConf, work: list[str], share: Share, left: float | None) -> list[TuneResult]:
        n = len(work)
        tuner, threads = split_cores(tuner, n)
        cores = partition_cores([share.pct] * n) if share.platform == "cpu" else [None] * n
        out: list[TuneResult | None] = [None] * n

        def one(i: int) -> None:
            out[i] = self.jobs.tune(self.models[i], tuner, work[i], share, left, cores[i], threads)

        together([lambda i=i: one(i) for i in range(n)], "job")
        return [r for r in out if r is not None]
