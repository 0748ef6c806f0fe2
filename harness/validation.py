"""Every check of a sweep's configuration, in one place: choices (for configs built by hand;
Hydra's are checked at compose time by their enums) and ranges. Touches nothing on disk or device
except opening a user's ONNX file."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import typing
from enum import Enum

from harness.config import ConfigError, Experiment, ModelConf, SweepConf, TunerConf
from harness.zoo import BUILTIN, ZOO


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
            shown = repr(v.value if isinstance(v, Enum) else v)
            raise ConfigError(f"{what} has {shown}: {str(e).split('; ', 1)[-1]}") from None


def _share(v) -> None:
    _number("share", v, high=100)


def _count(v) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ConfigError(f"{v!r} is not allowed; it must be an integer >= 1")


def _builtin(m) -> None:
    if m not in BUILTIN:
        raise _allowed("model", m, BUILTIN)


def _check_onnx(path: str | None) -> None:
    """The file is there, readable, and an ONNX model with a graph (opened here, before any work)."""
    if not path:
        raise ConfigError("model=onnx needs model.path=<file.onnx>")
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ConfigError(f"model.path={path!r} is not a readable file")
    try:
        import onnx
    except ImportError as e:
        raise ConfigError("model=onnx needs the onnx package: pip install -e '.[onnx]'") from e
    try:
        proto = onnx.load(path)
        onnx.checker.check_model(proto)
    except Exception as e:  # noqa: BLE001 - protobuf and the checker raise several kinds
        raise ConfigError(f"model.path={path!r} is not a valid ONNX model: {str(e).splitlines()[0][:200]}") from None
    if not proto.graph.node:
        raise ConfigError(f"model.path={path!r} is not an ONNX model: it has no graph (an empty or foreign file)")


def _check_vendors(cfg: SweepConf) -> None:
    """Vendor rows: interdependency only, and a model with a PyTorch version."""
    if not cfg.vendors:
        return
    if cfg.experiment != Experiment.interdependency:
        raise ConfigError(f"vendors={[str(v) for v in cfg.vendors]} is measured by +exp=interdependency only, "
                          f"not {cfg.experiment}")
    if "torch_cudagraphs" in cfg.vendors and cfg.platform.name != "cuda":
        raise ConfigError(f"vendors=torch_cudagraphs replays CUDA graphs: platform=cuda only, not {cfg.platform.name} "
                          f"(torch_eager and torch_compile run on any platform)")
    ctor = cfg.model.torch_ctor()
    if ctor is None:
        with_torch = sorted(n for n, e in ZOO.items() if e.torch)
        raise ConfigError(f"vendors need the model in PyTorch, and model={cfg.model.name} has none; use "
                          f"model=torch model.ctor=... or one of: {', '.join(with_torch)}")
    _check_torch(ctor, f"vendors={[str(v) for v in cfg.vendors]} (the model in PyTorch: {ctor})")


def _check_torch(ctor: str | None, what: str = "model=torch") -> None:
    """PyTorch is installed and the constructor's module can be found (imported later, in a worker)."""
    if not ctor:
        raise ConfigError("model=torch needs model.ctor=<constructor>, e.g. torchvision.models.resnet50, "
                          "transformers.BertModel or my.module:function")
    module = ctor.split(":")[0] if ":" in ctor else ctor.rpartition(".")[0]
    top = module.split(".")[0]  # only the package: finding a submodule would import its parents
    try:
        found = bool(top) and importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        if what != "model=torch":
            raise ConfigError(f"{what} needs the package {top!r}, which is not installed here")
        raise ConfigError(f"model.ctor={ctor!r}: no package {top!r} to import it from; give "
                          "package.module.name or package.module:function")
    if importlib.util.find_spec("torch") is None:
        raise ConfigError(f"{what} needs PyTorch (pip install torch); it is not installed here")


def _check_model(m: ModelConf) -> None:
    _number("model.batch", m.batch)
    if m.input_size is not None:
        _number("model.input_size", m.input_size)
    if m.name == "onnx":
        _check_onnx(m.path)
    if m.name == "torch":
        _check_torch(m.ctor)


def _check_tuner(t: TunerConf) -> None:
    for what in ("trials", "trials_per_round", "runner_timeout_s", "population", "genetic_iters"):
        _number(f"tuner.{what}", getattr(t, what))
    for what in ("max_trials_per_task", "builder_timeout_s"):
        if getattr(t, what) is not None:
            _number(f"tuner.{what}", getattr(t, what))
    _number("tuner.builder_workers", t.builder_workers, strict=False)
    # a round samples population x (1 - MetaSchedule's measured ratio of 0.2) new schedules
    _number("tuner.init_min_unmeasured", t.init_min_unmeasured, high=int(0.8 * t.population))


def _check_ranges(cfg: SweepConf) -> None:
    if cfg.name is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", cfg.name):
        raise ConfigError(f"name={cfg.name!r} is not allowed; use letters, digits, '_', '-' and '.' (a directory name)")
    _check_model(cfg.model)
    _check_tuner(cfg.tuner)
    for what in ("top", "trials", "converged_pct"):
        _number(f"ops.{what}", getattr(cfg.ops, what))
    _number("parallel_tuning", cfg.parallel_tuning)
    _number("job_timeout_s", cfg.job_timeout_s)
    for what in ("tune_deadline_s", "stall_timeout_s"):
        if getattr(cfg, what) is not None:
            _number(what, getattr(cfg, what))
    i = cfg.infer
    _number("infer.number", i.number)
    _number("infer.repeats", i.repeats)
    _number("infer.warmup", i.warmup, strict=False)
    _number("infer.min_repeat_ms", i.min_repeat_ms, strict=False)
    _each("tune_shares", cfg.tune_shares, _share)
    _each("infer_shares", cfg.infer_shares, _share)
    st = cfg.slicetune
    if st.clients or not st.baseline:  # clients=[] with the baseline on: the baselines only
        _each("slicetune.clients", st.clients, _count)
    for what in ("servers", "gpus"):
        _each(f"slicetune.{what}", getattr(st, what), _count)
    _each("slicetune.server_shares", st.server_shares, lambda v: _number("share", v, strict=False, high=100))
    _each("slicetune.builders", st.builders, lambda v: None)
    _number("slicetune.hold", st.hold)
    _number("slicetune.verify_top_k", st.verify_top_k, strict=False)
    _number("slicetune.top_tasks", st.top_tasks, strict=False)
    if st.tracker:
        address("slicetune.tracker", st.tracker)
        if cfg.experiment not in GRIDS:
            raise ConfigError(f"slicetune.tracker is not allowed with +exp={cfg.experiment}: only tuning_time, "
                              "scaling and fidelity cells use servers started elsewhere")
    if cfg.experiment == Experiment.fidelity and not st.verify_top_k:
        raise ConfigError("slicetune.verify_top_k=0 is not allowed with +exp=fidelity: it compares the "
                          "candidates measured while tuning with the same measured alone; give K >= 2")
    if cfg.platform.name == "cpu" and cfg.experiment in GRIDS \
            and 1 not in st.gpus:
        raise ConfigError(f"slicetune.gpus={list(st.gpus)} is not allowed on platform=cpu: the CPU is one device, "
                          "so only 1 can run")
    if cfg.experiment == Experiment.throughput:
        _each("throughput.models", cfg.throughput.models, _builtin)
        _each("throughput.modes", cfg.throughput.modes, lambda v: None)


GRIDS = (Experiment.tuning_time, Experiment.scaling, Experiment.fidelity)  # the tuning_time grid's experiments


def address(what: str, value: str) -> tuple[str, int]:
    """HOST:PORT as (host, port); ConfigError naming `what` otherwise."""
    host, _, port = str(value).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what}={value!r} is not allowed; give HOST:PORT, e.g. 10.0.0.5:9190")
    return host, int(port)


def validate(cfg: SweepConf) -> None:
    """Raise ConfigError naming the first bad value; touches nothing on disk or device."""
    _check_choices(cfg)
    _check_ranges(cfg)
    _check_vendors(cfg)
