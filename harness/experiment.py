"""Run a sweep's cells: tune -> database -> compile -> cross-infer -> tidy rows.

Resumable: a cell whose rows are already in the result files is skipped (unless `rerun`);
a tuning cell is redone only if a pending inference needs its compiled model and it is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from harness import results as R
from harness.cells import InferCell, Plan, TuneCell, plan
from harness.config import SweepConf, tuner_fingerprint
from harness.infer import InferItem, InferJob, InferResult
from harness.monitor import Sampler
from harness.proc import allow_jobs, kill_all, run_job
from harness.records import read_json
from harness.share import CoreAllocator, Placement, Share
from harness.tune import DATABASE_FILES, PROGRESS_FILE, Artifact, CompileJob, Span, TuneJob, TuneResult, phase_of, reset

log = logging.getLogger("harness")


@dataclass
class Summary:
    out_dir: str
    run_dir: str
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)  # tuning runs stopped at their deadline


def _context(cfg: SweepConf, device: str, tvm_version: str, commit: str) -> R.Context:
    t = cfg.tuner
    return R.Context(
        exp=cfg.experiment, platform=cfg.platform.name, device=device, model=cfg.model.name,
        batch=cfg.model.batch, trials=t.trials, trials_per_round=t.trials_per_round,
        builder=t.builder, cost_model=t.cost_model, search=t.search, population=t.population, tuner_fp=tuner_fingerprint(t),
        tvm_version=tvm_version, git_commit=commit, timestamp=R.now())


def _tune_rows(ctx: R.Context, cell: TuneCell, res: TuneResult) -> dict[str, list[dict]]:
    share = cell.share.pct
    final = next((r.est_model_ms for r in reversed(res.rounds) if r.est_model_ms is not None), None)
    tune = R.TuneRow(cell.id, share, res.grant.units, res.grant.unit, res.trials_done, len(res.tasks),
                     res.extract_s, res.wall_s, res.artifact.compile_s if res.artifact else 0.0, final,
                     res.segments)
    phases = [R.PhaseRow(cell.id, share, k, "total" if k == "Total" else phase_of(k), v)
              for k, v in sorted(res.profile.items())]
    key = R.CellKey(cell.id, share)
    tasks = [R.TaskRow(cell.id, share, t.name, t.flops, t.weight) for t in res.tasks]
    return {  # tuning.csv last: its row marks the cell done
        R.PHASES: [R.flatten(ctx, r) for r in phases],
        R.ROUNDS: [R.flatten(ctx, key, r) for r in res.rounds],
        R.TASKS: [R.flatten(ctx, r) for r in tasks],
        R.TUNING: [R.flatten(ctx, tune)],
    }


def spans_csv(clients: list[list[Span]]) -> str:
    """Phase spans of a tuning run's clients as CSV (wall clock, like the timeline's epoch)."""
    lines = ["client,round,phase,start,end"]
    lines += [f"{c},{s.round},{s.phase},{s.start:.3f},{s.end:.3f}" for c, spans in enumerate(clients) for s in spans]
    return "\n".join(lines) + "\n"


def _has_database(cell: TuneCell) -> bool:
    return all(os.path.exists(os.path.join(cell.work_dir, f))
               for f in (*DATABASE_FILES, "tune.result.json"))


def _artifact(cell: TuneCell) -> Artifact | None:
    """The compiled model a finished tuning/compile cell left in its work dir, if any."""
    for name, cls in (("tune.result.json", TuneResult), ("compile.result.json", Artifact)):
        path = os.path.join(cell.work_dir, name)
        if os.path.exists(path):
            res = read_json(path, cls)
            art = res.artifact if isinstance(res, TuneResult) else res
            if art and os.path.exists(art.path):
                return art
    return None


class BaseRunner:
    """What every experiment's runner shares: result files, progress, the device and its MPS
    daemon, the sweep's tuning deadline."""

    def __init__(self, cfg: SweepConf, out_dir: str, run_dir: str, progress=None):
        self.cfg = cfg
        self.commit = R.git_commit()
        self.progress = progress
        self.summary = Summary(out_dir, run_dir)
        self.total_units: int | None = None  # cuda: SMs of the whole GPU
        self._write = threading.Lock()
        self._t0 = time.perf_counter()
        self.mps_dir = cfg.platform.mps_dir  # the daemon every job but a pool's servers talks to
        self.gpu_uuids: list[str] | None = None  # set when each of several GPUs has its daemon

    def place(self, share: Share) -> Placement:
        p = self.cfg.platform
        return Placement(p.name, share.pct, p.device_id, self.total_units)

    def time_left(self) -> float | None:
        """Seconds of tuning the sweep may still start (None: no deadline)."""
        if self.cfg.tune_deadline_s is None:
            return None
        return self.cfg.tune_deadline_s - (time.perf_counter() - self._t0)

    def _save(self, name: str, rows: list[dict], cell_id: str) -> None:
        with self._write:
            R.write_rows(self._out(name), rows, replace_cells={cell_id})

    def _out(self, name: str) -> str:
        return os.path.join(self.summary.out_dir, name)

    def _copy_out(self, src: str | None, name: str, text: str | None = None) -> None:
        """Into results/.../timelines/<name>.gz (they are long): `src`'s content, or `text`."""
        os.makedirs(self._out("timelines"), exist_ok=True)
        dest = self._out(os.path.join("timelines", name + ".gz"))
        if src is not None:
            with open(src) as f:
                text = f.read()
        with gzip.open(dest + ".tmp", "wt", compresslevel=9) as f:
            f.write(text or "")
        os.replace(dest + ".tmp", dest)

    def _step(self, label: str) -> None:
        log.info(label)
        if self.progress is not None:
            self.progress.set_description(label)

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.update(1)

    def _total(self, n: int) -> None:
        if self.progress is not None:
            self.progress.total = n
            self.progress.refresh()

    def run(self) -> Summary:
        allow_jobs()
        try:
            with self._device():
                return self._run()
        except BaseException:
            kill_all()
            raise

    def _run(self) -> Summary:
        raise NotImplementedError

    def gpus_needed(self) -> int:
        return 1

    def _device(self):
        """On cuda: read the GPU's SM count, then hold a private MPS daemon for the sweep (one
        per GPU, pinned by UUID, when the sweep places servers on several)."""
        if self.cfg.platform.name != "cuda":
            return contextlib.nullcontext()
        from harness.mps import MPSDaemon, MPSDaemons, dir_for, gpu_uuids, probe_total_sms

        self.total_units = probe_total_sms(self.cfg.platform.device_id)
        n = self.gpus_needed()
        if n <= 1:
            return MPSDaemon(self.mps_dir)
        self.gpu_uuids = gpu_uuids()[:n]
        self.mps_dir = dir_for(self.cfg.platform.mps_dir, 0, n)  # every job but the servers: GPU 0
        return MPSDaemons(self.cfg.platform.mps_dir, self.gpu_uuids)


class Runner(BaseRunner):
    """+exp=interdependency: tune at each share, infer every tuned model at every share."""

    def __init__(self, cfg: SweepConf, progress=None):
        self.plan: Plan = plan(cfg)
        super().__init__(cfg, self.plan.out_dir, self.plan.run_dir, progress)
        # cpu runs side by side get disjoint core sets (on cuda, MPS splits the SMs)
        self.cores = CoreAllocator() if cfg.parallel_tuning > 1 and cfg.platform.name == "cpu" else None

    def tune(self, cell: TuneCell) -> Artifact | None:
        """Tune one cell; None if it stopped at the deadline (the next sweep continues it)."""
        cfg = self.cfg
        left = self.time_left()
        if left is not None and left <= 0:
            self.summary.paused.append(cell.id)
            return None
        self._step(f"tune {cfg.model.name} at {cell.share.label}")
        tuner, threads = cfg.tuner, 0
        if cfg.parallel_tuning > 1:  # split the cores between runs: builders and search threads
            threads = max(1, len(os.sched_getaffinity(0)) // cfg.parallel_tuning)
            if not tuner.builder_workers:
                tuner = dataclasses.replace(tuner, builder_workers=threads)
        job = TuneJob(
            place=self.place(cell.share), model=cfg.model, tuner=tuner, work_dir=cell.work_dir,
            builder_timeout_s=cfg.tuner.builder_timeout_s or cfg.platform.builder_timeout_s,
            search_threads=threads, deadline_s=left)
        os.makedirs(cell.work_dir, exist_ok=True)
        timeline = os.path.join(cell.work_dir, "timeline.csv")
        progress = os.path.join(cell.work_dir, PROGRESS_FILE)
        if cfg.rerun:  # start over; its old row must not mark it done while it is paused
            reset(cell.work_dir)
            self._save(R.TUNING, [], cell.id)
        cont = os.path.exists(progress)
        if cont:
            log.info("continuing %s from its database", cell.id)
        elif os.path.exists(timeline):
            os.remove(timeline)
        cores = self.cores.take(cell.share.pct) if self.cores else None
        try:
            with Sampler(timeline, cfg.platform.name, cfg.platform.device_id, append=cont):
                res: TuneResult = run_job("tune", job, TuneResult, cell.share,
                                          os.path.join(cell.work_dir, "tune.log"), self.mps_dir, cores)
        finally:
            if cores:
                self.cores.give(cores)
        if not res.complete:
            self.summary.paused.append(cell.id)
            log.info("paused %s at its deadline: %d of %d trials; run the sweep again to continue",
                     cell.id, res.trials_done, cfg.tuner.trials)
            return None
        ctx = _context(cfg, res.grant.device, res.tvm_version, self.commit)
        for name, rows in _tune_rows(ctx, cell, res).items():
            self._save(name, rows, cell.id)
        if os.path.exists(timeline):  # absent if the sampler could not run
            self._copy_out(timeline, f"{cell.id}.csv")
        self._copy_out(None, f"{cell.id}.spans.csv", spans_csv([res.spans]))
        self.summary.ran.append(cell.id)
        log.info("tuned %s: %d trials in %.1f s on %d %s", cell.id, res.trials_done, res.wall_s,
                 res.grant.units, res.grant.unit)
        return res.artifact

    def compile(self, cell: TuneCell, tuned: bool) -> Artifact:
        """Compile the untuned reference, or a tuned model again from its database (e.g. a
        sweep resumed on another machine, with the databases brought along)."""
        cfg = self.cfg
        self._step(f"compile {cfg.model.name} " + (f"from the database tuned at {cell.share.label}" if tuned else "untuned"))
        job = CompileJob(self.place(cell.share), cfg.model, cell.work_dir, cell.work_dir if tuned else None)
        art = run_job("compile", job, Artifact, cell.share, os.path.join(cell.work_dir, "compile.log"),
                      self.mps_dir)
        self.summary.ran.append(cell.id)
        return art

    def infer(self, share: Share, cells: list[tuple[InferCell, TuneCell, Artifact]]) -> None:
        """Measure every model of `cells` in one process on `share`."""
        cfg = self.cfg
        self._step(f"infer {cfg.model.name}: {len(cells)} model(s) at {share.label}")
        items = [InferItem(c.id, a.path, a.entry) for c, _, a in cells]
        job = InferJob(self.place(share), cfg.model, items, cfg.infer, cfg.tuner.seed)
        log_path = os.path.join(self.plan.run_dir, "infer", f"{cells[0][0].id}.log")
        res: InferResult = run_job("infer", job, InferResult, share, log_path, self.mps_dir)
        ctx = _context(cfg, res.grant.device, res.tvm_version, self.commit)
        for (cell, source, _), m in zip(cells, res.measured):
            tune_units = None
            if cell.tune is not None:
                tune_units = read_json(os.path.join(source.work_dir, "tune.result.json"), TuneResult).grant.units
            rows = [R.flatten(ctx, R.InferRow(cell.id, source.id, cell.tune.share.pct if cell.tune else None,
                                              tune_units, share.pct, res.grant.units, res.grant.unit, i, ms))
                    for i, ms in enumerate(m.latencies_ms)]
            self._save(R.INFERENCE, rows, cell.id)
            self.summary.ran.append(cell.id)
            self._advance()

    def pending(self) -> tuple[list[TuneCell], list[InferCell]]:
        rerun = self.cfg.rerun
        done_t = R.done_cells(self._out(R.TUNING))
        done_i = R.done_cells(self._out(R.INFERENCE))
        infer = [c for c in self.plan.infer if rerun or c.id not in done_i]
        needed = {(c.tune or self.plan.untuned).id for c in infer}
        tune = [c for c in self.plan.tune
                if rerun or c.id not in done_t
                or (c.id in needed and _artifact(c) is None and not _has_database(c))]
        # a model tuned again is a new model: measure it again at every share
        again = {c.id for c in tune}
        infer = [c for c in self.plan.infer if c in infer or (c.tune is not None and c.tune.id in again)]
        return tune, infer

    def _tune_all(self, cells: list[TuneCell], arts: dict[str, Artifact]) -> None:
        def one(cell):
            art = self.tune(cell)
            if art is not None:
                arts[cell.id] = art
            self._advance()

        if self.cfg.parallel_tuning <= 1:
            for cell in cells:
                one(cell)
            return
        with ThreadPoolExecutor(self.cfg.parallel_tuning) as pool:
            futures = [pool.submit(one, c) for c in cells]
            try:
                for f in futures:
                    f.result()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                kill_all()  # the other threads' jobs end, so the pool can close
                raise

    def _run(self) -> Summary:
        tune, infer = self.pending()
        done = {c.id for c in self.plan.tune if c not in tune} | {c.id for c in self.plan.infer if c not in infer}
        self.summary.skipped = sorted(done)
        self._total(len(tune) + len(infer))
        arts: dict[str, Artifact] = {}
        self._tune_all(tune, arts)
        by_share: dict[Share, list] = {}
        paused = set(self.summary.paused)
        for cell in infer:
            source = cell.tune or self.plan.untuned
            if source.id in paused:
                continue
            art = arts.get(source.id) or _artifact(source)
            if art is None:  # not compiled yet, or compiled on another machine
                art = arts[source.id] = self.compile(source, tuned=cell.tune is not None)
            by_share.setdefault(cell.share, []).append((cell, source, art))
        for share, cells in by_share.items():
            self.infer(share, cells)
        return self.summary


def run_sweep(cfg: SweepConf, progress=None) -> Summary:
    if cfg.kind == "interdependency":
        return Runner(cfg, progress).run()
    from harness import compare

    return compare.RUNNERS[cfg.kind](cfg, progress).run()
