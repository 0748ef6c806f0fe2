"""Tune a model at a share with MetaSchedule, then compile it from the tuning database.

Runs inside a worker process already placed on its share (see harness.proc). Besides the
database, it returns where the time went (MetaSchedule's profiler) and one record per measured
round, so convergence can be plotted.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from harness.config import ModelConf, TunerConf
from harness.share import Grant, Placement
from harness.tasks import TaskInfo

# MetaSchedule profiler scopes -> the phases we report
PHASES = {
    "SendToBuilder": "build",
    "SendToRunner": "measure",
    "JoinRunnerFutures": "measure",
    "MeasureCallback/UpdateCostModel": "cost_model",
}


def phase_of(scope: str) -> str:
    if scope in PHASES:
        return PHASES[scope]
    if scope.startswith("EvoSearch") or scope.startswith("ReplayTrace") or scope.startswith("ReplayFunc"):
        return "search"
    return "other"


# a tuning run's JSON database, as MetaSchedule writes it into the run's work dir
DATABASE_FILES = ("database_tuning_record.json", "database_workload.json")


@dataclass
class RPCTarget:
    """Measure on a server pool's RPC servers (harness.servers) instead of locally."""

    host: str
    port: int
    key: str
    servers: int = 1  # runner workers: one session per server
    session_timeout_s: float = 60.0


@dataclass
class TuneJob:
    place: Placement
    model: ModelConf
    tuner: TunerConf
    work_dir: str
    builder_timeout_s: float  # resolved: tuner's, else the platform's
    search_threads: int = 0  # cuda: search threads (0: all cores); cpu: the share's cores
    tasks: list[str] | None = None  # tune only these tasks (a shard); None: all
    rpc: RPCTarget | None = None  # None: measure with a local runner on this process's share
    compile: bool = True  # also compile the model from the database into work_dir/model.so


@dataclass
class CompileJob:
    """Compile a model: from a finished tuning run's database, or untuned (default schedules)."""

    place: Placement
    model: ModelConf
    work_dir: str
    database_dir: str | None = None  # compile with this tuning database (None: untuned)


@dataclass
class RoundRecord:
    round: int
    task: str
    elapsed_s: float
    trials_done: int
    candidates: int
    valid: int
    round_best_ms: float | None
    est_model_ms: float | None  # sum of weight x best-so-far over tasks; None until all measured


@dataclass
class Artifact:
    path: str
    entry: str
    compile_s: float


@dataclass
class TuneResult:
    grant: Grant
    tvm_version: str
    target: str
    tasks: list[TaskInfo]
    extract_s: float
    wall_s: float
    trials_done: int
    profile: dict[str, float] = field(default_factory=dict)  # profiler scope -> seconds
    rounds: list[RoundRecord] = field(default_factory=list)
    artifact: Artifact | None = None


def _warm_builder_worker() -> None:
    # The default build function imports this on first use: ~15 s of TVMScript parsing that
    # stock LocalBuilder pays again in every fresh pool, i.e. every round.
    import tvm.s_tir.tensor_intrin  # noqa: F401


def make_builder(kind: str, workers: int, timeout_s: float):
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.builder import BuilderResult, LocalBuilder, PyBuilder
    from tvm.s_tir.meta_schedule.builder.local_builder import _serialize_params, _worker_func
    from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

    if kind == "local":
        return LocalBuilder(max_workers=workers, timeout_sec=timeout_s)

    @derived_object
    class PersistentBuilder(PyBuilder):
        """LocalBuilder whose warm worker pool lives as long as the tuning run."""

        def __init__(self):
            super().__init__()
            self.pool = PopenPoolExecutor(max_workers=workers, timeout=timeout_s, initializer=_warm_builder_worker)

        def build(self, build_inputs):
            args = [(None, None, b.mod, b.target, _serialize_params(b.params)) for b in build_inputs]
            out = []
            for r in self.pool.map_with_error_catching(lambda a: _worker_func(*a), args):
                if r.status == StatusKind.COMPLETE:
                    out.append(BuilderResult(r.value, None))
                elif r.status == StatusKind.TIMEOUT:
                    out.append(BuilderResult(None, f"PersistentBuilder: timeout after {timeout_s} s"))
                else:
                    out.append(BuilderResult(None, f"PersistentBuilder: {r.value}"))
            return out

        def shutdown(self):
            self.pool.shutdown()

    return PersistentBuilder()


def _round_logger(names: list[str], weights: list[float], t0: float):
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

    @derived_object
    class RoundLogger(PyMeasureCallback):
        def __init__(self):
            super().__init__()
            self.rounds: list[RoundRecord] = []
            self.best: dict[int, float] = {}
            self.trials = 0

        def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
            ms = [1e3 * sum(float(s) for s in r.run_secs) / len(r.run_secs)
                  for r in runner_results if r.error_msg is None and r.run_secs]
            self.trials += len(measure_candidates)
            if ms:
                self.best[task_id] = min(min(ms), self.best.get(task_id, float("inf")))
            est = None
            if len(self.best) == len(names):
                est = sum(weights[i] * b for i, b in self.best.items())
            self.rounds.append(RoundRecord(
                round=len(self.rounds), task=names[task_id], elapsed_s=time.perf_counter() - t0,
                trials_done=self.trials, candidates=len(measure_candidates), valid=len(ms),
                round_best_ms=min(ms) if ms else None, est_model_ms=est))

    return RoundLogger()


def compile_model(place: Placement, model_conf: ModelConf, work_dir: str, database=None) -> Artifact:
    """Compile with `database` (None: an empty one, i.e. default schedules); export model.so."""
    from tvm.s_tir import meta_schedule as ms

    from harness.models import load
    from harness.target import make_target

    grant = place.grant()
    target = make_target(place.platform, grant.units, place.device_id)
    model = load(model_conf)
    t0 = time.perf_counter()
    ex = ms.relax_integration.compile_relax(database or ms.database.MemoryDatabase(), model.mod, target, None)
    path = os.path.join(work_dir, "model.so")
    tmp = os.path.join(work_dir, "model.tmp.so")
    ex.export_library(tmp)
    os.replace(tmp, path)
    return Artifact(path, model.entry, time.perf_counter() - t0)


def run_compile(job: CompileJob) -> Artifact:
    from tvm.s_tir import meta_schedule as ms

    os.makedirs(job.work_dir, exist_ok=True)
    db = ms.database.JSONDatabase(work_dir=job.database_dir) if job.database_dir else None
    return compile_model(job.place, job.model, job.work_dir, db)


def run(job: TuneJob) -> TuneResult:
    import tvm
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.relax_integration import extracted_tasks_to_tune_contexts
    from tvm.s_tir.meta_schedule.runner.config import EvaluatorConfig

    from harness import tasks as task_mod
    from harness.models import load
    from harness.target import make_target

    os.makedirs(job.work_dir, exist_ok=True)
    for stale in DATABASE_FILES:
        # an interrupted earlier attempt: JSONDatabase would append to it
        if os.path.exists(os.path.join(job.work_dir, stale)):
            os.remove(os.path.join(job.work_dir, stale))
    place = job.place
    grant = place.grant()
    target = make_target(place.platform, grant.units, place.device_id)
    t = job.tuner
    t0 = time.perf_counter()
    model = load(job.model)
    extracted, infos = task_mod.extract(model.mod, target)
    if job.tasks is not None:
        keep = set(job.tasks)
        extracted = [e for e in extracted if e.task_name in keep]
        infos = [i for i in infos if i.name in keep]
    extract_s = time.perf_counter() - t0
    workers = t.builder_workers or (grant.units if place.platform == "cpu" else len(os.sched_getaffinity(0)))
    builder = make_builder(t.builder, workers, job.builder_timeout_s)
    evaluator = EvaluatorConfig(enable_cpu_cache_flush=False)
    if job.rpc is not None:
        rpc = ms.runner.RPCConfig(tracker_host=job.rpc.host, tracker_port=job.rpc.port, tracker_key=job.rpc.key,
                                  session_timeout_sec=job.rpc.session_timeout_s)
        runner = ms.runner.RPCRunner(rpc, evaluator, max_workers=job.rpc.servers)
    else:
        runner = ms.runner.LocalRunner(timeout_sec=t.runner_timeout_s, evaluator_config=evaluator)
    strategy = t.search
    if t.search == "evolutionary":
        strategy = ms.search_strategy.EvolutionarySearch(population_size=t.population, genetic_num_iters=t.genetic_iters)
    contexts, weights = extracted_tasks_to_tune_contexts(
        extracted, job.work_dir, strategy=strategy, seed=t.seed,
        num_threads=grant.units if place.platform == "cpu" else (job.search_threads or "physical"))
    t1 = time.perf_counter()
    logger = _round_logger([c.task_name for c in contexts], weights, t1)
    try:
        with ms.Profiler() as prof:
            database = ms.tune_tasks(
                tasks=contexts, task_weights=weights, work_dir=job.work_dir,
                max_trials_global=t.trials, max_trials_per_task=t.max_trials_per_task,
                num_trials_per_iter=t.trials_per_round, builder=builder, runner=runner,
                cost_model=t.cost_model,
                measure_callbacks=[*ms.measure_callback.MeasureCallback.create("default"), logger])
        wall = time.perf_counter() - t1
    finally:
        if hasattr(builder, "shutdown"):
            builder.shutdown()
    result = TuneResult(
        grant=grant, tvm_version=tvm.__version__, target=str(target), tasks=infos,
        extract_s=extract_s, wall_s=wall, trials_done=logger.trials,
        profile={k: float(v) for k, v in prof.get().items()}, rounds=list(logger.rounds))
    if job.compile:
        result.artifact = compile_model(place, job.model, job.work_dir, database)
    return result
