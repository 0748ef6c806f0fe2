"""The typed records that cross the parent/worker boundary (as JSON, see harness.records): where
a job runs (Share, Placement, Grant), the jobs a worker runs, and what each one returns. No TVM."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from harness.config import InferConf, ModelConf, Platform, TunerConf


@dataclass(frozen=True)
class Share:
    """The slice of a device one process gets: cores on cpu, an MPS percentage on cuda."""

    platform: Platform
    pct: float  # in (0, 100]

    @property
    def label(self) -> str:
        return f"{self.pct:g}%"


@dataclass
class Grant:
    """What a process really got: `units` cores (cpu) or SMs (cuda) of `device`."""

    units: int
    unit: str
    device: str


@dataclass
class Placement:
    """Where a job runs: the platform, its share, and (cuda) the whole device's SM count."""

    platform: Platform
    pct: float = 100.0
    device_id: int = 0
    total_units: int | None = None  # cuda: SMs of the whole GPU, to check the grant


@dataclass
class TaskInfo:
    name: str
    flops: float
    weight: int

    @property
    def cost(self) -> float:
        """Estimated tuning cost, for ordering tasks: FLOPs x weight, at least 1."""
        return max(1.0, self.flops * self.weight)


@dataclass
class TasksJob:
    """List a model's tuning tasks (in a worker: it needs the device's target)."""

    place: Placement
    model: ModelConf
    modules: str | None = None  # also save every task's module here (TVM JSON), for tuning jobs


@dataclass
class TaskList:
    tasks: list[TaskInfo]
    modules: str | None = None  # the saved task modules, if asked for


@dataclass
class RPCTarget:
    """Measure on a server pool's RPC servers (harness.slicetune.servers) instead of locally."""

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
    search_threads: int = 0  # cuda: search threads (0: the physical cores); cpu: the share's cores
    tasks: list[str] | None = None  # tune only these tasks (a shard); None: all
    queue: str | None = None  # take tasks from this Slice-Tune run's shared queue (harness.taskqueue) instead
    client: int = 0  # this client's number in the queue
    hold: int = 1  # queue: tasks this client tunes in turn, a round each
    peers: list[str] = field(default_factory=list)  # other clients' work dirs: the cost model learns from theirs too
    task_modules: str | None = None  # the tasks as listed once for the sweep (no model load, no extraction)
    rpc: RPCTarget | None = None  # None: measure with a local runner on this process's share
    compile: bool = True  # also compile the model from the database into work_dir/model.so
    deadline_s: float | None = None  # stop this long after made_at (at a round's end); the next run continues
    made_at: float = field(default_factory=time.time)  # epoch made: the deadline counts from here, start-up included
    measure_lock: str | None = None  # a lock file held while a batch runs: measurements of several jobs never overlap


@dataclass
class CompileJob:
    """Compile a model with the tuning databases in `database_dirs` (merged when several; none:
    untuned, i.e. default schedules)."""

    place: Placement
    model: ModelConf
    work_dir: str
    database_dirs: list[str] = field(default_factory=list)


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
    at: float | None = None  # epoch at the round's end, so several clients' rounds line up


@dataclass
class Span:
    """One phase of one round, in wall-clock (epoch) seconds, so clients line up."""

    round: int
    phase: str  # search | build | measure | database | cost_model
    start: float
    end: float
    cpu_s: float | None = None  # CPU seconds of the tuning process and its children (builder workers) meanwhile


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
    started_kept: bool = False  # the first segment ran in a process kept from an earlier job (harness.device.warm)
    ended: list[str] = field(default_factory=list)  # tasks whose search ended: not reopened by a later segment


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
    started_kept: bool = False  # see Progress


@dataclass
class InferItem:
    cell_id: str
    artifact: str  # model.so from the compile step
    entry: str


@dataclass
class InferJob:
    """Measure several compiled models in one process on one share (one TVM start-up)."""

    place: Placement
    model: ModelConf
    items: list[InferItem]
    infer: InferConf
    seed: int = 0


@dataclass
class Measured:
    cell_id: str
    latencies_ms: list[float]  # one per repeat


@dataclass
class InferResult:
    grant: Grant
    tvm_version: str
    measured: list[Measured]


@dataclass
class VendorJob:
    """Measure the model in PyTorch (harness.worker.vendor), each mode of `items` (cell id ->
    torch_eager | torch_compile | torch_cudagraphs), in one process on one share."""

    place: Placement
    model: ModelConf
    items: dict[str, str]
    infer: InferConf
    seed: int = 0


@dataclass
class VendorResult:
    grant: Grant
    torch_version: str
    measured: list[Measured]
    failed: dict[str, str] = field(default_factory=dict)  # cell id -> why (the other modes still ran)


@dataclass
class OpSource:
    tune_share: float
    work_dir: str  # its tuning database


@dataclass
class OpsInferJob:
    """Measure each task's `top_k` best kernels from each source's database (harness.worker.ops),
    in one process on one share; with `verified_dir`, write them there with these times."""

    place: Placement
    task_modules: str  # harness.jobs.TaskList.modules
    tasks: list[str]
    sources: list[OpSource]
    infer: InferConf
    seed: int = 0
    top_k: int = 1
    verified_dir: str = ""


@dataclass
class OpMeasured:
    task: str
    tune_share: float
    latencies_us: list[float]  # one per repeat
    rank: int = 0  # in its database (0: the best as tuned)
    tuned_us: float | None = None  # as the database has it (measured while tuning)


@dataclass
class OpsInferResult:
    grant: Grant
    tvm_version: str
    measured: list[OpMeasured]
    missing: list[str] = field(default_factory=list)  # "task@share": no valid record in that database


@dataclass
class ProbeJob:
    """Time the start-up of `workers` fresh builder workers (harness.worker.probe)."""

    workers: int


@dataclass
class ProbeResult:
    workers: int
    startup_s: float


SERVE_LOG_ENV = "SLICETUNE_SERVE_LOG"  # a kept worker's own log (set by harness.device.warm; serve, its builders)

# worker kinds -> (job record, result record); the worker runs them (harness.worker)
KINDS = {
    "probe": (ProbeJob, ProbeResult),
    "tasks": (TasksJob, TaskList),
    "tune": (TuneJob, TuneResult),
    "compile": (CompileJob, Artifact),
    "infer": (InferJob, InferResult),
    "vendor": (VendorJob, VendorResult),
    "ops": (OpsInferJob, OpsInferResult),
}


def needs_torch(kind: str, job) -> bool:
    """Whether a worker running `job` imports torch: vendor rows, and a torch model's jobs that
    build the network (every other process is kept from importing it: harness.device.proc)."""
    if kind == "vendor":
        return True
    model = getattr(job, "model", None)
    return isinstance(model, ModelConf) and model.name == "torch"
