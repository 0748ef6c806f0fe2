"""Tuning tasks of a model: the fused TIR functions MetaSchedule tunes, with FLOPs and weight.

A listing can save the task modules (TVM JSON) so that tuning jobs load their tasks instead of
loading the model and extracting every task again (`load_saved`).
"""

from __future__ import annotations

import json
import os

import tvm
from tvm import relax
from tvm.relax import pipeline
from tvm.s_tir.analysis import estimate_tir_flops
from tvm.s_tir.meta_schedule import ExtractedTask
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


def save(tasks, infos: list[TaskInfo], path: str) -> None:
    entries = [{"name": i.name, "flops": i.flops, "weight": i.weight, "mod": tvm.ir.save_json(t.dispatched[0])}
               for t, i in zip(tasks, infos)]
    with open(path + ".tmp", "w") as f:
        json.dump(entries, f)
    os.replace(path + ".tmp", path)


def load_saved(path: str, target):
    """(ExtractedTasks, TaskInfos) of the saved tasks, for `target`."""
    with open(path) as f:
        entries = json.load(f)
    tasks, infos = [], []
    for e in entries:
        mod = tvm.ir.load_json(e["mod"])
        tasks.append(ExtractedTask(e["name"], mod, target, [mod], e["weight"]))
        infos.append(TaskInfo(e["name"], e["flops"], e["weight"]))
    return tasks, infos


def run(job: TasksJob) -> TaskList:
    g = grant(job.place)
    tasks, infos = extract(load(job.model).mod, make_target(job.place.platform, g.units, job.place.device_id))
    if job.modules:
        save(tasks, infos, job.modules)
    return TaskList(infos, job.modules)
