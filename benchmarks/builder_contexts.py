"""Which step of a warm CUDA builder worker opens a CUDA context on the GPU (under MPS each one is a
client of the server: 16 workers per tuning process were seen holding ~72 MiB each).

    python benchmarks/builder_contexts.py [--arch sm_90]

Runs a builder worker's steps (harness.worker.metaschedule.builder) one after another in a fresh
process per variant and prints, after each step, whether that process now holds a context (NVML's
compute processes) and where TVM asked the device for its architecture. Variants: the steps as the
worker runs them; the build inside the target's scope; and that with no GPU visible to the worker
(CUDA_VISIBLE_DEVICES="", set once TVM is imported, before anything touches CUDA).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import traceback

VARIANTS = ("as-worker", "in-target-scope", "hidden-in-scope")


def holds_context() -> str:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        return f"no NVML ({e})"
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        mine = [p for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h) if p.pid == os.getpid()]
        return f"context ({(mine[0].usedGpuMemory or 0) >> 20} MiB)" if mine else "no context"
    finally:
        pynvml.nvmlShutdown()


def child(variant: str, arch: str) -> None:
    import tvm.support.nvcc as nvcc

    if variant == "hidden-in-scope":  # after importing TVM, as a builder worker's initializer would
        os.environ["CUDA_VISIBLE_DEVICES"] = ""

    asked = nvcc.get_target_compute_version

    def spy(target=None):
        print(f"    get_target_compute_version(target={target}) from:", flush=True)
        traceback.print_stack(limit=6, file=sys.stdout)
        return asked(target)

    nvcc.get_target_compute_version = spy
    from tvm.s_tir.meta_schedule.builder.local_builder import default_build, default_export
    from tvm.target import Target

    from benchmarks.nvrtc_pch import candidates, conv_module
    from harness.worker.metaschedule.builder import warm_worker

    print(f"{variant}: start: {holds_context()}", flush=True)
    warm_worker("cuda", arch)
    print(f"{variant}: after warm_worker (intrinsics, precompiled headers): {holds_context()}", flush=True)
    target = Target({"kind": "cuda", "arch": arch, "max_threads_per_block": 1024, "thread_warp_size": 32,
                     "max_shared_memory_per_block": 49152, "registers_per_block": 65536}, host="llvm")
    mod = candidates(conv_module(), target, 1)[0]
    print(f"{variant}: after making a candidate: {holds_context()}", flush=True)
    with target if variant != "as-worker" else contextlib.nullcontext():
        rt_mod = default_build(mod, target, None)
        print(f"{variant}: after building it: {holds_context()}", flush=True)
        path = default_export(rt_mod)
    print(f"{variant}: after exporting it ({os.path.getsize(path)} bytes): {holds_context()}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.variant:
        return child(a.variant, a.arch)
    for v in VARIANTS:
        subprocess.run([sys.executable, "-m", "benchmarks.builder_contexts", "--arch", a.arch, "--variant", v],
                       check=False)


if __name__ == "__main__":
    main()
