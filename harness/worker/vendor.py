"""Vendor reference: the model in PyTorch, eager or torch.compile (cuDNN/cuBLAS/Triton on cuda),
in the model's own precision (float32 without TF32), timed like the tuned models (warm-up, then
repeats of `number` runs) in a process on a share."""

from __future__ import annotations

import os
import time
import traceback

import torch

from harness.config import Vendor
from harness.jobs import Measured, VendorJob, VendorResult
from harness.worker.target import grant
from harness.worker.torch_models import build, example_input


COMPILE = {"torch_compile": {}, "torch_cudagraphs": {"mode": "reduce-overhead"}}  # mode -> torch.compile's


def _timed(fn, x, sync, number: int, min_repeat_ms: int) -> float:
    """Milliseconds per run, over `number` runs (more where min_repeat_ms asks for longer)."""
    n = number
    while True:
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            fn(x)
        sync()
        ms = 1e3 * (time.perf_counter() - t0)
        if ms >= min_repeat_ms or n >= 1_000_000:
            return ms / n
        n *= 2


def run(job: VendorJob) -> VendorResult:
    g = grant(job.place)
    cuda = job.place.platform == "cuda"
    # float32 in float32, as the tuned model computes: no TF32 (cuDNN's convolutions default to it)
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")  # matmuls: backends.cuda.matmul.allow_tf32 = False
    dev = torch.device(f"cuda:{job.place.device_id}" if cuda else "cpu")
    if not cuda:
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(job.seed)
    net = build(job.model).to(dev)
    x = example_input(job.model).to(dev)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    measured = []
    failed = {}
    # in Vendor's order, CUDA graphs last: a failed capture must not disturb the other modes
    for cell_id, mode in sorted(job.items.items(), key=lambda item: list(Vendor).index(item[1])):
        try:
            reps = _measure(net, x, mode, cuda, sync, job.infer)
        except Exception as e:  # noqa: BLE001 - one mode's failure (a compiler's) spares the others
            traceback.print_exc()
            failed[cell_id] = f"{mode}: {type(e).__name__}: {str(e).strip()}"  # the sweep records its first line
            continue
        measured.append(Measured(cell_id, reps))
    return VendorResult(g, torch.__version__, measured, failed)


def _measure(net, x, mode: str, cuda: bool, sync, conf) -> list[float]:
    fn, calls = net, 1
    if mode in COMPILE:
        torch._dynamo.reset()  # a fresh compile: the previous mode's cached graphs are not reused
        fn, calls = torch.compile(net, **COMPILE[mode]), 3  # compiled on the first call, graphs recorded after
    with torch.inference_mode():
        for _ in range(max(calls, conf.warmup)):
            fn(x)
        if mode == "torch_cudagraphs" and cuda:
            skips = torch._dynamo.utils.counters["inductor"]["cudagraph_skips"]
            if skips:
                raise RuntimeError(f"torch.compile skipped CUDA graphs ({skips}x): the row would be torch.compile's")
        # one repeat's worth discarded: eager's first repeats on the H100 ran 1.6x slower
        return [_timed(fn, x, sync, conf.number, conf.min_repeat_ms) for _ in range(conf.repeats + 1)][1:]
