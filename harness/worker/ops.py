"""Operator kernels across shares: each task's best schedule from each tune share's database,
built and timed on this process's share (op_interdependency's measurement)."""

from __future__ import annotations

import tvm
from tvm.driver import build as tvm_build
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

from harness.jobs import OpMeasured, OpsInferJob, OpsInferResult
from harness.worker.intrinsics import only_for
from harness.worker.metaschedule import arguments
from harness.worker.target import grant, make_target, tvm_device
from harness.worker.tasks import load_saved


def best_kernel(db, mod, target):
    """The database's best schedule of `mod`, built; None where it has no valid record."""
    sch = db.query_schedule(mod, target=target, workload_name="main")
    if sch is None:
        return None, None
    built = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(sch.mod)
    return tvm_build(built, target=target), built


def time_us(rt, mod, dev, conf) -> list[float]:
    args = arguments.local(dev, [a.as_json() for a in ArgInfo.from_prim_func(mod["main"])], 1)[0]
    entry = rt.entry_name or "main"
    f = rt[entry]
    for _ in range(conf.warmup):
        f(*args)
    dev.sync()
    timer = rt.time_evaluator(entry, dev, number=conf.number, repeat=conf.repeats, min_repeat_ms=conf.min_repeat_ms)
    return [1e6 * float(r) for r in timer(*args).results]


def run(job: OpsInferJob) -> OpsInferResult:
    g = grant(job.place)
    target = make_target(job.place.platform, g.units, job.place.device_id)
    only_for(target.kind.name)
    dev = tvm_device(job.place.platform, job.place.device_id)
    tasks, _ = load_saved(job.task_modules, target)
    mods = {t.task_name: t.dispatched[0] for t in tasks if t.task_name in set(job.tasks)}
    out, missing = [], []
    for src in job.sources:
        db = ms.database.JSONDatabase(work_dir=src.work_dir)
        for name in job.tasks:
            rt, built = best_kernel(db, mods[name], target)
            if rt is None:
                missing.append(f"{name}@{src.tune_share:g}")
                continue
            out.append(OpMeasured(name, src.tune_share, time_us(rt, built, dev, job.infer)))
    return OpsInferResult(g, tvm.__version__, out, missing)
