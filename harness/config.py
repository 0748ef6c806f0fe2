"""Structured configuration: the typed records a sweep is made from, and their validation.

Hydra composes these (see `harness.sweep`); everything below is plain Python, so the library
can be driven without Hydra by building a `SweepConf` by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

PLATFORMS = ("cpu", "cuda")
KINDS = ("interdependency", "tuning_time", "throughput")
BUILDERS = ("local", "persistent")
COST_MODELS = ("xgb", "mlp", "random")
SEARCH_STRATEGIES = ("evolutionary", "replay-trace", "replay-func")
SCHEDULERS = ("gradient", "round-robin", "rolling")


class ConfigError(ValueError):
    """A bad value in the configuration, found before any work starts."""


@dataclass
class PlatformConf:
    name: str = "cpu"
    # CUDA only: which GPU (index as the process sees it) and where the MPS daemon lives.
    device_id: int = 0
    mps_dir: str = "/tmp/slicetune-mps"
    # builder timeout used when the tuner leaves it unset (CUDA builds are slower)
    builder_timeout_s: float = 30.0


@dataclass
class ModelConf:
    name: str = "tiny_cnn"
    batch: int = 1
    # ONNX file, for name=onnx
    path: str | None = None
    # image side or sequence length; None takes the model's own default
    input_size: int | None = None
    dtype: str = "float32"


@dataclass
class TunerConf:
    trials: int = 64
    trials_per_round: int = 16
    max_trials_per_task: int | None = None
    # local: stock MetaSchedule LocalBuilder (new worker pool every round);
    # persistent: one warm worker pool for the whole run (see harness.tune)
    builder: str = "persistent"
    builder_workers: int = 0  # 0: one per core of the share
    builder_timeout_s: float | None = None  # None: the platform's
    runner_timeout_s: float = 30.0
    cost_model: str = "xgb"
    search: str = "evolutionary"
    # evolutionary search effort (MetaSchedule's defaults: 512, 4); smaller is cheaper per round
    population: int = 512
    genetic_iters: int = 4
    # gradient, round-robin: MetaSchedule's (both send every task once before collecting any
    # result, so nothing reaches the database, or a deadline, for the first len(tasks) rounds);
    # rolling: round-robin that collects each round's results before the next (harness.tune)
    scheduler: str = "gradient"
    seed: int = 0


@dataclass
class InferConf:
    warmup: int = 3
    number: int = 10  # runs averaged into one repeat
    repeats: int = 5  # rows written per (tune share, infer share) cell
    min_repeat_ms: int = 0


@dataclass
class SliceTuneConf:
    """+exp=tuning_time: stock MetaSchedule (baseline) against Slice-Tune configurations, each
    a grid point of clients x servers x server share x builder x GPUs, same trial budget."""

    baseline: bool = True
    clients: list[int] = field(default_factory=lambda: [2])
    servers: list[int] = field(default_factory=lambda: [1])
    server_shares: list[float] = field(default_factory=lambda: [0.0])  # 0: 100 / servers per GPU
    # local: stock LocalBuilder (the paper's mechanism alone); persistent: with our fix
    builders: list[str] = field(default_factory=lambda: ["local", "persistent"])
    gpus: list[int] = field(default_factory=lambda: [1])  # servers placed over this many GPUs
    split: str = "lpt"


@dataclass
class ThroughputConf:
    """+exp=throughput: several models tuned one after another (baseline) or all at once, each
    on its own share of the device (slicetune)."""

    models: list[str] = field(default_factory=lambda: ["tiny_mlp", "tiny_cnn"])
    modes: list[str] = field(default_factory=lambda: ["baseline", "slicetune"])


@dataclass
class SweepConf:
    experiment: str = "smoke"  # names results/<platform>/<experiment>/
    kind: str = "interdependency"  # which experiment runs: one of KINDS
    platform: PlatformConf = field(default_factory=PlatformConf)
    model: ModelConf = field(default_factory=ModelConf)
    tuner: TunerConf = field(default_factory=TunerConf)
    infer: InferConf = field(default_factory=InferConf)
    tune_shares: list[float] = field(default_factory=lambda: [100.0])
    infer_shares: list[float] = field(default_factory=lambda: [100.0])
    untuned: bool = True  # also measure the model with default schedules
    parallel_tuning: int = 1  # tuning runs side by side, each on its own share (cores split)
    rerun: bool = False  # redo cells that already have results
    # stop tuning after this many seconds of the sweep (at a round's end); the same command
    # continues the stopped runs from their databases
    tune_deadline_s: float | None = None
    slicetune: SliceTuneConf = field(default_factory=SliceTuneConf)
    throughput: ThroughputConf = field(default_factory=ThroughputConf)
    results_dir: str = "results"
    runs_dir: str = "runs"


# settings added after results were first recorded: hashed only when changed, so existing
# cells keep their identity
_LATER_DEFAULTS = {"population": 512, "genetic_iters": 4, "scheduler": "gradient"}


def tuner_fingerprint(tuner: TunerConf) -> str:
    """Short stable hash of the tuner settings; part of every tuning cell's identity."""
    d = {k: v for k, v in asdict(tuner).items() if _LATER_DEFAULTS.get(k, object()) != v}
    blob = json.dumps(d, sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:8]


def _one_of(what: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{what}={value!r} is not allowed; choose one of: {', '.join(allowed)}")


def _positive(what: str, value, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{what}={value!r} is not allowed; it must be a number {bound}")


def validate(cfg: SweepConf) -> None:
    """Raise ConfigError naming the first bad value; touches nothing on disk or device."""
    from harness.models import ZOO  # light import: no TVM

    _one_of("kind", cfg.kind, KINDS)
    _one_of("platform", cfg.platform.name, PLATFORMS)
    _one_of("model", cfg.model.name, sorted(ZOO))
    _positive("model.batch", cfg.model.batch)
    if cfg.model.input_size is not None:
        _positive("model.input_size", cfg.model.input_size)
    if cfg.model.name == "onnx":
        p = cfg.model.path
        if not p:
            raise ConfigError("model=onnx needs model.path=<file.onnx>")
        if not os.path.isfile(p) or not os.access(p, os.R_OK):
            raise ConfigError(f"model.path={p!r} is not a readable file")
    t = cfg.tuner
    _positive("tuner.trials", t.trials)
    _positive("tuner.trials_per_round", t.trials_per_round)
    if t.max_trials_per_task is not None:
        _positive("tuner.max_trials_per_task", t.max_trials_per_task)
    _positive("tuner.builder_workers", t.builder_workers, allow_zero=True)
    if t.builder_timeout_s is not None:
        _positive("tuner.builder_timeout_s", t.builder_timeout_s)
    _positive("tuner.runner_timeout_s", t.runner_timeout_s)
    _one_of("tuner.builder", t.builder, BUILDERS)
    _one_of("tuner.cost_model", t.cost_model, COST_MODELS)
    _one_of("tuner.search", t.search, SEARCH_STRATEGIES)
    _one_of("tuner.scheduler", t.scheduler, SCHEDULERS)
    _positive("tuner.population", t.population)
    _positive("tuner.genetic_iters", t.genetic_iters)
    _positive("parallel_tuning", cfg.parallel_tuning)
    if cfg.tune_deadline_s is not None:
        _positive("tune_deadline_s", cfg.tune_deadline_s)
    st = cfg.slicetune
    for what, values in (("slicetune.clients", st.clients), ("slicetune.servers", st.servers),
                         ("slicetune.gpus", st.gpus)):
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{what} has {v!r}; each must be an integer >= 1")
    for v in st.server_shares:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100:
            raise ConfigError(f"slicetune.server_shares has {v!r}; a share is a percentage in (0, 100], "
                              "or 0 for 100 / servers")
    for b in st.builders:
        _one_of("slicetune.builders entry", b, BUILDERS)
    from harness.shard import SPLITS

    _one_of("slicetune.split", st.split, SPLITS)
    if cfg.kind == "throughput":
        if not cfg.throughput.models:
            raise ConfigError("throughput.models is empty; give at least one model")
        for m in cfg.throughput.models:
            _one_of("throughput.models entry", m, sorted(k for k in ZOO if k != "onnx"))
        for m in cfg.throughput.modes:
            _one_of("throughput.modes entry", m, ("baseline", "slicetune"))
    i = cfg.infer
    _positive("infer.warmup", i.warmup, allow_zero=True)
    _positive("infer.number", i.number)
    _positive("infer.repeats", i.repeats)
    _positive("infer.min_repeat_ms", i.min_repeat_ms, allow_zero=True)
    for what, shares in (("tune_shares", cfg.tune_shares), ("infer_shares", cfg.infer_shares)):
        if not shares:
            raise ConfigError(f"{what} is empty; give at least one share in (0, 100]")
        for s in shares:
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s <= 100:
                raise ConfigError(f"{what} has {s!r}; a share is a percentage in (0, 100]")
