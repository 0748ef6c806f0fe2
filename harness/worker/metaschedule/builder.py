"""Builders: MetaSchedule's LocalBuilder, or one whose warm worker pool lives as long as the run.

Stock LocalBuilder starts a new worker pool every round, and each fresh worker pays 15-90 s
importing `tvm.s_tir.tensor_intrin` (TVMScript parsing) before its first build; the warm pool's
workers import only the target's intrinsics (harness.worker.intrinsics).
"""

from __future__ import annotations

import os

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.builder import BuilderResult, LocalBuilder, PyBuilder
from tvm.s_tir.meta_schedule.builder.local_builder import _serialize_params, _worker_func
from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

from harness.jobs import SERVE_LOG_ENV


def warm_worker(target_kind: str, arch: str | None = None) -> None:
    # the default build function imports tensor_intrin on first use: the target's part only
    from harness.worker.intrinsics import only_for

    if target_kind == "cuda":  # a worker compiles for the target's arch and needs no GPU; hidden, none
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # can join the MPS server (16 a process were seen, 72 MiB each)
    only_for(target_kind)
    if arch:  # cuda: the headers every kernel includes, parsed once per worker (harness.worker.nvrtc)
        from harness.worker.nvrtc import precompile_headers

        precompile_headers(arch)


def _kind_arch(target) -> tuple[str, str | None]:
    kind = target.kind.name
    return kind, (str(target.attrs["arch"]) if kind == "cuda" and "arch" in target.attrs else None)


def _noop() -> None:
    pass


def _build(args) -> str:
    """A candidate built and exported in its target's scope, where TVM's CUDA compile callback
    finds the arch (outside it, TVM asks GPU 0 for its compute capability)."""
    target = args[3]
    with target:
        return _worker_func(*args)


@derived_object
class PersistentBuilder(PyBuilder):
    """LocalBuilder whose warm worker pool lives as long as the tuning run (for `target`'s kind
    and, on cuda, its arch)."""

    def __init__(self, workers: int, timeout_s: float, target, output=None):
        super().__init__()
        self.timeout_s = timeout_s
        self.pool = PopenPoolExecutor(max_workers=workers, timeout=timeout_s, initializer=warm_worker,
                                      initargs=_kind_arch(target), stdout=output, stderr=output)
        for _ in range(workers):  # start every worker now: they warm up while the tasks are extracted
            self.pool.submit(_noop)

    def build(self, build_inputs):
        args = [(None, None, b.mod, b.target, _serialize_params(b.params)) for b in build_inputs]
        out = []
        for r in self.pool.map_with_error_catching(_build, args):
            if r.status == StatusKind.COMPLETE:
                out.append(BuilderResult(r.value, None))
            elif r.status == StatusKind.TIMEOUT:
                out.append(BuilderResult(None, f"PersistentBuilder: timeout after {self.timeout_s} s"))
            else:
                out.append(BuilderResult(None, f"PersistentBuilder: {r.value}"))
        return out

    def shutdown(self):
        self.pool.shutdown()


_kept: dict = {}  # a serving process's persistent builder, by (workers, timeout, target kind, arch)
_keeping = False


def keep_between_jobs() -> None:
    """In a process serving several jobs (harness.worker.serve): a persistent builder's warm
    workers stay up for the next job built alike."""
    global _keeping
    _keeping = True


def default_workers(platform: str, units: int) -> int:
    """Builder workers of a process: one per core of its share on cpu, of its cores on cuda."""
    return units if platform == "cpu" else len(os.sched_getaffinity(0))


def create(kind: str, workers: int, timeout_s: float, target):
    """`local`: stock LocalBuilder; `persistent`: PersistentBuilder (for `target`)."""
    if kind == "local":
        return LocalBuilder(max_workers=workers, timeout_sec=timeout_s)
    if kind != "persistent":
        raise ValueError(f"builder={kind!r} is not allowed; choose one of: local, persistent")
    key = (workers, timeout_s, *_kind_arch(target))
    if key in _kept:
        print(f"builder: the {workers} warm workers of the previous job", flush=True)
        return _kept[key]
    for other in _kept.values():  # one pool at a time
        other.shutdown()
    _kept.clear()
    if not _keeping:
        return PersistentBuilder(workers, timeout_s, target)
    log = os.environ.get(SERVE_LOG_ENV)  # kept workers outlive the job: the process's own log
    b = PersistentBuilder(workers, timeout_s, target, open(log, "ab") if log else None)
    _kept[key] = b
    return b


def release(b) -> None:
    """After a job: stop the builder's workers, unless kept for the next job."""
    if hasattr(b, "shutdown") and all(b is not k for k in _kept.values()):
        b.shutdown()
