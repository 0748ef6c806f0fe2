"""What every experiment shares: its result and run directories, saving rows, timelines, the
sweep's tuning deadline, progress, and the device held for the sweep."""

from __future__ import annotations

import dataclasses
import logging
import lzma
import os
import threading
import time
from dataclasses import dataclass, field

from harness import results as R
from harness.cells import dirs
from harness.config import ModelConf, SweepConf, TunerConf, tuner_fingerprint
from harness.device.proc import allow_jobs, kill_all, stopping
from harness.experiments.jobs import Jobs
from harness.experiments.ticker import Ticker
from harness.jobs import Span, TaskInfo
from harness.layout import lock_file
from harness.lock import CellLock
from harness.taskqueue import heaviest

log = logging.getLogger("harness")


@dataclass
class Summary:
    out_dir: str
    run_dir: str
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)  # cells stopped at the deadline or not started before it
    failed: dict[str, str] = field(default_factory=dict)  # cell -> why (and its log), see failures.csv
    busy: list[str] = field(default_factory=list)  # cells another sweep was working on


def spans_csv(clients: list[list[Span]]) -> str:
    """Phase spans of a tuning run's clients as CSV (wall clock, like the timeline's epoch)."""
    lines = ["client,round,phase,start,end,cpu_s"]
    lines += [f"{c},{s.round},{s.phase},{s.start:.3f},{s.end:.3f},{'' if s.cpu_s is None else s.cpu_s}"
              for c, spans in enumerate(clients) for s in spans]
    return "\n".join(lines) + "\n"


class Base:
    """An experiment: `_run` does its cells; `run` holds the device around it and stops every
    job still running when it fails or is interrupted."""

    def __init__(self, cfg: SweepConf, progress=None):
        self.cfg = cfg
        self.jobs = Jobs(cfg)
        self.commit = R.git_commit()
        self.progress = progress
        self.summary = Summary(*dirs(cfg))
        self.ticker = Ticker(progress)
        self._write = threading.Lock()
        self._t0 = time.perf_counter()

    def gpus_needed(self) -> int:
        return 1

    def run(self) -> Summary:
        allow_jobs()
        try:
            with self.jobs.device(self.gpus_needed()), self.jobs.workers(), self.ticker:
                return self._run()
        except BaseException:
            kill_all()
            raise

    def attempt(self, lock_id: str, log_path: str, fn, *args, cells: list[str] | None = None):
        """`fn(*args)` with the lock `lock_id` held (a cell's id, or a group's). A failure is
        recorded for `cells` (default: the lock's cell) in failures.csv, with why and the log, and
        the sweep goes on (while the sweep is stopping it is raised, nothing recorded); when
        another sweep holds the lock, it is skipped. Returns fn's value, or None when it failed or
        was skipped."""
        cells = cells or [lock_id]
        with CellLock(lock_file(self.summary.run_dir, lock_id)) as lock:
            if not lock.held:
                log.warning("%s: another sweep (pid %s) is working on it; skipped", lock_id, lock.holder())
                self.summary.busy += cells
                return None
            try:
                out = fn(*args)
            except Exception as e:  # noqa: BLE001 - one cell's failure never ends the sweep
                if stopping():  # its job was ended by Ctrl-C or another's error: not its failure
                    raise
                self._failed(cells, e, log_path)
                return None
        if os.path.exists(self.out(R.FAILURES)):
            with self._write:
                R.write_rows(self.out(R.FAILURES), [], replace_cells=set(cells))
        return out

    def _failed(self, cells: list[str], e: Exception, log_path: str) -> None:
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.error("%s failed: %s (log: %s)", ", ".join(cells), why, log_path)
        rows = [dataclasses.asdict(R.FailureRow(c, why, log_path, R.now())) for c in cells]
        with self._write:
            R.write_rows(self.out(R.FAILURES), rows, replace_cells=set(cells))
        self.summary.failed.update({c: f"{why} (log: {log_path})" for c in cells})

    def time_left(self) -> float | None:
        """Seconds of tuning the sweep may still start (None: no deadline)."""
        if self.cfg.tune_deadline_s is None:
            return None
        return self.cfg.tune_deadline_s - (time.perf_counter() - self._t0)

    def out_of_time(self, *cell_ids: str, needs_s: float = 0.0) -> bool:
        """True (and the cells recorded as paused) once the sweep's deadline has passed, or is
        nearer than `needs_s` (what the step about to start took last time)."""
        left = self.time_left()
        if left is not None and left <= needs_s:
            self.summary.paused.extend(c for c in cell_ids if c not in self.summary.paused)
            return True
        return False

    def context(self, device: str, tvm_version: str, tuner: TunerConf | None = None,
                model: ModelConf | None = None) -> R.Context:
        """The columns every row of this sweep carries."""
        cfg = dataclasses.replace(self.cfg, tuner=tuner or self.cfg.tuner, model=model or self.cfg.model)
        t = cfg.tuner
        return R.Context(
            exp=str(cfg.experiment), platform=str(cfg.platform.name), device=device, model=cfg.model.label,
            batch=cfg.model.batch, trials=t.trials, trials_per_round=t.trials_per_round, builder=str(t.builder),
            cost_model=str(t.cost_model), search=str(t.search), population=t.population,
            tuner_fp=tuner_fingerprint(t), tvm_version=tvm_version, git_commit=self.commit, timestamp=R.now(),
            max_trials_per_task=t.max_trials_per_task, init_min_unmeasured=t.init_min_unmeasured,
            genetic_iters=t.genetic_iters)

    def out(self, name: str) -> str:
        return os.path.join(self.summary.out_dir, name)

    def save(self, name: str, rows: list[dict], cell_id: str) -> None:
        """Replace the cell's rows in results file `name` with `rows`."""
        with self._write:
            R.write_rows(self.out(name), rows, replace_cells={cell_id})

    def save_timelines(self, cell_id: str, timeline: str, clients: list[list[Span]]) -> None:
        """The run's utilisation samples (if the sampler ran) and its clients' phase spans, compressed."""
        if os.path.exists(timeline):
            with open(timeline) as f:
                self._compress(R.timeline_paths(self.summary.out_dir, cell_id), f.read())
        self._compress(R.timeline_paths(self.summary.out_dir, cell_id, spans=True), spans_csv(clients))

    @staticmethod
    def _compress(paths: list[str], text: str) -> None:
        """`text` into `paths[0]` (xz); the rest, an older run's files of the cell, removed."""
        dest = paths[0]
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with lzma.open(dest + ".tmp", "wt", preset=9 | lzma.PRESET_EXTREME) as f:
            f.write(text)
        os.replace(dest + ".tmp", dest)
        for old in paths[1:]:
            if os.path.exists(old):
                os.remove(old)

    def costliest(self, tasks: list[TaskInfo], n: int, setting: str) -> list[TaskInfo]:
        """The `n` costliest of the model's `tasks` (0: all), as config key `setting` asks."""
        if n > len(tasks):
            log.warning("%s has %d tasks; %s=%d takes them all", self.cfg.model.label, len(tasks), setting, n)
        return heaviest(tasks, n)

    def step(self, label: str, log_path: str | None = None) -> None:
        """A new step: on the progress bar, in the log, and (with its log's path) on the console."""
        log.info(label + (f" (log: {log_path})" if log_path else ""))
        if self.progress is not None:
            self.progress.set_description(label)
            if log_path:
                self.progress.write(f"{label}: log {log_path}")

    def advance(self) -> None:
        if self.progress is not None:
            self.progress.update(1)

    def total(self, n: int) -> None:
        if self.progress is not None:
            self.progress.total = n
            self.progress.refresh()
