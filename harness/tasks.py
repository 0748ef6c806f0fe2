"""Tuning tasks of a model: the fused TIR functions MetaSchedule tunes, with FLOPs and weight."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TaskInfo:
    name: str
    flops: float
    weight: int


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
