"""Operator kernels across shares: each task's best schedule (or top k) from each tune share's
database, built and timed on this process's share (op_interdependency's measurement; a Slice-Tune
run's verification, which keeps the top k with these times in a database of their own)."""

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


def _built(mod, target):
    built = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm_build(built, target=target), built


def top_kernels(db, mod, k: int):
    """The database's `k` best valid records of `mod` (fastest first); none where it has no workload."""
    return db.get_top_k(db.commit_workload(mod), k) if db.has_workload(mod) else []


def _mean_us(rec) -> float | None:
    secs = [float(s) for s in rec.run_secs or []]
    return 1e6 * sum(secs) / len(secs) if secs else None


def _measured(db, mod, name, src, job, target, dev, out):
    """`name`'s top-k kernels from `db`, each timed here (and kept in `out`, if any)."""
    got = []
    for rank, rec in enumerate(top_kernels(db, mod, job.top_k)):
        rt, built = _built(rec.as_measure_candidate().sch.mod, target)
        times = time_us(rt, built, dev, job.infer)
        got.append(OpMeasured(name, src.tune_share, times, rank, _mean_us(rec)))
        if out is not None:
            out.commit_tuning_record(ms.database.TuningRecord(
                rec.trace, out.commit_workload(mod), [t / 1e6 for t in times], rec.target, rec.args_info))
    return got


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
    verified = ms.database.JSONDatabase(work_dir=job.verified_dir) if job.verified_dir else None
    out, missing = [], []
    for src in job.sources:
        db = ms.database.JSONDatabase(work_dir=src.work_dir)
        for name in job.tasks:
            got = _measured(db, mods[name], name, src, job, target, dev, verified)
            out += got
            if not got:
                missing.append(f"{name}@{src.tune_share:g}")
    return OpsInferResult(g, tvm.__version__, out, missing)
