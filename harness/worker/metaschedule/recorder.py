"""The recorder of a tuning run: what each round measured, where its time went, and when the
run's deadline stops it."""

from __future__ import annotations

import os
import time

import psutil
from tvm_ffi import structural_hash

from harness.jobs import Progress, RoundRecord, Span
from harness.records import write_json


class OutOfTime(Exception):
    pass


_ME = psutil.Process()


def cpu_s() -> float:
    """CPU seconds so far of this process (every thread) and of its children, alive or ended
    (builder workers and their own children)."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    for c in _ME.children(recursive=True):
        try:
            ct = c.cpu_times()
        except psutil.Error:  # ended meanwhile: counted once reaped
            continue
        total += ct.user + ct.system + ct.children_user + ct.children_system
    return total


def clock() -> tuple[float, float]:
    """(epoch, CPU seconds): a mark between phases."""
    return time.time(), cpu_s()


class Recorder:
    """Per round: a RoundRecord, the spans of its phases and the progress file; stops the run
    at its deadline. Spans come from the probes around the builder and runner and from measure
    callbacks placed around MetaSchedule's default ones. While the scheduler warms up it
    sends a task to the runner and searches the next before collecting the first, so a round's
    marks are keyed by its candidates, not by order."""

    def __init__(self, names: list[str], weights: list[float], progress: Progress, path: str,
                 deadline_s: float | None):
        self.names, self.weights, self.p, self.path = names, weights, progress, path
        self.deadline = None if deadline_s is None else time.perf_counter() + deadline_s
        self.t0, self.wall0 = time.perf_counter(), progress.wall_s
        self.open: dict[int, dict[str, tuple[float, float]]] = {}  # round key -> marks (see clock)
        self.by_artifact: dict[str, int] = {}
        self.cur: dict[str, tuple[float, float]] = {}  # marks of the round whose callbacks are running
        self.idle_since = clock()  # the scheduler's thread: end of its last step
        self.out_of_time = False

    def trials_of(self, task: str) -> int:
        """Trials measured for `task` so far, over every segment."""
        return sum(r.candidates for r in self.p.rounds if r.task == task)

    def may_run(self, task: str, terminated: bool, cap: int | None = None) -> bool:
        """Whether `task` may get another round: its search has not ended, now (`terminated`) or in an
        earlier segment, and its trials over every segment are under `cap`. A search that ended after
        measuring something is noted for later segments (a new segment's search does not know what
        was measured and would measure it again); one that measured nothing may be tried again."""
        if terminated:
            if task not in self.p.ended and self.trials_of(task) > 0:
                self.p.ended.append(task)
                write_json(self.path, self.p)
            return False
        return task not in self.p.ended and (cap is None or self.trials_of(task) < cap)

    @staticmethod
    def _key(mod) -> int:
        return int(structural_hash(mod))

    def built(self, inputs, results, start: tuple[float, float]) -> None:
        key, end = (self._key(inputs[0].mod) if inputs else 0), clock()
        self.open[key] = {"search": self.idle_since, "build": start, "build_end": end}
        self.by_artifact.update({r.artifact_path: key for r in results if r.artifact_path})
        self.idle_since = end

    def sent(self, inputs, start: tuple[float, float]) -> None:
        key = self.by_artifact.get(inputs[0].artifact_path) if inputs else None
        if key in self.open:
            self.open[key]["measure"] = start
        self.idle_since = clock()

    def reached(self, point: str, task_id: int, candidates, runner_results) -> None:
        """A measure callback's mark (harness.worker.metaschedule.callbacks)."""
        if point == "joined":
            self.joined(candidates)
        elif point == "end":
            self.end_round(task_id, len(candidates), runner_results)
        else:
            self.cur[point] = clock()

    def joined(self, candidates) -> None:
        now = clock()
        self.cur = self.open.pop(self._key(candidates[0].sch.mod), {}) if candidates else {}
        self.cur["joined"] = now

    def end_round(self, task_id: int, candidates: int, runner_results) -> None:
        p, m, now = self.p, self.cur, clock()
        ms = [1e3 * sum(float(s) for s in r.run_secs) / len(r.run_secs)
              for r in runner_results if r.error_msg is None and r.run_secs]
        name = self.names[task_id]
        p.trials_done += candidates
        if ms:
            p.best_ms[name] = min(min(ms), p.best_ms.get(name, float("inf")))
        est = None
        if all(n in p.best_ms for n in self.names):
            est = sum(w * p.best_ms[n] for n, w in zip(self.names, self.weights))
        i = len(p.rounds)
        p.wall_s = self.wall0 + time.perf_counter() - self.t0
        p.rounds.append(RoundRecord(
            round=i, task=name, elapsed_s=p.wall_s, trials_done=p.trials_done, candidates=candidates,
            valid=len(ms), round_best_ms=min(ms) if ms else None, est_model_ms=est, at=now[0]))
        edges = [("search", "search", "build"), ("build", "build", "build_end"), ("measure", "measure", "joined"),
                 ("database", "joined", "cm_start"), ("cost_model", "cm_start", None)]
        for ph, a, b in edges:
            if a in m and (b is None or b in m):
                (t0, c0), (t1, c1) = m[a], m[b] if b else now
                p.spans.append(Span(i, ph, t0, t1, round(c1 - c0, 4)))
        self.cur, self.idle_since = {}, now
        write_json(self.path, p)
        if self.deadline is not None and time.perf_counter() > self.deadline:
            self.out_of_time = True
            raise OutOfTime("tuning deadline reached")  # arrives as a RuntimeError through TVM
