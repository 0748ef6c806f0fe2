"""Structured configuration: the typed records a sweep is made from, and their validation.

Hydra composes these (see `harness.sweep`); everything below is plain Python, so the library
can be driven without Hydra by building a `SweepConf` by hand. Every choice is a `StrEnum`, so
OmegaConf refuses a bad value at compose time with the allowed ones listed; harness.validation
checks hand-built configs the same way and holds every range check.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from harness.zoo import ZOO


class Platform(StrEnum):
    cpu = "cpu"
    cuda = "cuda"


class Experiment(StrEnum):
    interdependency = "interdependency"
    tuning_time = "tuning_time"
    throughput = "throughput"
    scaling = "scaling"
    op_interdependency = "op_interdependency"
    fidelity = "fidelity"


class Builder(StrEnum):
    local = "local"  # stock MetaSchedule LocalBuilder: a new worker pool every round
    persistent = "persistent"  # one warm worker pool for the whole run


CostModel = StrEnum("CostModel", {v: v for v in ("xgb", "mlp", "random")})
Search = StrEnum("Search", {v: v for v in ("evolutionary", "replay-trace", "replay-func")})
# gradient, round-robin: MetaSchedule's (both send every task once before collecting any
# result); rolling: round-robin that collects each round before the next (worker.metaschedule)
Scheduler = StrEnum("Scheduler", {v: v for v in ("gradient", "round-robin", "rolling")})
Split = StrEnum("Split", {v: v for v in ("queue", "lpt", "round_robin")})
Mode = StrEnum("Mode", {v: v for v in ("baseline", "slicetune")})
# scaling over GPUs: the same total trial budget (strong) or the same budget per GPU (weak)
Scale = StrEnum("Scale", {v: v for v in ("strong", "weak")})
ModelName = StrEnum("ModelName", {v: v for v in ZOO})
DType = StrEnum("DType", {v: v for v in ("float32", "float16")})
InputKind = StrEnum("InputKind", {v: v for v in ("image", "sequence")})
# vendor reference rows: the same model in PyTorch, eager or torch.compile (cuDNN/cuBLAS/Triton),
# or torch.compile replaying CUDA graphs (mode reduce-overhead: no per-kernel launch cost at batch 1)
Vendor = StrEnum("Vendor", {v: v for v in ("torch_eager", "torch_compile", "torch_cudagraphs")})


class ConfigError(ValueError):
    """A bad value in the configuration, found before any work starts."""


@dataclass
class PlatformConf:
    name: Platform = Platform.cpu
    # CUDA only: which GPU (index as the process sees it) and where the MPS daemon lives.
    device_id: int = 0
    mps_dir: str = "/tmp/slicetune-mps"
    # builder timeout used when the tuner leaves it unset (CUDA builds are slower)
    builder_timeout_s: float = 30.0


@dataclass
class ModelConf:
    name: ModelName = ModelName.tiny_cnn
    batch: int = 1
    path: str | None = None  # ONNX file, for name=onnx
    # name=torch: a constructor called without arguments (random weights, nothing downloaded):
    # torchvision.models.resnet50, transformers.BertModel (from its default config), or module:function
    ctor: str | None = None
    input_kind: InputKind | None = None  # name=torch: None: sequence for transformers, else image
    input_size: int | None = None  # image side or sequence length; None: the model's default
    dtype: DType = DType.float32

    @property
    def label(self) -> str:
        """The model's name in rows, cell ids and titles: the zoo's; onnx.<file name>;
        torch.<constructor name>."""
        if self.name == "onnx" and self.path:
            return "onnx." + _safe(os.path.splitext(os.path.basename(self.path))[0])
        if self.name == "torch" and self.ctor:
            return "torch." + _safe(re.split(r"[.:]", self.ctor)[-1])
        return str(self.name)

    def torch_input(self) -> InputKind:
        if self.input_kind is not None:
            return self.input_kind
        if self.name != "torch":
            return InputKind.sequence if ZOO[self.name].kind == "sequence" else InputKind.image
        return InputKind.sequence if (self.ctor or "").startswith("transformers") else InputKind.image

    def torch_ctor(self) -> str | None:
        """The model's PyTorch constructor: its own (name=torch), the zoo's counterpart, or None."""
        return self.ctor if self.name == "torch" else ZOO[self.name].torch


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", s) or "model"


@dataclass
class TunerConf:
    trials: int = 64
    trials_per_round: int = 16
    max_trials_per_task: int | None = None
    builder: Builder = Builder.persistent
    builder_workers: int = 0  # 0: one per core of the share
    builder_timeout_s: float | None = None  # None: the platform's
    runner_timeout_s: float = 30.0
    cost_model: CostModel = CostModel.xgb
    search: Search = Search.evolutionary
    # evolutionary search effort (MetaSchedule's defaults: 512, 4); smaller is cheaper per round
    population: int = 512
    genetic_iters: int = 4
    # new random schedules a search round needs (besides the best measured), else the task's search
    # ends for good: MetaSchedule's 50 suits its population of 512; with a small population a task
    # whose valid schedules are sparse (a big matmul on cuda) may end after one round: use ~population/10
    init_min_unmeasured: int = 50
    scheduler: Scheduler = Scheduler.gradient
    seed: int = 0


@dataclass
class InferConf:
    warmup: int = 3
    number: int = 10  # runs averaged into one repeat
    repeats: int = 5  # rows written per (tune share, infer share) cell
    min_repeat_ms: int = 0


@dataclass
class SliceTuneConf:
    """tuning_time/scaling: stock MetaSchedule (baseline) against Slice-Tune configurations, each
    a grid point of clients x servers x server share x builder x GPUs, same trial budget."""

    baseline: bool = True
    clients: list[int] = field(default_factory=lambda: [2])
    servers: list[int] = field(default_factory=lambda: [1])
    server_shares: list[float] = field(default_factory=lambda: [0.0])  # 0: 100 / servers per GPU
    builders: list[Builder] = field(default_factory=lambda: [Builder.local, Builder.persistent])
    gpus: list[int] = field(default_factory=lambda: [1])  # servers placed over this many GPUs
    # clients counts clients per GPU (K x GPUs clients, the host's cores split among them)
    clients_per_gpu: bool = False
    # strong: tuner.trials in all; weak: tuner.trials (and its per-task cap) per GPU
    scale: list[Scale] = field(default_factory=lambda: [Scale.strong])
    # after tuning, each task's top k candidates measured again alone on the GPU at the tuning share;
    # the model is compiled from the best by that measurement (Slice-Tune cells only; 0: off; cells -v<k>)
    verify_top_k: int = 5
    # tune only the model's N costliest tasks (FLOPs x weight; the rest keep their defaults); 0: all (cells -t<N>)
    top_tasks: int = 0
    split: Split = Split.queue  # queue: clients take tasks as they go; lpt, round_robin: fixed shards
    # queue: tasks a client holds at once and tunes a round each in turn (1: one task to its end)
    hold: int = 4
    # queue: each client's cost model also learns from the others' measurements (as one process's does)
    shared_cost_model: bool = True
    # the address the pool's tracker and servers listen on; anything but loopback warns: TVM's RPC
    # servers run whatever module they are sent, so only on a trusted network
    bind: str = "127.0.0.1"
    # HOST:PORT of a tracker already running, whose servers (python -m harness.servers serve, on
    # this or other hosts) the clients use instead of starting their own pool; "": our own pool
    tracker: str = ""


@dataclass
class ThroughputConf:
    """throughput: several models tuned one after another (baseline) or all at once, each on
    its own share of the device (slicetune)."""

    models: list[ModelName] = field(default_factory=lambda: [ModelName.tiny_mlp, ModelName.tiny_cnn])
    modes: list[Mode] = field(default_factory=lambda: [Mode.baseline, Mode.slicetune])


@dataclass
class OpsConf:
    """op_interdependency: the model's heaviest tasks (FLOPs x weight), each tuned on its own at
    every tune share, then its best kernel per share measured at every inference share."""

    top: int = 4  # how many tasks
    trials: int = 256  # per task and tune share
    converged_pct: float = 2.0  # converged: the best improved less than this over the last quarter of trials


@dataclass
class SweepConf:
    experiment: Experiment = Experiment.interdependency  # which experiment runs
    name: str | None = None  # names results/<platform>/<name>/ (None: the experiment's name)
    platform: PlatformConf = field(default_factory=PlatformConf)
    model: ModelConf = field(default_factory=ModelConf)
    tuner: TunerConf = field(default_factory=TunerConf)
    infer: InferConf = field(default_factory=InferConf)
    tune_shares: list[float] = field(default_factory=lambda: [100.0])
    infer_shares: list[float] = field(default_factory=lambda: [100.0])
    untuned: bool = True  # also measure the model with default schedules
    # interdependency: also measure the model in PyTorch at every inference share (needs torch)
    vendors: list[Vendor] = field(default_factory=list)
    parallel_tuning: int = 1  # tuning runs side by side, each on its own share (cores split)
    rerun: bool = False  # redo cells that already have results
    # stop tuning after this many seconds of the sweep (at a round's end), and start no compile or
    # measurement after it; the same command continues the stopped runs from their databases
    tune_deadline_s: float | None = None
    # a worker job (task listing, compile, measure) running longer than this is ended and its cell
    # recorded as failed; so is a tuning job that records no round for as long (None: derived
    # from the tuner's time-outs and round size, see tuning_stall_s)
    job_timeout_s: float = 3600.0
    stall_timeout_s: float | None = None
    # tuning processes with our fixes (builder=persistent) stay up across a sweep's cells placed
    # alike: TVM imported and builder workers started once (harness.device.warm)
    reuse_workers: bool = True
    slicetune: SliceTuneConf = field(default_factory=SliceTuneConf)
    throughput: ThroughputConf = field(default_factory=ThroughputConf)
    ops: OpsConf = field(default_factory=OpsConf)
    results_dir: str = "results"
    runs_dir: str = "runs"

    @property
    def dir_name(self) -> str:
        return self.name or str(self.experiment)

    def builder_timeout_s(self) -> float:
        """The tuner's builder timeout, else the platform's."""
        return self.tuner.builder_timeout_s or self.platform.builder_timeout_s

    def tuning_stall_s(self, builder_timeout_s: float) -> float:
        """How long a tuning job may go without finishing a round: a generous multiple of a
        round's worst case (every candidate built and run to its time-out, one at a time)."""
        if self.stall_timeout_s is not None:
            return self.stall_timeout_s
        t = self.tuner
        return 600.0 + 2 * t.trials_per_round * (builder_timeout_s + t.runner_timeout_s)


# settings added after results were first recorded: hashed only when changed, so existing
# cells keep their identity
_LATER_DEFAULTS = {"population": 512, "genetic_iters": 4, "scheduler": "gradient", "init_min_unmeasured": 50}


def tuner_fingerprint(tuner: TunerConf) -> str:
    """Short stable hash of the tuner settings; part of every tuning cell's identity."""
    d = {k: v for k, v in asdict(tuner).items() if _LATER_DEFAULTS.get(k, object()) != v}
    blob = json.dumps(d, sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:8]
