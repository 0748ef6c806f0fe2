"""What the comparison experiments (tuning_time, scaling, throughput) share: one cell per
configuration, tuned over one or more segments (a sweep paused at its deadline continues it),
then its model measured on the whole device.

A cell's wall time adds up its segments (each pays its processes' start-up again: `segments`
says how many).
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import threading
import time
from dataclasses import dataclass, field

from harness import results as R
from harness.cells import Cell
from harness.device.monitor import Sampler
from harness.experiments.base import Base
from harness.jobs import TuneResult
from harness.layout import CELL_STATE, TIMELINE
from harness.records import read_json, write_json

log = logging.getLogger("harness")


@dataclass
class CellState:
    """A cell's tuning so far, over the sweeps (segments) that worked on it."""

    wall_s: float = 0.0
    segments: int = 0
    open_since: float | None = None  # epoch: a segment under way (or cut short by kill -9)
    last_seen: float | None = None  # that segment's last heartbeat
    windows: list[list[float]] = field(default_factory=list)  # [start, end] epochs of the closed segments
    tuned: bool = False  # its tuning finished (measured again without a new segment if its rows are lost)


class NoValidMeasurement(RuntimeError):
    """Every candidate of a run failed to measure: its model would be the untuned one."""


def check_measured(label: str, clients: list[TuneResult], logs: str) -> int:
    """The candidates measured without error; raises when there is none, warns when under half."""
    valid, trials = sum(r.valid for c in clients for r in c.rounds), sum(c.trials_done for c in clients)
    if valid == 0:
        raise NoValidMeasurement(f"{label}: none of its {trials} candidates was "
                                 f"measured (see the runner errors in {logs}); no row is written")
    if valid < trials / 2:
        log.warning("%s: only %d of %d candidates were measured (see the runner errors in %s); the row says so "
                    "in valid_trials", label, valid, trials, logs)
    return valid


def median_std(xs: list[float]) -> tuple[float, float]:
    return statistics.median(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


class Segment:
    """`with Segment(exp, cell, results) as seg:` one sweep's work on a cell: its state so far,
    the seconds it may tune (`seg.left`), a utilisation timeline. The segment's time is saved as
    it goes (a heartbeat), so a segment cut short, even by kill -9, still counts in `wall_s`.
    `seg.done(complete)` records whether the cell's tuning finished; once it has, a later sweep
    (whose rows were lost) opens no segment: its tuning processes only hand back their results."""

    HEARTBEAT_S = 5.0
    # no segment starts nearer the deadline: its start-up (30-80 s on the H100; 8 clients more) would
    # spend the device call and end before its first round
    MIN_S = 90.0

    def __init__(self, exp: Base, cell: Cell, results: str, gpus: int = 1):
        self.exp, self.cell = exp, cell
        self.path = os.path.join(cell.work_dir, CELL_STATE)
        if exp.cfg.rerun and os.path.exists(cell.work_dir):  # start over
            shutil.rmtree(cell.work_dir)
            exp.save(results, [], cell.id)
        os.makedirs(cell.work_dir, exist_ok=True)
        self.state = read_json(self.path, CellState) if os.path.exists(self.path) else CellState()
        if self.state.open_since is not None:  # the last segment never closed: count what it ran
            self._close(self.state.last_seen or self.state.open_since)
            log.info("%s: a segment cut short was counted (%d so far)", cell.id, self.state.segments)
        self.left = exp.time_left()
        self.tuned = self.state.tuned
        self.timeline = os.path.join(cell.work_dir, TIMELINE)
        p = exp.cfg.platform
        devices = list(range(gpus)) if gpus > 1 else p.device_id  # a pool over several GPUs starts at 0
        self._sampler = Sampler(self.timeline, p.name, devices, append=self.state.segments > 0)
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="segment", daemon=True)
        self.complete = False

    def _close(self, end: float) -> None:
        self.state.wall_s += max(0.0, end - self.state.open_since)
        self.state.windows.append([self.state.open_since, max(end, self.state.open_since)])
        self.state.segments += 1
        self.state.open_since = self.state.last_seen = None
        write_json(self.path, self.state)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.HEARTBEAT_S):
            self.state.last_seen = time.time()
            write_json(self.path, self.state)

    def __enter__(self) -> Segment:
        if self.tuned:
            return self
        self.state.open_since = self.state.last_seen = time.time()
        write_json(self.path, self.state)
        self._sampler.__enter__()
        self._beat.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.tuned:
            return
        self._stop.set()
        self._beat.join()
        self._sampler.__exit__(*exc)
        self._close(time.time())

    def done(self, complete: bool) -> None:
        self.complete = complete
        if complete and not self.state.tuned:
            self.state.tuned = True
            write_json(self.path, self.state)
        if not complete:
            self.exp.summary.paused.append(self.cell.id)
            log.info("paused %s at the deadline; run the sweep again to continue", self.cell.id)


class Comparison(Base):
    def pending(self, cells: list[Cell], results: str) -> list[Cell]:
        done = R.done_cells(self.out(results))
        todo = [c for c in cells if self.cfg.rerun or c.id not in done]
        self.summary.skipped = sorted(c.id for c in cells if c not in todo)
        return todo

    def run_cells(self, cells: dict[Cell, object], results: str) -> None:
        """Each pending cell under its lock; one failing is recorded and the others go on."""
        todo = self.pending(list(cells), results)
        self.total(len(todo))
        for cell in todo:
            self.attempt(cell.id, cell.work_dir, self._claimed, cell, cells[cell], results)
            self.advance()

    def _claimed(self, cell: Cell, point, results: str) -> None:
        if not self.cfg.rerun and cell.id in R.done_cells(self.out(results)):
            log.info("%s was finished by another sweep meanwhile", cell.id)
            return
        self.run_cell(cell, point)

    def run_cell(self, cell: Cell, point) -> None:
        raise NotImplementedError

    def finish(self, cell: Cell, clients: list[TuneResult]) -> None:
        self.save_timelines(cell.id, os.path.join(cell.work_dir, TIMELINE), [c.spans for c in clients])
        self.summary.ran.append(cell.id)
