"""Measure callbacks: MetaSchedule's default ones, with marks for the recorder between them."""

from __future__ import annotations

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule import measure_callback as mc


@derived_object
class Mark(mc.PyMeasureCallback):
    """Tells the recorder that a round's callbacks reached `point` (joined: its results were
    collected from the runner; cm_start: the cost model update begins; end: the round is over)."""

    def __init__(self, recorder, point: str):
        super().__init__()
        self.rec, self.point = recorder, point

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
        self.rec.reached(self.point, task_id, measure_candidates, runner_results)


def create(recorder) -> list:
    """MetaSchedule's "default" callbacks, in their order, with the recorder's marks between."""
    return [Mark(recorder, "joined"), mc.AddToDatabase(), mc.RemoveBuildArtifact(), Mark(recorder, "cm_start"),
            mc.UpdateCostModel(), Mark(recorder, "end")]
