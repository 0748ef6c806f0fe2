"""Every file name of a run directory (runs/<platform>/<exp>/<cell>/...), in one place.

A job step `name` in a directory writes `<name>.job.json` (what the worker was asked),
`<name>.log` (its output) and `<name>.result.json` (its typed result, see harness.jobs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness.jobs import Artifact, TuneResult
from harness.records import read_json

# a tuning run's JSON database, as MetaSchedule writes it into the run's work dir
DATABASE_FILES = ("database_tuning_record.json", "database_workload.json")
PROGRESS = "tune.progress.json"  # a tuning run so far, written after every round
TIMELINE = "timeline.csv"  # utilisation samples (harness.device.monitor)
CELL_STATE = "cell.state.json"  # a comparison cell's wall time over its segments
MODEL = "model.so"  # the compiled model
MERGED = "merged"  # the clients' databases merged, when a model is compiled from several
SERVERS = "servers"  # a server pool's logs
SESSIONS = "measure.sessions.csv"  # a cell's servers' measurement sessions: "device,start,end" (epochs)
SESSIONS_ENV, SESSION_TAG_ENV = "SLICETUNE_SESSIONS", "SLICETUNE_SESSION_TAG"  # tell a server that file, its device
QUEUE = "tasks.queue.json"  # a Slice-Tune run's shared tasks (harness.taskqueue)


@dataclass(frozen=True)
class Step:
    """The files of one job step: `name` in `dir`."""

    dir: str
    name: str

    @property
    def log(self) -> str:
        return os.path.join(self.dir, f"{self.name}.log")

    @property
    def job(self) -> str:
        return os.path.join(self.dir, f"{self.name}.job.json")

    @property
    def result(self) -> str:
        return os.path.join(self.dir, f"{self.name}.result.json")

    @property
    def modules(self) -> str:
        """A task-listing step's task modules (TVM JSON), handed to tuning clients."""
        return os.path.join(self.dir, f"{self.name}.modules.json")

    @property
    def tmp(self) -> str:
        """The step's temporary files (TMPDIR), removed when it ends however it ends."""
        return os.path.join(self.dir, f"{self.name}.tmp")


def tune_step(work_dir: str) -> Step:
    return Step(work_dir, "tune")


def compile_step(work_dir: str) -> Step:
    return Step(work_dir, "compile")


def lock_file(run_dir: str, cell_id: str) -> str:
    """Held by the sweep working on a cell (harness.lock)."""
    return os.path.join(run_dir, "locks", f"{cell_id}.lock")


def client_dir(work_dir: str, i: int) -> str:
    return os.path.join(work_dir, f"client{i}")


def has_database(work_dir: str) -> bool:
    return all(os.path.exists(os.path.join(work_dir, f)) for f in DATABASE_FILES)


def reset(work_dir: str) -> None:
    """Drop a tuning run's database, progress and result: the next run in `work_dir` starts over."""
    for path in (*(os.path.join(work_dir, f) for f in (*DATABASE_FILES, PROGRESS)), tune_step(work_dir).result):
        if os.path.exists(path):
            os.remove(path)


def finished(work_dir: str, trials: int) -> TuneResult | None:
    """The result a tuning job left in `work_dir` if it completed its `trials`."""
    path = tune_step(work_dir).result
    if not os.path.exists(path):
        return None
    res = read_json(path, TuneResult)
    return res if res.complete and res.trials_done >= trials else None


def artifact(work_dir: str) -> Artifact | None:
    """The compiled model a finished tuning or compile step left in `work_dir`, if any."""
    for step, cls in ((tune_step(work_dir), TuneResult), (compile_step(work_dir), Artifact)):
        if os.path.exists(step.result):
            res = read_json(step.result, cls)
            art = res.artifact if isinstance(res, TuneResult) else res
            if art and os.path.exists(art.path):
                return art
    return None
