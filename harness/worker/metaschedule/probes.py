"""A builder and a runner that tell the recorder when each batch went in and came out; the
runner may hold a lock shared with other processes while its batch runs (`Exclusive`)."""

from __future__ import annotations

import fcntl

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.builder import PyBuilder
from tvm.s_tir.meta_schedule.runner import PyRunner

from harness.worker.metaschedule.recorder import clock


@derived_object
class TimedBuilder(PyBuilder):
    def __init__(self, inner, recorder):
        super().__init__()
        self.inner, self.rec = inner, recorder

    def build(self, build_inputs):
        start = clock()
        results = self.inner.build(build_inputs)
        self.rec.built(build_inputs, results, start)
        return results


class Exclusive:
    """A lock file several tuning processes share, held from a batch's run until its results are
    collected (a measure callback releases it), so their measurements on one device do not overlap
    (op_interdependency: every share's server on one GPU). Counted: MetaSchedule's own schedulers
    send several batches before collecting any, and the lock is held until the last is in."""

    def __init__(self, path: str):
        self.path, self._f, self.batches = path, None, 0

    def acquire(self) -> None:
        if self._f is None:
            self._f = open(self.path, "a")
            fcntl.flock(self._f, fcntl.LOCK_EX)
        self.batches += 1

    def release(self, all_batches: bool = False) -> None:
        self.batches = 0 if all_batches else max(0, self.batches - 1)
        if self._f is not None and self.batches == 0:
            fcntl.flock(self._f, fcntl.LOCK_UN)
            self._f.close()
            self._f = None


@derived_object
class TimedRunner(PyRunner):
    def __init__(self, inner, recorder, exclusive: Exclusive | None = None):
        super().__init__()
        self.inner, self.rec, self.exclusive = inner, recorder, exclusive

    def run(self, runner_inputs):
        if self.exclusive is not None:
            self.exclusive.acquire()
        start = clock()
        futures = self.inner.run(runner_inputs)
        self.rec.sent(runner_inputs, start)
        return futures
