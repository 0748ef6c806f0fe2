"""Operator kernels across shares: each task's best schedule (or top k) from each tune share's
database, built and timed on this process's share (op_interdependency's measurement; a Slice-Tune
run's verification, which keeps the top k with these times in a database of their own)."""

from __future__ import annotations

import os
import shutil
import statistics

import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.meta_schedule.builder import BuilderInput
from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

from harness.jobs import OpMeasured, OpsInferJob, OpsInferResult
from harness.worker.intrinsics import only_for
from harness.worker.metaschedule import arguments
from harness.worker.metaschedule import builder as builders
from harness.worker.target import grant, make_target, tvm_device
from harness.worker.tasks import load_saved

BUILD_TIMEOUT_S = 300.0  # one kernel that was built while tuning


def build_all(mods, target, workers: int) -> list[str]:
    """Every kernel built at once by a warm worker pool, as tuning builds them (one at a time,
    resnet50's 128 verified kernels took ~200 s); the exported artifacts' paths, in order."""
    b = builders.PersistentBuilder(workers, BUILD_TIMEOUT_S, target)
    try:
        results = b.build([BuilderInput(m, target) for m in mods])
    finally:
        b.shutdown()
    bad = [(i, r.error_msg) for i, r in enumerate(results) if r.error_msg]
    if bad:
        for r in results:
            _remove(r.artifact_path)
        raise RuntimeError(f"{len(bad)} of {len(mods)} kernels failed to build; the first (#{bad[0][0]}): {bad[0][1]}")
    return [r.artifact_path for r in results]


def _remove(artifact: str | None) -> None:
    if artifact:
        shutil.rmtree(os.path.dirname(artifact), ignore_errors=True)


def top_kernels(db, mod, k: int):
    """The database's `k` best valid records of `mod` (fastest first); none where it has no workload."""
    return db.get_top_k(db.commit_workload(mod), k) if db.has_workload(mod) else []


def _mean_us(rec) -> float | None:
    secs = [float(s) for s in rec.run_secs or []]
    return 1e6 * sum(secs) / len(secs) if secs else None


def _measure(picked, target, dev, job, workers, out):
    """`picked` [(task, its module, source, rank, record)]: built together, then each timed here
    alone (and kept in `out`, if any)."""
    kernels = [rec.as_measure_candidate().sch.mod for *_, rec in picked]
    artifacts = build_all(kernels, target, workers)
    got = []
    try:
        for (name, mod, src, rank, rec), kernel, path in zip(picked, kernels, artifacts):
            times = time_us(tvm.runtime.load_module(path), RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(
                kernel), dev, job.infer)
            got.append(OpMeasured(name, src.tune_share, times, rank, _mean_us(rec)))
            if out is not None:  # ranked by the median alone, the figure the verify rows report
                out.commit_tuning_record(ms.database.TuningRecord(
                    rec.trace, out.commit_workload(mod), [statistics.median(times) / 1e6], rec.target, rec.args_info))
    finally:
        for path in artifacts:
            _remove(path)
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
    picked, missing = [], []
    for src in job.sources:
        db = ms.database.JSONDatabase(work_dir=src.work_dir)
        for name in job.tasks:
            recs = top_kernels(db, mods[name], job.top_k)
            picked += [(name, mods[name], src, rank, rec) for rank, rec in enumerate(recs)]
            if not recs:
                missing.append(f"{name}@{src.tune_share:g}")
    workers = builders.default_workers(job.place.platform, g.units)
    out = _measure(picked, target, dev, job, workers, verified) if picked else []
    return OpsInferResult(g, tvm.__version__, out, missing)
