"""Tuning tasks of a model: the fused TIR functions MetaSchedule tunes, with FLOPs and weight."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import ModelConf
from harness.share import Placement


@dataclass
class TaskInfo:
    name: str
    flops: float
    weight: int


@dataclass
class TasksJob:
    """List a model's tuning tasks (in a worker: it needs the device's target)."""

    place: Placement
    model: ModelConf


@dataclass
class TaskList:
    tasks: list[TaskInfo]


def fuse(mod, target):
    """Relax -> fused TIR, the same passes `compile_relax` runs before applying a database."""
    import tvm
    from tvm import relax
    from tvm.relax import pipeline

    try:
        dispatch = list(pipeline.library_dispatch_passes(target))
    except (ValueError, AttributeError):
        dispatch = []
    seq = tvm.transform.Sequential([
        *dispatch,
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ])
    with target, tvm.transform.PassContext(opt_level=3):
        return seq(mod)


def extract(mod, target):
    """Return (MetaSchedule ExtractedTasks, TaskInfo per task), in the same order."""
    from tvm.s_tir.analysis import estimate_tir_flops
    from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

    tasks = extract_tasks(fuse(mod, target), target)
    infos = [TaskInfo(t.task_name, float(estimate_tir_flops(t.dispatched[0])), int(t.weight)) for t in tasks]
    return tasks, infos


def run(job: TasksJob) -> TaskList:
    from harness.models import load
    from harness.target import make_target

    grant = job.place.grant()
    target = make_target(job.place.platform, grant.units, job.place.device_id)
    return TaskList(extract(load(job.model).mod, target)[1])
