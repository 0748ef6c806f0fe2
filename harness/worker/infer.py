"""Measure a compiled model's end-to-end latency (Relax VM) inside a process on a share."""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from harness.jobs import InferJob, InferResult, Measured
from harness.worker.models import TensorSpec, load
from harness.worker.target import grant, tvm_device


def random_args(args: list[TensorSpec], dev, seed: int):
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
    g = grant(job.place)
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
    return InferResult(g, tvm.__version__, measured)
