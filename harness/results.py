"""Long-form result rows and their CSV files (one row per measurement).

Files live in `results/<platform>/<exp>/`; each row carries the config that made it and the
environment. Writing is atomic (write a temporary file, then rename), so an interrupted sweep
leaves every completed cell's rows intact and no half-written file.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import time
from dataclasses import dataclass

from harness.tables import ResultFileError, check, done_cells, existing, read_rows, write_rows  # noqa: F401 - the file API

# file names under results/<platform>/<exp>/
TUNING = "tuning.csv"  # one row per tuning run
PHASES = "tuning_phases.csv.gz"  # one row per (tuning run, profiler scope)
ROUNDS = "tuning_rounds.csv.gz"  # one row per (tuning run, measured round): CellKey + tune.RoundRecord
TASKS = "tasks.csv.gz"  # one row per (tuning run, task)
INFERENCE = "inference.csv.gz"  # one row per measured repeat
TUNING_TIME = "tuning_time.csv"  # one row per tuning configuration (+exp=tuning_time)
THROUGHPUT = "throughput.csv"  # one row per (set of jobs, job) (+exp=throughput)
CURVES = "tuning_curves.csv.gz"  # one row per (configuration, round end): estimated model latency vs time
PHASE_USE = "phase_use.csv.gz"  # one row per (configuration, phase): client-seconds and CPU-seconds
VERIFY = "verify.csv.gz"  # one row per (configuration, task, top-k candidate): as tuned and measured alone
MEASURES = "measure_context.csv.gz"  # one row per (configuration, client, measured round): what ran beside it
OP_TUNING = "op_tuning.csv"  # one row per (tune share, task) (+exp=op_interdependency)
OP_INFERENCE = "op_inference.csv.gz"  # one row per (task, tune share, inference share, repeat)
FAILURES = "failures.csv"  # one row per cell whose last attempt failed (removed when it succeeds)
TIMELINES = "timelines"  # <cell>.csv.xz: utilisation samples; <cell>.spans.csv.xz: phase spans
TIMELINE_SUFFIXES = (".csv.xz", ".csv.gz", ".csv")  # as written now, then as written before (xz: a third smaller)
ARCHIVE = "archive"  # results/archive/<same path>: superseded rows, kept, not drawn (harness.archive)


def timeline_paths(out_dir: str, cell_id: str, spans: bool = False) -> list[str]:
    """A cell's timeline file as written now, then as older runs wrote it."""
    stem = os.path.join(out_dir, TIMELINES, cell_id + (".spans" if spans else ""))
    return [stem + s for s in TIMELINE_SUFFIXES]


def timeline_file(out_dir: str, cell_id: str, spans: bool = False, written: bool = False) -> str:
    """Where a cell's timeline goes; with `written`, the file an older run wrote if that is the one there."""
    paths = timeline_paths(out_dir, cell_id, spans)
    return next((p for p in paths if os.path.exists(p)), paths[0]) if written else paths[0]


# MetaSchedule profiler scopes -> the phases we report
PHASES_OF_SCOPES = {
    "SendToBuilder": "build",
    "SendToRunner": "measure",
    "JoinRunnerFutures": "measure",
    "MeasureCallback/UpdateCostModel": "cost_model",
}


def phase_of(scope: str) -> str:
    if scope in PHASES_OF_SCOPES:
        return PHASES_OF_SCOPES[scope]
    if scope.startswith(("EvoSearch", "ReplayTrace", "ReplayFunc")):
        return "search"
    return "other"


@dataclass
class Context:
    """Columns shared by every row of a sweep: what made it and where."""

    exp: str
    platform: str
    device: str
    model: str
    batch: int
    trials: int
    trials_per_round: int
    builder: str
    cost_model: str
    search: str
    population: int
    tuner_fp: str
    tvm_version: str
    git_commit: str
    timestamp: str
    host: str = dataclasses.field(default_factory=socket.gethostname)
    # search settings added later (empty in older rows: MetaSchedule's defaults, no per-task cap)
    max_trials_per_task: int | None = None
    init_min_unmeasured: int | None = None
    genetic_iters: int | None = None
    # another sweep ran on the same host meanwhile, on its own GPU and cores (benchmarks/side_by_side.sh
    # says which); empty: this sweep had the host to itself
    side_by_side: str = dataclasses.field(default_factory=lambda: os.environ.get("SLICETUNE_SIDE_BY_SIDE", ""))


@dataclass
class TuneRow:
    cell_id: str
    tune_share: float
    tune_units: int
    unit: str
    trials_done: int
    n_tasks: int
    extract_s: float
    wall_s: float
    compile_s: float
    final_est_ms: float | None
    segments: int = 1  # processes the run took (it continues from its database after a deadline)


@dataclass
class PhaseRow:
    cell_id: str
    tune_share: float
    scope: str
    phase: str  # search | build | measure | cost_model | other | total
    seconds: float


@dataclass
class CellKey:
    """Leading columns of rows whose measurement is a record of another module."""

    cell_id: str
    tune_share: float


@dataclass
class TaskRow:
    cell_id: str
    tune_share: float
    task: str
    flops: float
    weight: int


@dataclass
class InferRow:
    cell_id: str
    tune_cell: str
    tune_share: float | None  # None: the untuned reference
    tune_units: int | None
    infer_share: float
    infer_units: int
    unit: str
    repeat: int
    latency_ms: float
    # tvm: a model compiled by TVM (tuned, or untuned); torch_*: the same model in
    # PyTorch (vendor libraries), tune_cell empty; empty in rows from before vendor rows: tvm
    source: str = "tvm"


@dataclass
class OpTuneRow:
    cell_id: str
    task: str
    flops: float
    weight: int
    tune_share: float
    trials: int  # this task's
    best_us: float | None  # best measured while tuning (on its server)
    gain_last_quarter_pct: float | None  # how much the best improved over the last quarter of its trials
    converged: bool  # that gain under ops.converged_pct
    wall_s: float  # the run's (every task of this share)
    segments: int


@dataclass
class OpInferRow:
    cell_id: str
    tune_cell: str
    task: str
    tune_share: float
    infer_share: float
    infer_units: int
    unit: str
    repeat: int
    latency_us: float


@dataclass
class FailureRow:
    cell_id: str
    reason: str  # the error's first line
    log: str  # where the failing step wrote its output
    timestamp: str


@dataclass
class TuningTimeRow:
    cell_id: str
    mode: str  # baseline | slicetune
    clients: int
    servers: int  # per GPU (0: the baseline's local runner)
    server_share: float  # percent of its GPU per server
    gpus: int
    split: str
    trials_done: int
    valid_trials: int  # measured without error (a run with none is refused)
    n_tasks: int
    wall_s: float  # starting the tuning processes (and pool) -> merged database, all segments
    tune_s: float  # the longest client's tuning proper
    trials_per_s: float  # trials_done / wall_s
    segments: int
    final_latency_ms: float  # median, compiled from the database, on the whole device
    latency_std_ms: float
    infer_units: int
    builder_timeout_s: float | None = None  # the configured one + the builder workers' measured start-up
    # harness.metrics.RunMetrics
    startup_s: float | None = None
    steady_trials_per_s: float | None = None
    cpu_s_per_trial: float | None = None
    gpu_busy_pct: float | None = None
    est_final_ms: float | None = None
    # tuning processes whose first segment ran in a process kept from an earlier cell (its start-up
    # skips the imports and builder warm-up; reuse_workers); empty: rows from before processes were kept
    kept_processes: int | None = None
    scale: str | None = None  # over GPUs: strong (same total budget) or weak (budget per GPU); empty: older rows
    tasks_measured: int | None = None  # tasks with a valid measurement (of n_tasks held); empty: older rows
    verify_s: float | None = None  # the top-k candidates measured again alone (slicetune.verify_top_k)
    held: int | None = None  # tasks a queue client held at once (slicetune.hold, at most tasks // clients)


@dataclass
class Verified:
    """A task's candidate of rank `rank` in its client's database: its time there (measured beside
    the other servers while tuning) and measured again alone at the tuning share."""

    cell_id: str
    task: str
    rank: int
    tuned_us: float | None
    isolated_us: float  # median of the repeats
    chosen: bool  # the fastest of the task's candidates measured alone: the one compiled


@dataclass
class MeasuredOn:
    """Where a configuration's candidates were measured (with harness.metrics.MeasureContext)."""

    cell_id: str
    servers: int  # per GPU, sharing it (0: the baseline's local runner, alone)
    server_share: float  # percent of the GPU per server


@dataclass
class CellRef:
    """The leading column of rows that add a record of harness.metrics to a configuration."""

    cell_id: str


@dataclass
class ThroughputRow:
    cell_id: str
    mode: str  # baseline: one after another; slicetune: all at once, each on 1/jobs of the device
    jobs: int
    models: str  # the set, "+"-joined
    job_share: float
    trials_done: int  # this job
    job_tune_s: float  # this job's extraction + tuning
    wall_s: float  # the whole set, all segments
    trials_per_s: float  # the whole set's trials / wall_s
    segments: int
    final_latency_ms: float  # this job's model, median on the whole device


def git_commit(cwd: str | None = None) -> str:
    """HEAD of the checkout, or SLICETUNE_GIT_COMMIT where the tree travels without .git."""
    if os.environ.get("SLICETUNE_GIT_COMMIT"):
        return os.environ["SLICETUNE_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def flatten(ctx: Context, *parts) -> dict:
    """One CSV row: the context columns, then each record's fields in order."""
    out = dataclasses.asdict(ctx)
    for part in parts:
        out.update(dataclasses.asdict(part))
    return out
