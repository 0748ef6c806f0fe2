"""Tune a model at a share with MetaSchedule (and compile it from the tuning database).

Runs inside a worker process already placed on its share (see harness.device.proc). Besides the
database, it returns where the time went (MetaSchedule's profiler) and one record per measured
round, so convergence can be plotted. A run stopped at its deadline continues from its
database and progress file in the next process (a new segment).
"""

from __future__ import annotations

import os
import time

import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.relax_integration import extracted_tasks_to_tune_contexts
from tvm.s_tir.meta_schedule.runner.config import EvaluatorConfig

from harness.jobs import Progress, TuneJob, TuneResult
from harness.layout import PROGRESS, has_database, reset
from harness.records import read_json, write_json
from harness.taskqueue import TaskQueue
from harness.worker import compile as compile_step
from harness.worker import serve
from harness.worker.intrinsics import only_for
from harness.worker.metaschedule import arguments
from harness.worker.metaschedule import builder as builders
from harness.worker.metaschedule import callbacks, scheduler, shared
from harness.worker.metaschedule.probes import Exclusive, TimedBuilder, TimedRunner
from harness.worker.metaschedule.recorder import Recorder
from harness.worker.models import load
from harness.worker.target import grant, make_target
from harness.worker.tasks import extract, load_saved



def load_progress(work_dir: str) -> Progress:
    """The progress of an earlier segment whose database is still there; else a fresh start
    (a database without progress is from an attempt that never finished a round: dropped)."""
    path = os.path.join(work_dir, PROGRESS)
    if os.path.exists(path) and has_database(work_dir):
        return read_json(path, Progress)
    reset(work_dir)
    return Progress()


def _last_task(progress: Progress, contexts) -> int:
    names = [c.task_name for c in contexts]
    last = progress.rounds[-1].task if progress.rounds else None
    return names.index(last) if last in names else -1


def _runner(job: TuneJob):
    evaluator = EvaluatorConfig(enable_cpu_cache_flush=False)
    if job.rpc is None:
        return ms.runner.LocalRunner(timeout_sec=job.tuner.runner_timeout_s, evaluator_config=evaluator,
                                     f_alloc_argument=arguments.local)
    rpc = ms.runner.RPCConfig(tracker_host=job.rpc.host, tracker_port=job.rpc.port, tracker_key=job.rpc.key,
                              session_timeout_sec=job.rpc.session_timeout_s)
    return ms.runner.RPCRunner(rpc, evaluator, max_workers=job.rpc.servers, f_alloc_argument=arguments.rpc)


def _contexts(job: TuneJob, progress: Progress, target, units: int):
    """The tune contexts and weights of the job's tasks (a shard's only, when it names them)."""
    t0 = time.perf_counter()
    if job.task_modules:  # listed once for the sweep
        extracted, infos = load_saved(job.task_modules, target)
    else:
        extracted, infos = extract(load(job.model).mod, target)
    if job.tasks is not None:
        keep = set(job.tasks)
        extracted = [e for e in extracted if e.task_name in keep]
        infos = [i for i in infos if i.name in keep]
    progress.extract_s += time.perf_counter() - t0
    progress.segments += 1
    t = job.tuner
    strategy = str(t.search)
    if t.search == "evolutionary":
        strategy = ms.search_strategy.EvolutionarySearch(population_size=t.population,
                                                         genetic_num_iters=t.genetic_iters,
                                                         init_min_unmeasured=t.init_min_unmeasured)
    threads = units if job.place.platform == "cpu" else (job.search_threads or "physical")
    contexts, weights = extracted_tasks_to_tune_contexts(
        extracted, job.work_dir, strategy=strategy, seed=t.seed + progress.segments - 1,  # a new draw per segment
        num_threads=threads)
    return contexts, weights, infos


def _scheduler(job: TuneJob, progress: Progress, contexts, rec: Recorder):
    if job.queue:
        return scheduler.Queued(TaskQueue(job.queue), job.client, rec.names, rec, job.hold)
    return scheduler.create(job.tuner.scheduler, rec.names, rec, _last_task(progress, contexts),
                            job.tuner.max_trials_per_task)


def _cost_model(job: TuneJob, contexts):
    """MetaSchedule's cost model by name; for a client with peers, one that learns from theirs too."""
    kind = str(job.tuner.cost_model)
    if not job.peers or kind != "xgb":
        return kind
    inner = ms.cost_model.CostModel.create(kind, num_tuning_cores=contexts[0].num_threads, tree_method="auto")
    return shared.Shared(inner, job.peers, contexts)


def _search(job: TuneJob, progress: Progress, contexts, weights, builder) -> Recorder:
    """Run MetaSchedule on the trials left; returns the recorder (out_of_time: paused)."""
    t = job.tuner
    left = None if job.deadline_s is None else job.deadline_s - (time.time() - job.made_at)
    rec = Recorder([c.task_name for c in contexts], weights, progress, os.path.join(job.work_dir, PROGRESS), left)
    remaining = t.trials - progress.trials_done
    if remaining <= 0:
        return rec
    prof, model, runner = ms.Profiler(), _cost_model(job, contexts), _runner(job)
    exclusive = Exclusive(job.measure_lock) if job.measure_lock else None
    try:
        with prof:
            ms.tune_tasks(
                tasks=contexts, task_weights=weights, work_dir=job.work_dir,
                max_trials_global=remaining, max_trials_per_task=t.max_trials_per_task,
                num_trials_per_iter=t.trials_per_round, builder=TimedBuilder(builder, rec),
                runner=TimedRunner(runner, rec, exclusive), cost_model=model,
                measure_callbacks=callbacks.create(rec, exclusive),
                task_scheduler=_scheduler(job, progress, contexts, rec))
    except RuntimeError:
        if not rec.out_of_time:
            raise
    finally:  # its workers now, not at some later garbage collection (a kept process runs more jobs)
        runner.pool.shutdown(wait=False)
        if exclusive is not None:
            exclusive.release(all_batches=True)
    if isinstance(model, shared.Shared):
        print(f"cost model: learned from {model.learned} records of the other clients", flush=True)
    for k, v in prof.get().items():
        progress.profile[k] = progress.profile.get(k, 0.0) + float(v)
    return rec


def run(job: TuneJob) -> TuneResult:
    os.makedirs(job.work_dir, exist_ok=True)
    progress = load_progress(job.work_dir)
    if progress.segments == 0:
        progress.started_kept = serve.kept()
    g = grant(job.place)
    target = make_target(job.place.platform, g.units, job.place.device_id)
    t = job.tuner
    workers = t.builder_workers or builders.default_workers(job.place.platform, g.units)
    if t.builder == "persistent":  # our fixes: only the target's tensor intrinsics (stock imports all)
        only_for(target.kind.name)
    builder = builders.create(t.builder, workers, job.builder_timeout_s, target)
    try:
        contexts, weights, infos = _contexts(job, progress, target, g.units)
        rec = _search(job, progress, contexts, weights, builder)
    finally:
        builders.release(builder)
    write_json(os.path.join(job.work_dir, PROGRESS), progress)
    if job.queue:  # the tasks this client took
        held = {e.name for e in TaskQueue(job.queue).held(job.client)}
        infos = [i for i in infos if i.name in held]
    result = TuneResult(
        grant=g, tvm_version=tvm.__version__, target=str(target), tasks=infos,
        extract_s=progress.extract_s, wall_s=progress.wall_s, trials_done=progress.trials_done,
        profile=dict(progress.profile), rounds=list(progress.rounds), spans=list(progress.spans),
        complete=not rec.out_of_time, segments=progress.segments, started_kept=progress.started_kept)
    if job.compile and result.complete:
        db = ms.database.JSONDatabase(work_dir=job.work_dir)
        result.artifact = compile_step.compile_model(job.place, job.model, job.work_dir, db)
    return result
