"""The jobs an experiment runs on shares of the sweep's device (each in a worker process), and
the device itself: its SM count and MPS daemon(s) on cuda."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

from harness.cells import dirs, tasks_step
from harness.config import Builder, ModelConf, SweepConf, TunerConf
from harness.device.gpu import gpu_uuids, probe_total_sms
from harness.device.mps import MPSDaemon, MPSDaemons, dir_for
from harness.device.proc import Deadline, run_job
from harness.device.warm import WarmPool
from harness.device.share import available_cores, physical_cores
from harness.jobs import (Artifact, CompileJob, InferItem, InferJob, InferResult, Placement, ProbeJob, ProbeResult,
                          OpSource, OpsInferJob, OpsInferResult, Share, TaskList, TasksJob, TuneJob, TuneResult,
                          VendorJob, VendorResult)
from harness.layout import Step, compile_step, finished, tune_step
from harness.records import read_json

log = logging.getLogger("harness")
PROBE_MAX_AGE_S = 6 * 3600.0
CACHE_DIR = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "slicetune")


class Jobs:
    def __init__(self, cfg: SweepConf):
        self.cfg = cfg
        self.total_units: int | None = None  # cuda: SMs of the whole GPU
        self.mps_dir = cfg.platform.mps_dir  # the daemon every job but a pool's servers talks to
        self.gpu_uuids: list[str] | None = None  # set when each of several GPUs has its daemon
        self.whole = Share(cfg.platform.name, 100.0)
        self.timeout = Deadline(total_s=cfg.job_timeout_s)  # tasks, compile, infer, probe
        self._builder_timeout_s: float | None = None
        self._probe_lock = threading.Lock()
        self._warm: WarmPool | None = None

    @contextlib.contextmanager
    def workers(self):
        """Held for the sweep: the tuning processes kept up between its cells (reuse_workers)."""
        if not self.cfg.reuse_workers:
            yield
            return
        with WarmPool(os.path.join(dirs(self.cfg)[1], "workers", str(os.getpid()))) as self._warm:
            try:
                yield
            finally:
                pool, self._warm = self._warm, None
                if pool.started:
                    log.info("tuning processes: %d started, %d jobs ran in one kept from an earlier job",
                             pool.started, pool.reused)

    def warm(self, tuner: TunerConf) -> WarmPool | None:
        """Where a tuning job of `tuner` runs: a kept process with our fixes, a fresh one for stock."""
        return self._warm if tuner.builder == Builder.persistent else None

    def device(self, gpus: int = 1):
        """On cuda: read the GPU's SM count, then hold a private MPS daemon for the sweep (one
        per GPU, pinned by UUID, when the sweep places servers on several)."""
        p = self.cfg.platform
        if p.name != "cuda":
            return contextlib.nullcontext()
        self.total_units = probe_total_sms(p.device_id)
        if gpus <= 1:
            return MPSDaemon(self.mps_dir)
        self.gpu_uuids = gpu_uuids()[:gpus]
        self.mps_dir = dir_for(p.mps_dir, 0, gpus)  # every job but the servers: GPU 0
        return MPSDaemons(p.mps_dir, self.gpu_uuids)

    def place(self, share: Share) -> Placement:
        p = self.cfg.platform
        return Placement(p.name, share.pct, p.device_id, self.total_units)

    def builder_timeout_s(self) -> float:
        """The configured builder time-out plus the start-up of fresh builder workers, measured with
        every core's worker starting at once (as a stock LocalBuilder's do); the measurement is
        kept for this machine in CACHE_DIR and taken again after PROBE_MAX_AGE_S."""
        with self._probe_lock:
            return self._probe_builder()

    def _probe_builder(self) -> float:
        if self._builder_timeout_s is None:
            n = len(available_cores())
            step = Step(CACHE_DIR, f"builder-startup-{self.cfg.platform.name}-w{n}")
            fresh = os.path.exists(step.result) and time.time() - os.path.getmtime(step.result) < PROBE_MAX_AGE_S
            if fresh:
                startup = read_json(step.result, ProbeResult).startup_s
            else:
                startup = run_job("probe", ProbeJob(n), step, self.whole, self.mps_dir, deadline=self.timeout).startup_s
            self._builder_timeout_s = round(self.cfg.builder_timeout_s() + startup, 1)
        return self._builder_timeout_s

    def tuning_deadline(self, work_dir: str) -> Deadline:
        """A tuning job is ended when it finishes no round for too long."""
        return Deadline.stalled(work_dir, self.cfg.tuning_stall_s(self.builder_timeout_s()))

    def tune(self, model: ModelConf, tuner: TunerConf, work_dir: str, share: Share, deadline_s: float | None,
             cores: list[int] | None = None, threads: int = 0, compile: bool = False,
             task_modules: str | None = None, tasks: list[str] | None = None) -> TuneResult:
        """One tuning process (local runner on its share); a finished run is not redone, a paused
        one continues from its database."""
        prev = finished(work_dir, 0)  # complete: a per-task cap may end it under tuner.trials
        if prev is not None and (not compile or (prev.artifact and os.path.exists(prev.artifact.path))):
            return prev
        job = TuneJob(self.place(share), model, tuner, work_dir, builder_timeout_s=self.builder_timeout_s(),
                      search_threads=threads or physical_cores(), compile=compile, deadline_s=deadline_s,
                      task_modules=task_modules, tasks=tasks)
        return run_job("tune", job, tune_step(work_dir), share, self.mps_dir, cores, self.tuning_deadline(work_dir),
                       self.warm(tuner))

    def compile(self, model: ModelConf, work_dir: str, database_dirs: list[str],
                share: Share | None = None) -> Artifact:
        """Compile with the databases (merged when several; none: untuned)."""
        share = share or self.whole
        job = CompileJob(self.place(share), model, work_dir, database_dirs)
        return run_job("compile", job, compile_step(work_dir), share, self.mps_dir, deadline=self.timeout)

    def infer(self, model: ModelConf, items: list[InferItem], share: Share, step: Step) -> InferResult:
        job = InferJob(self.place(share), model, items, self.cfg.infer, self.cfg.tuner.seed)
        return run_job("infer", job, step, share, self.mps_dir, deadline=self.timeout)

    def vendor(self, model: ModelConf, items: dict[str, str], share: Share, step: Step) -> VendorResult:
        """The model in PyTorch, each mode of `items` (cell id -> vendor), on `share`."""
        job = VendorJob(self.place(share), model, items, self.cfg.infer, self.cfg.tuner.seed)
        return run_job("vendor", job, step, share, self.mps_dir, deadline=self.timeout)

    def ops(self, tasks: list[str], sources: list[OpSource], share: Share, step: Step, top_k: int = 1,
            verified_dir: str = "") -> OpsInferResult:
        """Each task's best kernel (or `top_k`) from each source's database, timed on `share` (and
        written with those times to a database in `verified_dir`)."""
        job = OpsInferJob(self.place(share), self.tasks().modules or "", tasks, sources, self.cfg.infer,
                          self.cfg.tuner.seed, top_k, verified_dir)
        return run_job("ops", job, step, share, self.mps_dir, deadline=self.timeout)

    def measure(self, model: ModelConf, cell_id: str, work_dir: str, database_dirs: list[str]) -> InferResult:
        """Compile from the databases and measure on the whole device."""
        art = self.compile(model, work_dir, database_dirs)
        return self.infer(model, [InferItem(cell_id, art.path, art.entry)], self.whole, Step(work_dir, "infer"))

    def tasks(self) -> TaskList:
        """The model's tuning tasks and their saved modules, listed once per run directory (the
        tuning clients load their shard's modules instead of extracting every task again)."""
        step = tasks_step(self.cfg)
        if os.path.exists(step.result) and os.path.exists(step.modules):
            return read_json(step.result, TaskList)
        job = TasksJob(self.place(self.whole), self.cfg.model, modules=step.modules)
        return run_job("tasks", job, step, self.whole, self.mps_dir, deadline=self.timeout)
