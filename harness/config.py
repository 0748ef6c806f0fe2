"""Structured configuration: the typed records a sweep is made from, and their validation.

Hydra composes these (see `harness.sweep`); everything below is plain Python, so the library
can be driven without Hydra by building a `SweepConf` by hand. Every choice is a `StrEnum`, so
OmegaConf refuses a bad value at compose time with the allowed ones listed; `validate` checks
hand-built configs the same way and holds every range check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import typing
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum

from harness.zoo import BUILTIN, ZOO


class Platform(StrEnum):
    cpu = "cpu"
    cuda = "cuda"


class Experiment(StrEnum):
    interdependency = "interdependency"
    tuning_time = "tuning_time"
    throughput = "throughput"
    scaling = "scaling"


class Builder(StrEnum):
    local = "local"  # stock MetaSchedule LocalBuilder: a new worker pool every round
    persistent = "persistent"  # one warm worker pool for the whole run


CostModel = StrEnum("CostModel", {v: v for v in ("xgb", "mlp", "random")})
Search = StrEnum("Search", {v: v for v in ("evolutionary", "replay-trace", "replay-func")})
# gradient, round-robin: MetaSchedule's (both send every task once before collecting any
# result); rolling: round-robin that collects each round before the next (worker.metaschedule)
Scheduler = StrEnum("Scheduler", {v: v for v in ("gradient", "round-robin", "rolling")})
Split = StrEnum("Split", {v: v for v in ("lpt", "round_robin")})
Mode = StrEnum("Mode", {v: v for v in ("baseline", "slicetune")})
ModelName = StrEnum("ModelName", {v: v for v in ZOO})
DType = StrEnum("DType", {v: v for v in ("float32", "float16")})


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
    input_size: int | None = None  # image side or sequence length; None: the model's default
    dtype: DType = DType.float32


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
    split: Split = Split.lpt


@dataclass
class ThroughputConf:
    """throughput: several models tuned one after another (baseline) or all at once, each on
    its own share of the device (slicetune)."""

    models: list[ModelName] = field(default_factory=lambda: [ModelName.tiny_mlp, ModelName.tiny_cnn])
    modes: list[Mode] = field(default_factory=lambda: [Mode.baseline, Mode.slicetune])


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
    parallel_tuning: int = 1  # tuning runs side by side, each on its own share (cores split)
    rerun: bool = False  # redo cells that already have results
    # stop tuning after this many seconds of the sweep (at a round's end); the same command
    # continues the stopped runs from their databases
    tune_deadline_s: float | None = None
    slicetune: SliceTuneConf = field(default_factory=SliceTuneConf)
    throughput: ThroughputConf = field(default_factory=ThroughputConf)
    results_dir: str = "results"
    runs_dir: str = "runs"

    @property
    def dir_name(self) -> str:
        return self.name or str(self.experiment)

    def builder_timeout_s(self) -> float:
        """The tuner's builder timeout, else the platform's."""
        return self.tuner.builder_timeout_s or self.platform.builder_timeout_s


# settings added after results were first recorded: hashed only when changed, so existing
# cells keep their identity
_LATER_DEFAULTS = {"population": 512, "genetic_iters": 4, "scheduler": "gradient"}


def tuner_fingerprint(tuner: TunerConf) -> str:
    """Short stable hash of the tuner settings; part of every tuning cell's identity."""
    d = {k: v for k, v in asdict(tuner).items() if _LATER_DEFAULTS.get(k, object()) != v}
    blob = json.dumps(d, sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:8]


def _allowed(what: str, value, allowed) -> ConfigError:
    return ConfigError(f"{what}={value!r} is not allowed; choose one of: {', '.join(map(str, allowed))}")


def _check_choices(obj, prefix: str = "") -> None:
    """Every enum-typed field of `obj` (and of nested records) holds one of its members."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, tp, what = getattr(obj, f.name), hints[f.name], prefix + f.name
        if dataclasses.is_dataclass(value):
            _check_choices(value, what + ".")
            continue
        many = typing.get_origin(tp) is list
        kind = typing.get_args(tp)[0] if many else tp
        if isinstance(kind, type) and issubclass(kind, Enum):
            for v in (value if many else [value]):
                if v not in {m.value for m in kind}:
                    raise _allowed(what + (" entry" if many else ""), str(v) if isinstance(v, Enum) else v, list(kind))


def _number(what: str, value, low: float = 0, strict: bool = True, high: float | None = None) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > low if strict else value >= low) and (high is None or value <= high)
    if not ok:
        rng = f"{'>' if strict else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")
        raise ConfigError(f"{what}={value!r} is not allowed; it must be a number {rng}")


def _each(what: str, values: list, check) -> None:
    if not values:
        raise ConfigError(f"{what} is empty; give at least one value")
    for v in values:
        try:
            check(v)
        except ConfigError as e:
            raise ConfigError(f"{what} has {v!r}: {str(e).split('; ', 1)[-1]}") from None


def _share(v) -> None:
    _number("share", v, high=100)


def _count(v) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ConfigError(f"{v!r} is not allowed; it must be an integer >= 1")


def _builtin(m) -> None:
    if m not in BUILTIN:
        raise _allowed("model", m, BUILTIN)


def _check_model(m: ModelConf) -> None:
    _number("model.batch", m.batch)
    if m.input_size is not None:
        _number("model.input_size", m.input_size)
    if m.name == "onnx":
        if not m.path:
            raise ConfigError("model=onnx needs model.path=<file.onnx>")
        if not os.path.isfile(m.path) or not os.access(m.path, os.R_OK):
            raise ConfigError(f"model.path={m.path!r} is not a readable file")


def _check_tuner(t: TunerConf) -> None:
    for what in ("trials", "trials_per_round", "runner_timeout_s", "population", "genetic_iters"):
        _number(f"tuner.{what}", getattr(t, what))
    for what in ("max_trials_per_task", "builder_timeout_s"):
        if getattr(t, what) is not None:
            _number(f"tuner.{what}", getattr(t, what))
    _number("tuner.builder_workers", t.builder_workers, strict=False)


def _check_ranges(cfg: SweepConf) -> None:
    if cfg.name is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", cfg.name):
        raise ConfigError(f"name={cfg.name!r} is not allowed; use letters, digits, '_', '-' and '.' (a directory name)")
    _check_model(cfg.model)
    _check_tuner(cfg.tuner)
    _number("parallel_tuning", cfg.parallel_tuning)
    if cfg.tune_deadline_s is not None:
        _number("tune_deadline_s", cfg.tune_deadline_s)
    i = cfg.infer
    _number("infer.number", i.number)
    _number("infer.repeats", i.repeats)
    _number("infer.warmup", i.warmup, strict=False)
    _number("infer.min_repeat_ms", i.min_repeat_ms, strict=False)
    _each("tune_shares", cfg.tune_shares, _share)
    _each("infer_shares", cfg.infer_shares, _share)
    st = cfg.slicetune
    for what in ("clients", "servers", "gpus"):
        _each(f"slicetune.{what}", getattr(st, what), _count)
    _each("slicetune.server_shares", st.server_shares, lambda v: _number("share", v, strict=False, high=100))
    _each("slicetune.builders", st.builders, lambda v: None)
    if cfg.experiment == Experiment.throughput:
        _each("throughput.models", cfg.throughput.models, _builtin)
        _each("throughput.modes", cfg.throughput.modes, lambda v: None)


def validate(cfg: SweepConf) -> None:
    """Raise ConfigError naming the first bad value; touches nothing on disk or device."""
    _check_choices(cfg)
    _check_ranges(cfg)
