"""How long a warm builder takes per CUDA candidate with and without the precompiled libcu++
headers (harness.worker.nvrtc): the same random candidates of resnet50's 3x3 conv2d (256
channels, 14x14) built by PersistentBuilder both ways, off first. Prints one row per mode.

    python benchmarks/nvrtc_pch.py [--candidates 64] [--workers 4] [--repeats 2] [--arch sm_90]

Each repeat starts a pool (~35 s of warm-up on the H100 host) and builds every candidate: the
defaults took over 240 s for both modes there; `--candidates 32 --repeats 1` about a third of it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import tvm
from tvm import te
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.builder import BuilderInput

from harness.worker.metaschedule.builder import PersistentBuilder
from harness.worker.nvrtc import ENV


def conv_module():
    n, c, h, w, k, r = 1, 256, 14, 14, 256, 3
    data = te.placeholder((n, c, h + 2, w + 2), name="data")
    wt = te.placeholder((k, c, r, r), name="w")
    rc, ry, rx = te.reduce_axis((0, c)), te.reduce_axis((0, r)), te.reduce_axis((0, r))
    out = te.compute((n, k, h, w), lambda b, o, y, x: te.sum(data[b, rc, y + ry, x + rx] * wt[o, rc, ry, rx],
                                                             axis=[rc, ry, rx]), name="conv")
    return tvm.IRModule({"main": te.create_prim_func([data, wt, out])})


def candidates(mod, target, count: int):
    """`count` valid schedules: design spaces with random decisions, post-processed."""
    out, seed = [], 0
    while len(out) < count and seed < 50 * count:
        seed += 1
        ctx = ms.TuneContext(mod=mod, target=target, space_generator="post-order-apply",
                             search_strategy="replay-trace", task_name="conv", num_threads=1, rand_state=seed)
        spaces = ctx.space_generator.generate_design_space(mod)
        sch = spaces[seed % len(spaces)]
        sch.enter_postproc()
        if all(p.apply(sch) for p in ctx.space_generator.postprocs):
            out.append(sch.mod)
    return out


def build_all(mods, target, workers: int) -> tuple[float, float, int]:
    """Seconds to start the warm pool, seconds to build every candidate, failures."""
    t0 = time.perf_counter()
    b = PersistentBuilder(workers, 120.0, target)
    b.build([BuilderInput(mods[0], target)] * workers)  # every worker warm (and its header made)
    t1 = time.perf_counter()
    res = b.build([BuilderInput(m, target) for m in mods])
    t2 = time.perf_counter()
    b.shutdown()
    return t1 - t0, t2 - t1, sum(1 for r in res if r.error_msg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=64)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2, help="pools started per mode (the best is printed)")
    ap.add_argument("--arch", default=None, help="sm_XY (default: the GPU's)")
    a = ap.parse_args()
    if a.arch:
        target = tvm.target.Target({"kind": "cuda", "arch": a.arch, "max_threads_per_block": 1024,
                                    "max_shared_memory_per_block": 49152, "thread_warp_size": 32})
    else:
        from harness.worker.target import make_target

        target = make_target("cuda", 100)
    mods = candidates(conv_module(), target, a.candidates)
    print(f"{len(mods)} candidates for {target.attrs['arch']}, {a.workers} warm workers, host {platform.node()}")
    if os.environ.get(ENV) is not None:
        raise SystemExit(f"{ENV} is set ({os.environ[ENV]!r}): unset it, both rows would time those options")
    for mode in ("off", "on"):
        if mode == "off":
            os.environ[ENV] = ""  # set, even empty: the workers leave NVRTC's options alone
        else:
            del os.environ[ENV]
        times = [build_all(mods, target, a.workers) for _ in range(max(1, a.repeats))]
        warm, build, bad = min(times, key=lambda t: t[1])
        per = build * a.workers / max(1, len(mods))
        mean = statistics.mean(t[1] for t in times)
        print(f"headers precompiled {mode:>3}: warm-up {warm:5.1f} s, {len(mods)} builds {build:6.1f} s "
              f"best of {len(times)} (mean {mean:.1f} s; {per:.2f} worker-s a build), {bad} failed")


if __name__ == "__main__":
    main()
