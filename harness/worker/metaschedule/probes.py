"""A builder and a runner that tell the recorder when each batch went in and came out."""

from __future__ import annotations

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


@derived_object
class TimedRunner(PyRunner):
    def __init__(self, inner, recorder):
        super().__init__()
        self.inner, self.rec = inner, recorder

    def run(self, runner_inputs):
        start = clock()
        futures = self.inner.run(runner_inputs)
        self.rec.sent(runner_inputs, start)
        return futures
