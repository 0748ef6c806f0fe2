"""Stock MetaSchedule against Slice-Tune, at the same trial budget.

+exp=tuning_time: one cell per configuration (harness.config.SliceTuneConf). The baseline is
one process: a local builder on every core and a local runner on the whole device. Slice-Tune
is a server pool (S servers per GPU, each on its share) and K clients, each tuning one shard of
the tasks with its own builder workers (cores divided) through MetaSchedule's RPC runner; the
clients' databases are merged. Each cell's model is then compiled from its database and
measured on the whole device, so quality is compared too.

+exp=throughput: several models tuned one after another (baseline) or all at once, each on
1/N of the device (slicetune).

Cells resume (tune_deadline_s): a paused cell continues from its databases and its wall time
adds up its segments (each segment pays its processes' start-up again: `segments` says how many).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import statistics
import time
from dataclasses import dataclass, field

from harness import results as R
from harness.cells import dirs, model_stem
from harness.config import ModelConf, SweepConf, TunerConf, tuner_fingerprint
from harness.experiment import BaseRunner, Summary, _context, spans_csv
from harness.infer import InferItem, InferJob, InferResult
from harness.monitor import Sampler
from harness.proc import run_job, together
from harness.records import read_json, write_json
from harness.servers import ServerPool
from harness.share import Share, available_cores, partition_cores
from harness.slicetune import tune_sharded
from harness.tasks import TaskList, TasksJob
from harness.tune import Artifact, CompileJob, TuneJob, TuneResult, finished

log = logging.getLogger("harness")


@dataclass(frozen=True)
class Config:
    """One point of the tuning-time grid."""

    mode: str  # baseline | slicetune
    builder: str
    clients: int = 1
    servers: int = 0  # per GPU
    server_share: float = 100.0
    gpus: int = 1

    @property
    def label(self) -> str:
        if self.mode == "baseline":
            return f"baseline-{self.builder}"
        g = f"-g{self.gpus}" if self.gpus > 1 else ""
        return f"k{self.clients}-s{self.servers}-p{self.server_share:g}{g}-{self.builder}"


def grid(cfg: SweepConf) -> list[Config]:
    st = cfg.slicetune
    out = [Config("baseline", b) for b in st.builders] if st.baseline else []
    for g in st.gpus:
        for k in st.clients:
            for s in st.servers:
                for p in st.server_shares:
                    for b in st.builders:
                        out.append(Config("slicetune", b, k, s, round(p or 100.0 / s, 2), g))
    return list(dict.fromkeys(out))


@dataclass
class CellState:
    """A cell's tuning so far, over the sweeps (segments) that worked on it."""

    wall_s: float = 0.0
    segments: int = 0


@dataclass(frozen=True)
class Cell:
    id: str
    work_dir: str
    tuner: TunerConf = field(compare=False)


class NoValidMeasurement(RuntimeError):
    """Every candidate of a run failed to measure: its model would be the untuned one."""


def _check_measured(label: str, clients: list[TuneResult], logs: str) -> int:
    valid = sum(r.valid for c in clients for r in c.rounds)
    if valid == 0:
        raise NoValidMeasurement(f"{label}: none of its {sum(c.trials_done for c in clients)} candidates was "
                                 f"measured (see the runner errors in {logs}); no row is written")
    return valid


def _median_std(xs: list[float]) -> tuple[float, float]:
    return statistics.median(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


class _CompareRunner(BaseRunner):
    def __init__(self, cfg: SweepConf, progress=None):
        out_dir, run_dir = dirs(cfg)
        super().__init__(cfg, out_dir, run_dir, progress)
        self.share100 = Share(cfg.platform.name, 100.0)

    def _cell(self, name: str, tuner: TunerConf, stem: str) -> Cell:
        cid = f"{stem}-{tuner_fingerprint(tuner)}-{name}"
        return Cell(cid, os.path.join(self.summary.run_dir, cid), tuner)

    def _pending(self, cells: list[Cell], results: str) -> list[Cell]:
        done = R.done_cells(self._out(results))
        todo = [c for c in cells if self.cfg.rerun or c.id not in done]
        self.summary.skipped = sorted(c.id for c in cells if c not in todo)
        return todo

    def _begin(self, cell: Cell, results: str) -> tuple[CellState, float] | None:
        """The cell's state and the seconds it may tune; None when the deadline has passed."""
        left = self.time_left()
        if left is not None and left <= 0:
            self.summary.paused.append(cell.id)
            return None
        state_path = os.path.join(cell.work_dir, "cell.state.json")
        if self.cfg.rerun and os.path.exists(cell.work_dir):  # start over
            shutil.rmtree(cell.work_dir)
            self._save(results, [], cell.id)
        os.makedirs(cell.work_dir, exist_ok=True)
        state = read_json(state_path, CellState) if os.path.exists(state_path) else CellState()
        return state, left

    def _end_segment(self, cell: Cell, state: CellState, t0: float, complete: bool) -> bool:
        state.wall_s += time.perf_counter() - t0
        state.segments += 1
        write_json(os.path.join(cell.work_dir, "cell.state.json"), state)
        if not complete:
            self.summary.paused.append(cell.id)
            log.info("paused %s at the deadline; run the sweep again to continue", cell.id)
        return complete

    def _timeline(self, cell: Cell, state: CellState) -> Sampler:
        p = self.cfg.platform
        return Sampler(os.path.join(cell.work_dir, "timeline.csv"), p.name, p.device_id, append=state.segments > 0)

    def _tune(self, model: ModelConf, tuner: TunerConf, work_dir: str, share: Share, left: float | None,
              cores: list[int] | None = None, threads: int = 0) -> TuneResult:
        """One stock tuning process (local runner on its share), continued if it was paused."""
        prev = finished(work_dir, tuner.trials)
        if prev is not None:
            return prev
        p = self.cfg.platform
        job = TuneJob(self.place(share), model, tuner, work_dir,
                      builder_timeout_s=tuner.builder_timeout_s or p.builder_timeout_s, search_threads=threads,
                      compile=False, deadline_s=left)
        return run_job("tune", job, TuneResult, share, os.path.join(work_dir, "tune.log"), self.mps_dir, cores)

    def _measure(self, model: ModelConf, cell_id: str, work_dir: str, db_dir: str) -> InferResult:
        """Compile from the database and measure on the whole device."""
        share = self.share100
        art = run_job("compile", CompileJob(self.place(share), model, work_dir, db_dir), Artifact, share,
                      os.path.join(work_dir, "compile.log"), self.mps_dir)
        job = InferJob(self.place(share), model, [InferItem(cell_id, art.path, art.entry)], self.cfg.infer,
                       self.cfg.tuner.seed)
        return run_job("infer", job, InferResult, share, os.path.join(work_dir, "infer.log"), self.mps_dir)

    def _finish(self, cell: Cell, clients: list[TuneResult]) -> None:
        timeline = os.path.join(cell.work_dir, "timeline.csv")
        if os.path.exists(timeline):
            self._copy_out(timeline, f"{cell.id}.csv")
        self._copy_out(None, f"{cell.id}.spans.csv", spans_csv([c.spans for c in clients]))
        self.summary.ran.append(cell.id)

    def _ctx(self, res: InferResult, tuner: TunerConf, model: ModelConf) -> R.Context:
        cfg = dataclasses.replace(self.cfg, tuner=tuner, model=model)
        return _context(cfg, res.grant.device, res.tvm_version, self.commit)


class TuningTimeRunner(_CompareRunner):
    """+exp=tuning_time (and +exp=scaling: the same grid over GPUs)."""

    def __init__(self, cfg: SweepConf, progress=None):
        super().__init__(cfg, progress)
        stem = model_stem(cfg.model)
        self.configs = [c for c in grid(cfg) if self._possible(c)]
        self.cells = {self._cell(c.label, dataclasses.replace(cfg.tuner, builder=c.builder), stem): c
                      for c in self.configs}

    def gpus_needed(self) -> int:
        return max((c.gpus for c in self.configs), default=1)

    def _possible(self, c: Config) -> bool:
        have = 1 if self.cfg.platform.name == "cpu" else _visible_gpus()
        if c.gpus > have:
            log.warning("skipping %s: it needs %d GPUs, %d visible", c.label, c.gpus, have)
            return False
        return True

    def tasks(self) -> TaskList:
        path = os.path.join(self.summary.run_dir, f"{model_stem(self.cfg.model)}.tasks.json")
        if os.path.exists(path):
            return read_json(path, TaskList)
        self._step(f"list the tuning tasks of {self.cfg.model.name}")
        job = TasksJob(self.place(self.share100), self.cfg.model)
        return run_job("tasks", job, TaskList, self.share100, path[:-5] + ".log", self.mps_dir)

    def _run(self) -> Summary:
        todo = self._pending(list(self.cells), R.TUNING_TIME)
        self._total(len(todo))
        tasks = self.tasks().tasks if any(self.cells[c].mode == "slicetune" for c in todo) else []
        for cell in todo:
            self.run_cell(cell, self.cells[cell], tasks)
            self._advance()
        return self.summary

    def run_cell(self, cell: Cell, c: Config, tasks) -> None:
        cfg, p = self.cfg, self.cfg.platform
        begun = self._begin(cell, R.TUNING_TIME)
        if begun is None:
            return
        state, left = begun
        self._step(f"tuning_time {cfg.model.name}: {c.label}")
        t0 = time.perf_counter()
        with self._timeline(cell, state):
            if c.mode == "baseline":
                clients = [self._tune(cfg.model, cell.tuner, os.path.join(cell.work_dir, "tune"), self.share100, left)]
                db_dir = os.path.join(cell.work_dir, "tune")
            else:
                shares = [Share(p.name, c.server_share)] * (c.servers * c.gpus)
                with ServerPool(shares, os.path.join(cell.work_dir, "servers"), self.cfg.platform.mps_dir,
                                devices=list(range(c.gpus)), gpu_uuids=self.gpu_uuids, wait=False) as pool:
                    res = tune_sharded(cfg.model, cell.tuner, tasks, pool, c.clients, cell.work_dir, p.name,
                                       cfg.slicetune.split, cell.tuner.builder_timeout_s or p.builder_timeout_s,
                                       self.mps_dir, deadline_s=left)
                clients, db_dir = res.clients, res.merged_dir
        if not self._end_segment(cell, state, t0, all(r.complete for r in clients)):
            return
        valid = _check_measured(c.label, clients, os.path.join(cell.work_dir, "*", "logs"))
        inf = self._measure(cfg.model, cell.id, cell.work_dir, db_dir)
        med, std = _median_std(inf.measured[0].latencies_ms)
        trials = sum(r.trials_done for r in clients)
        row = R.TuningTimeRow(
            cell.id, c.mode, c.clients, c.servers, c.server_share, c.gpus, cfg.slicetune.split, trials, valid,
            sum(len(r.tasks) for r in clients), state.wall_s, max(r.wall_s for r in clients),
            trials / state.wall_s, state.segments, med, std, inf.grant.units)
        self._save(R.TUNING_TIME, [R.flatten(self._ctx(inf, cell.tuner, cfg.model), row)], cell.id)
        self._finish(cell, clients)
        log.info("%s: %d trials in %.1f s (%.2f trials/s), %.3f ms", c.label, trials, state.wall_s,
                 trials / state.wall_s, med)


def _visible_gpus() -> int:
    from harness.mps import gpu_uuids

    try:
        return len(gpu_uuids())
    except Exception:  # noqa: BLE001 - no NVML: no GPU to place servers on
        return 0


class ThroughputRunner(_CompareRunner):
    """+exp=throughput: the models of `throughput.models` as one set of tuning jobs."""

    def __init__(self, cfg: SweepConf, progress=None):
        super().__init__(cfg, progress)
        self.models = [ModelConf(name=m) for m in cfg.throughput.models]
        stem = "+".join(model_stem(m) for m in self.models)
        self.cells = {self._cell(mode, cfg.tuner, stem): mode for mode in dict.fromkeys(cfg.throughput.modes)}

    def _run(self) -> Summary:
        todo = self._pending(list(self.cells), R.THROUGHPUT)
        self._total(len(todo))
        for cell in todo:
            self.run_cell(cell, self.cells[cell])
            self._advance()
        return self.summary

    def run_cell(self, cell: Cell, mode: str) -> None:
        cfg = self.cfg
        begun = self._begin(cell, R.THROUGHPUT)
        if begun is None:
            return
        state, left = begun
        n = len(self.models)
        self._step(f"throughput: {n} models, {mode}")
        work = [os.path.join(cell.work_dir, f"job{i}-{m.name}") for i, m in enumerate(self.models)]
        share = self.share100 if mode == "baseline" else Share(cfg.platform.name, round(100.0 / n, 2))
        t0 = time.perf_counter()
        with self._timeline(cell, state):
            if mode == "baseline":
                out = []
                for m, w in zip(self.models, work):
                    spent = time.perf_counter() - t0
                    out.append(self._tune(m, cell.tuner, w, share, None if left is None else left - spent))
            else:
                out = self._side_by_side(cell.tuner, work, share, left)
        if not self._end_segment(cell, state, t0, all(r.complete for r in out)):
            return
        for m, w, r in zip(self.models, work, out):
            _check_measured(f"{mode} {m.name}", [r], os.path.join(w, "logs"))
        total = sum(r.trials_done for r in out)
        rows = []
        for m, w, r in zip(self.models, work, out):
            inf = self._measure(m, cell.id, w, w)
            row = R.ThroughputRow(cell.id, mode, n, "+".join(x.name for x in self.models), share.pct,
                                  r.trials_done, r.extract_s + r.wall_s, state.wall_s, total / state.wall_s,
                                  state.segments, _median_std(inf.measured[0].latencies_ms)[0])
            rows.append(R.flatten(self._ctx(inf, cell.tuner, m), row))
        self._save(R.THROUGHPUT, rows, cell.id)
        self._finish(cell, out)
        log.info("throughput %s: %d trials in %.1f s", mode, total, state.wall_s)

    def _side_by_side(self, tuner: TunerConf, work: list[str], share: Share, left: float | None) -> list[TuneResult]:
        n = len(work)
        threads = max(1, len(available_cores()) // n)
        tuner = dataclasses.replace(tuner, builder_workers=tuner.builder_workers or threads)
        cores = partition_cores([share.pct] * n) if share.platform == "cpu" else [None] * n
        out: list[TuneResult | None] = [None] * n

        def one(i: int) -> None:
            out[i] = self._tune(self.models[i], tuner, work[i], share, left, cores[i], threads)

        together([lambda i=i: one(i) for i in range(n)], "job")
        return [r for r in out if r is not None]


RUNNERS = {"tuning_time": TuningTimeRunner, "throughput": ThroughputRunner}
