"""Measure a compiled model's end-to-end latency (Relax VM) inside a process on a share."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import InferConf, ModelConf
from harness.models import TensorSpec
from harness.share import Grant, Placement


@dataclass
class InferItem:
    cell_id: str
    artifact: str  # model.so from the compile step
    entry: str


@dataclass
class Measured:
    cell_id: str
    latencies_ms: list[float]  # one per repeat


@dataclass
class InferJob:
    """Measure several compiled models in one process on one share (one TVM start-up)."""

    place: Placement
    model: ModelConf
    items: list[InferItem]
    infer: InferConf
    seed: int = 0


@dataclass
class InferResult:
    grant: Grant
    tvm_version: str
    measured: list[Measured]


def random_args(args: list[TensorSpec], dev, seed: int):
    import numpy as np
    import tvm

    rng = np.random.default_rng(seed)
    out = []
    for a in args:
        if a.dtype.startswith(("int", "uint")):
            data = rng.integers(0, 100, size=a.shape).astype(a.dtype)
        else:
            data = rng.standard_normal(a.shape).astype(a.dtype)
        out.append(tvm.runtime.tensor(data, dev))
    return out


def run(job: InferJob) -> InferResult:
    import tvm
    from tvm import relax

    from harness.models import load
    from harness.target import tvm_device

    grant = job.place.grant()
    dev = tvm_device(job.place.platform, job.place.device_id)
    args = random_args(load(job.model).args, dev, job.seed)
    conf = job.infer
    measured = []
    for item in job.items:
        vm = relax.VirtualMachine(tvm.runtime.load_module(item.artifact), dev)
        for _ in range(conf.warmup):
            vm[item.entry](*args)
        dev.sync()
        timer = vm.time_evaluator(item.entry, dev, number=conf.number, repeat=conf.repeats,
                                  min_repeat_ms=conf.min_repeat_ms)
        measured.append(Measured(item.cell_id, [1e3 * float(r) for r in timer(*args).results]))
    return InferResult(grant, tvm.__version__, measured)
