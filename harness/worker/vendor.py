"""Vendor reference: the model in PyTorch, eager or torch.compile (cuDNN/cuBLAS/Triton on cuda),
timed like the tuned models (warm-up, then repeats of `number` runs) in a process on a share."""

from __future__ import annotations

import os
import time
import traceback

import torch

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
    dev = torch.device(f"cuda:{job.place.device_id}" if cuda else "cpu")
    if not cuda:
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(job.seed)
    net = build(job.model).to(dev)
    x = example_input(job.model).to(dev)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    conf, measured = job.infer, []
    failed = {}
    for cell_id, mode in job.items.items():
        fn = torch.compile(net, **COMPILE[mode]) if mode in COMPILE else net
        try:
            with torch.inference_mode():
                # torch.compile compiles on the first call; CUDA graphs are recorded after a few
                for _ in range(max(1 if mode not in COMPILE else 3, conf.warmup)):
                    fn(x)
                # one repeat's worth discarded: eager's first repeats on the H100 ran 1.6x slower
                reps = [_timed(fn, x, sync, conf.number, conf.min_repeat_ms) for _ in range(conf.repeats + 1)][1:]
        except Exception as e:  # noqa: BLE001 - one mode's failure (a compiler's) spares the others
            traceback.print_exc()
            failed[cell_id] = f"{mode}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            continue
        measured.append(Measured(cell_id, reps))
    return VendorResult(g, torch.__version__, measured, failed)
