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
from harness.records import read_json, write_json
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
# what a run has done so far, written after every round: a stopped run continues from it
PROGRESS_FILE = "tune.progress.json"


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
    deadline_s: float | None = None  # stop after this long (at a round's end); the next run continues


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
class Span:
    """One phase of one round, in wall-clock (epoch) seconds, so clients line up."""

    round: int
    phase: str  # search | build | measure | database | cost_model
    start: float
    end: float


@dataclass
class Progress:
    """A tuning run so far, over every segment (process) that worked on it."""

    trials_done: int = 0
    wall_s: float = 0.0
    extract_s: float = 0.0
    segments: int = 0
    best_ms: dict[str, float] = field(default_factory=dict)  # task -> best measured so far
    profile: dict[str, float] = field(default_factory=dict)
    rounds: list[RoundRecord] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)


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
    wall_s: float  # tuning proper, over all segments
    trials_done: int
    profile: dict[str, float] = field(default_factory=dict)  # profiler scope -> seconds
    rounds: list[RoundRecord] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    artifact: Artifact | None = None
    complete: bool = True  # False: stopped at its deadline, continues from its database
    segments: int = 1


def _warm_builder_worker() -> None:
    # The default build function imports this on first use: ~15 s of TVMScript parsing that
    # stock LocalBuilder pays again in every fresh pool, i.e. every round.
    import tvm.s_tir.tensor_intrin  # noqa: F401


def _noop() -> None:
    pass


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
            for _ in range(workers):  # start every worker now: they warm up while the tasks are extracted
                self.pool.submit(_noop)

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


class _OutOfTime(Exception):
    pass


class Recorder:
    """Per round: a RoundRecord, the spans of its phases and the progress file; stops the run
    at its deadline. Spans come from wrapping the builder and runner and from measure callbacks
    placed around MetaSchedule's default ones (see `callbacks`). While the scheduler warms up it
    sends a task to the runner and searches the next before collecting the first, so a round's
    marks are keyed by its candidates, not by order."""

    def __init__(self, names: list[str], weights: list[float], progress: Progress, path: str,
                 deadline_s: float | None):
        self.names, self.weights, self.p, self.path = names, weights, progress, path
        self.deadline = None if deadline_s is None else time.perf_counter() + deadline_s
        self.t0, self.wall0 = time.perf_counter(), progress.wall_s
        self.open: dict[int, dict[str, float]] = {}  # round key -> marks
        self.by_artifact: dict[str, int] = {}
        self.cur: dict[str, float] = {}  # marks of the round whose callbacks are running
        self.idle_since = time.time()  # the scheduler's thread: end of its last step
        self.out_of_time = False

    @staticmethod
    def _key(mod) -> int:
        from tvm_ffi import structural_hash

        return int(structural_hash(mod))

    def built(self, inputs, results, start: float) -> None:
        key = self._key(inputs[0].mod) if inputs else 0
        self.open[key] = {"search": self.idle_since, "build": start, "build_end": time.time()}
        self.by_artifact.update({r.artifact_path: key for r in results if r.artifact_path})
        self.idle_since = time.time()

    def sent(self, inputs, start: float) -> None:
        key = self.by_artifact.get(inputs[0].artifact_path) if inputs else None
        if key in self.open:
            self.open[key]["measure"] = start
        self.idle_since = time.time()

    def joined(self, candidates) -> None:
        now = time.time()
        self.cur = self.open.pop(self._key(candidates[0].sch.mod), {}) if candidates else {}
        self.cur["joined"] = now

    def mark(self, what: str) -> None:
        self.cur[what] = time.time()

    def end_round(self, task_id: int, candidates: int, runner_results) -> None:
        p, m, now = self.p, self.cur, time.time()
        ms = [1e3 * sum(float(s) for s in r.run_secs) / len(r.run_secs)
              for r in runner_results if r.error_msg is None and r.run_secs]
        name = self.names[task_id]
        p.trials_done += candidates
        if ms:
            p.best_ms[name] = min(min(ms), p.best_ms.get(name, float("inf")))
        est = None
        if all(n in p.best_ms for n in self.names):
            est = sum(w * p.best_ms[n] for n, w in zip(self.names, self.weights))
        i = len(p.rounds)
        p.wall_s = self.wall0 + time.perf_counter() - self.t0
        p.rounds.append(RoundRecord(
            round=i, task=name, elapsed_s=p.wall_s, trials_done=p.trials_done, candidates=candidates,
            valid=len(ms), round_best_ms=min(ms) if ms else None, est_model_ms=est))
        edges = [("search", "search", "build"), ("build", "build", "build_end"), ("measure", "measure", "joined"),
                 ("database", "joined", "cm_start"), ("cost_model", "cm_start", None)]
        p.spans += [Span(i, ph, m[a], m[b] if b else now) for ph, a, b in edges if a in m and (b is None or b in m)]
        self.cur, self.idle_since = {}, now
        write_json(self.path, p)
        if self.deadline is not None and time.perf_counter() > self.deadline:
            self.out_of_time = True
            raise _OutOfTime("tuning deadline reached")  # arrives as a RuntimeError through TVM

    def wrap(self, builder, runner):
        from tvm.ir.utils import derived_object
        from tvm.s_tir.meta_schedule.builder import PyBuilder
        from tvm.s_tir.meta_schedule.runner import PyRunner

        rec = self

        @derived_object
        class TimedBuilder(PyBuilder):
            def __init__(self):
                super().__init__()
                self.inner = builder

            def build(self, build_inputs):
                start = time.time()
                results = self.inner.build(build_inputs)
                rec.built(build_inputs, results, start)
                return results

        @derived_object
        class TimedRunner(PyRunner):
            def __init__(self):
                super().__init__()
                self.inner = runner

            def run(self, runner_inputs):
                start = time.time()
                futures = self.inner.run(runner_inputs)
                rec.sent(runner_inputs, start)
                return futures

        return TimedBuilder(), TimedRunner()

    def callbacks(self) -> list:
        from tvm.ir.utils import derived_object
        from tvm.s_tir.meta_schedule import measure_callback as mc

        rec = self

        @derived_object
        class Joined(mc.PyMeasureCallback):
            def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
                rec.joined(measure_candidates)

        @derived_object
        class CostModelStart(mc.PyMeasureCallback):
            def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
                rec.mark("cm_start")

        @derived_object
        class EndRound(mc.PyMeasureCallback):
            def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
                rec.end_round(task_id, len(measure_candidates), runner_results)

        # MetaSchedule's "default" callbacks, in their order, with marks between
        return [Joined(), mc.AddToDatabase(), mc.RemoveBuildArtifact(), CostModelStart(),
                mc.UpdateCostModel(), EndRound()]


def make_scheduler(kind: str, after: int = -1):
    """MetaSchedule's scheduler `kind`, or ours ("rolling", starting after task `after`: a
    continued run picks up where the last segment stopped)."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.task_scheduler import PyTaskScheduler

    if kind != "rolling":
        return kind

    @derived_object
    class Rolling(PyTaskScheduler):
        """Round-robin that collects a task's results before picking the next task, so every
        round reaches the database, the progress file and the deadline check at once."""

        def __init__(self):
            super().__init__()
            self.last, self.running = after, False

        def next_task_id(self) -> int:
            tasks = self._outer().tasks_
            if self.running and not tasks[self.last].is_terminated:
                self.join_running_task(self.last)
            self.running = True
            for k in range(1, len(tasks) + 1):
                i = (self.last + k) % len(tasks)
                if not tasks[i].is_terminated:
                    self.last = i
                    return i
            return -1

    return Rolling()


def _last_task(progress: Progress, contexts) -> int:
    names = [c.task_name for c in contexts]
    last = progress.rounds[-1].task if progress.rounds else None
    return names.index(last) if last in names else -1


def finished(work_dir: str, trials: int) -> TuneResult | None:
    """The result a tuning job left in `work_dir` if it completed its `trials` (see harness.proc:
    a job logging to work_dir/tune.log writes work_dir/tune.result.json)."""
    path = os.path.join(work_dir, "tune.result.json")
    if not os.path.exists(path):
        return None
    res = read_json(path, TuneResult)
    return res if res.complete and res.trials_done >= trials else None


def reset(work_dir: str) -> None:
    """Drop a tuning run's database and progress: the next run in `work_dir` starts over."""
    for name in (*DATABASE_FILES, PROGRESS_FILE):
        if os.path.exists(os.path.join(work_dir, name)):
            os.remove(os.path.join(work_dir, name))


def load_progress(work_dir: str) -> Progress:
    """The progress of an earlier segment whose database is still there; else a fresh start
    (a database without progress is from an attempt that never finished a round: dropped)."""
    path = os.path.join(work_dir, PROGRESS_FILE)
    if os.path.exists(path) and all(os.path.exists(os.path.join(work_dir, f)) for f in DATABASE_FILES):
        return read_json(path, Progress)
    reset(work_dir)
    return Progress()


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
    from harness.target import make_target

    os.makedirs(job.work_dir, exist_ok=True)
    progress = load_progress(job.work_dir)
    place = job.place
    grant = place.grant()
    target = make_target(place.platform, grant.units, place.device_id)
    t = job.tuner
    workers = t.builder_workers or (grant.units if place.platform == "cpu" else len(os.sched_getaffinity(0)))
    builder = make_builder(t.builder, workers, job.builder_timeout_s)
    try:
        return _tune(job, progress, grant, target, builder)
    finally:
        if hasattr(builder, "shutdown"):
            builder.shutdown()


def _tune(job: TuneJob, progress: Progress, grant, target, builder) -> TuneResult:
    import tvm
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.relax_integration import extracted_tasks_to_tune_contexts
    from tvm.s_tir.meta_schedule.runner.config import EvaluatorConfig

    from harness import tasks as task_mod
    from harness.models import load

    t, place = job.tuner, job.place
    t0 = time.perf_counter()
    model = load(job.model)
    extracted, infos = task_mod.extract(model.mod, target)
    if job.tasks is not None:
        keep = set(job.tasks)
        extracted = [e for e in extracted if e.task_name in keep]
        infos = [i for i in infos if i.name in keep]
    progress.extract_s += time.perf_counter() - t0
    progress.segments += 1
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
        extracted, job.work_dir, strategy=strategy, seed=t.seed + progress.segments - 1,  # a new draw per segment
        num_threads=grant.units if place.platform == "cpu" else (job.search_threads or "physical"))
    rec = Recorder([c.task_name for c in contexts], weights, progress,
                   os.path.join(job.work_dir, PROGRESS_FILE), job.deadline_s)
    builder, runner = rec.wrap(builder, runner)
    remaining = t.trials - progress.trials_done
    prof = ms.Profiler()
    try:
        if remaining > 0:
            with prof:
                ms.tune_tasks(
                    tasks=contexts, task_weights=weights, work_dir=job.work_dir,
                    max_trials_global=remaining, max_trials_per_task=t.max_trials_per_task,
                    num_trials_per_iter=t.trials_per_round, builder=builder, runner=runner,
                    cost_model=t.cost_model, measure_callbacks=rec.callbacks(),
                    task_scheduler=make_scheduler(t.scheduler, _last_task(progress, contexts)))
    except RuntimeError:
        if not rec.out_of_time:
            raise
    profile = {k: float(v) for k, v in prof.get().items()} if remaining > 0 else {}
    for k, v in profile.items():
        progress.profile[k] = progress.profile.get(k, 0.0) + v
    write_json(os.path.join(job.work_dir, PROGRESS_FILE), progress)
    result = TuneResult(
        grant=grant, tvm_version=tvm.__version__, target=str(target), tasks=infos,
        extract_s=progress.extract_s, wall_s=progress.wall_s, trials_done=progress.trials_done,
        profile=dict(progress.profile), rounds=list(progress.rounds), spans=list(progress.spans),
        complete=not rec.out_of_time, segments=progress.segments)
    if job.compile and result.complete:
        db = ms.database.JSONDatabase(work_dir=job.work_dir)
        result.artifact = compile_model(place, job.model, job.work_dir, db)
    return result
