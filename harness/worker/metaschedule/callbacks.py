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


@derived_object
class Release(mc.PyMeasureCallback):
    """The round's results are in: let the next process measure (probes.Exclusive)."""

    def __init__(self, exclusive):
        super().__init__()
        self.exclusive = exclusive

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
        self.exclusive.release()


def create(recorder, exclusive=None) -> list:
    """MetaSchedule's "default" callbacks, in their order, with the recorder's marks between; where
    the runner holds `exclusive`, it is released right after the measurement's end is marked (so
    the recorded spans of processes sharing it never overlap)."""
    release = [Release(exclusive)] if exclusive is not None else []
    return [Mark(recorder, "joined"), *release, mc.AddToDatabase(), mc.RemoveBuildArtifact(),
            Mark(recorder, "cm_start"), mc.UpdateCostModel(), Mark(recorder, "end")]
