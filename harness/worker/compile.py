"""Compile a model with its tuning database(s) (several clients' are merged first), or untuned."""

from __future__ import annotations

import os
import shutil
import time

from tvm.s_tir import meta_schedule as ms

from harness.jobs import Artifact, CompileJob, Placement
from harness.layout import MERGED, MODEL
from harness.worker.models import load
from harness.worker.target import grant, make_target


def merge_databases(src_dirs: list[str], out_dir: str) -> int:
    """Copy every tuning record of the JSON databases in `src_dirs` into a new one at `out_dir`."""
    if os.path.exists(out_dir):  # an earlier, interrupted merge
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    out = ms.database.JSONDatabase(work_dir=out_dir)
    n = 0
    for d in src_dirs:
        for rec in ms.database.JSONDatabase(work_dir=d).get_all_tuning_records():
            wl = out.commit_workload(rec.workload.mod)
            out.commit_tuning_record(ms.database.TuningRecord(rec.trace, wl, rec.run_secs, rec.target, rec.args_info))
            n += 1
    return n


def compile_model(place: Placement, model_conf, work_dir: str, database=None) -> Artifact:
    """Compile with `database` (None: an empty one, i.e. default schedules); export model.so."""
    g = grant(place)
    target = make_target(place.platform, g.units, place.device_id)
    model = load(model_conf)
    t0 = time.perf_counter()
    ex = ms.relax_integration.compile_relax(database or ms.database.MemoryDatabase(), model.mod, target, None)
    path = os.path.join(work_dir, MODEL)
    tmp = os.path.join(work_dir, "model.tmp.so")
    ex.export_library(tmp)
    os.replace(tmp, path)
    return Artifact(path, model.entry, time.perf_counter() - t0)


def run(job: CompileJob) -> Artifact:
    os.makedirs(job.work_dir, exist_ok=True)
    dirs = job.database_dirs
    if len(dirs) > 1:
        merged = os.path.join(job.work_dir, MERGED)
        merge_databases(dirs, merged)
        dirs = [merged]
    db = ms.database.JSONDatabase(work_dir=dirs[0]) if dirs else None
    return compile_model(job.place, job.model, job.work_dir, db)
