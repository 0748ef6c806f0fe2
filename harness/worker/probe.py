"""How long a fresh builder worker takes to start on this machine: the measured allowance added to
the builder timeout (a stock LocalBuilder starts new workers every round, and each one imports
`tvm.s_tir.tensor_intrin`, 15-90 s on 2 loaded cores, before its first build)."""

from __future__ import annotations

import time

from tvm.support.popen_pool import PopenPoolExecutor

from harness.jobs import ProbeJob, ProbeResult


def stock_worker() -> None:
    """What a stock LocalBuilder worker imports before its first build: every architecture's intrinsics."""
    import tvm.s_tir.tensor_intrin  # noqa: F401


def _nothing(_: int) -> None:
    return None


def run(job: ProbeJob) -> ProbeResult:
    """Start `job.workers` workers at once, as a builder does, and time the slowest to be ready."""
    pool = PopenPoolExecutor(max_workers=job.workers, timeout=None, initializer=stock_worker)
    t0 = time.perf_counter()
    try:
        list(pool.map_with_error_catching(_nothing, range(job.workers)))
    finally:
        pool.shutdown()
    return ProbeResult(job.workers, time.perf_counter() - t0)
