"""Measure a compiled model's end-to-end latency (Relax VM) inside a process on a share."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import InferConf, ModelConf
from harness.models import TensorSpec
from harness.share import Grant, Placement


@dataclass
class InferJob:
    place: Placement
    model: ModelConf
    artifact: str  # model.so from the compile step
    entry: str
    infer: InferConf
    seed: int = 0


@dataclass
class InferResult:
    grant: Grant
    tvm_version: str
    latencies_ms: list[float]  # one per repeat


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
    vm = relax.VirtualMachine(tvm.runtime.load_module(job.artifact), dev)
    args = random_args(load(job.model).args, dev, job.seed)
    for _ in range(job.infer.warmup):
        vm[job.entry](*args)
    dev.sync()
    timer = vm.time_evaluator(job.entry, dev, number=job.infer.number, repeat=job.infer.repeats,
                              min_repeat_ms=job.infer.min_repeat_ms)
    res = timer(*args)
    return InferResult(grant, tvm.__version__, [1e3 * float(r) for r in res.results])
