"""Tuning tasks of a model: the fused TIR functions MetaSchedule tunes, with FLOPs and weight."""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax import pipeline
from tvm.s_tir.analysis import estimate_tir_flops
from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

from harness.jobs import TaskInfo, TaskList, TasksJob
from harness.worker.models import load
from harness.worker.target import grant, make_target


def fuse(mod, target):
    """Relax -> fused TIR, the same passes `compile_relax` runs before applying a database."""
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
    tasks = extract_tasks(fuse(mod, target), target)
    infos = [TaskInfo(t.task_name, float(estimate_tir_flops(t.dispatched[0])), int(t.weight)) for t in tasks]
    return tasks, infos


def run(job: TasksJob) -> TaskList:
    g = grant(job.place)
    return TaskList(extract(load(job.model).mod, make_target(job.place.platform, g.units, job.place.device_id))[1])
