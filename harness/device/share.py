"""How a process is started on its share (harness.jobs.Share) of the device.

On `cpu` a share of p% is a set of ceil(p/100 x cores) cores, applied as CPU affinity and as
TVM's thread count before the process starts. On `cuda` it is an MPS active-thread percentage
(see harness.device.mps). Every worker reads back its grant (harness.worker.target).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform as _platform
import threading
from dataclasses import dataclass

from harness.config import TunerConf
from harness.device.mps import client_env
from harness.jobs import Share


def available_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def _core_of(cpu: int) -> tuple[str, str]:
    """(package, core) of a logical CPU: hyperthread siblings share it."""
    try:
        with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id") as a, \
                open(f"/sys/devices/system/cpu/cpu{cpu}/topology/core_id") as b:
            return a.read().strip(), b.read().strip()
    except OSError:
        return "cpu", str(cpu)


def physical_cores() -> int:
    """Physical cores among this process's cores (hyperthread siblings counted once): what
    MetaSchedule's "physical" search threads count on the whole host, kept to the cores a sweep
    was given (benchmarks/side_by_side.sh)."""
    return max(1, len({_core_of(c) for c in available_cores()}))


def split_host(n: int, cores: list[int] | None = None, core_of=_core_of) -> list[list[int]]:
    """This process's cores in `n` equal parts of whole physical cores (a core's hyperthread
    siblings in one part: parts that shared a core ran at half speed side by side)."""
    by_core: dict[tuple[str, str], list[int]] = {}
    for c in sorted(cores if cores is not None else available_cores()):
        by_core.setdefault(core_of(c), []).append(c)
    physical = list(by_core.values())
    if len(physical) < n:
        raise ValueError(f"{n} parts need {n} physical cores; this process has {len(physical)}")
    k = len(physical) // n
    return [sorted(c for grp in physical[i * k:(i + 1) * k] for c in grp) for i in range(n)]


def cpu_cores_for(pct: float, cores: list[int] | None = None) -> list[int]:
    """The first ceil(pct% of the available cores), at least one."""
    cores = available_cores() if cores is None else sorted(cores)
    n = max(1, math.ceil(round(pct / 100 * len(cores), 6)))
    return cores[:n]


def partition_cores(pcts: list[float], cores: list[int] | None = None) -> list[list[int]]:
    """Disjoint core sets for processes running side by side, one per share, in order; when
    the shares add up to more than the cores, the sets wrap around and overlap."""
    cores = available_cores() if cores is None else sorted(cores)
    out, start = [], 0
    for pct in pcts:
        n = len(cpu_cores_for(pct, cores))
        out.append([cores[(start + j) % len(cores)] for j in range(n)])
        start += n
    return out


class CoreAllocator:
    """Core sets for processes that start and end at different times: each gets its share's
    number of cores, the least used ones first (disjoint while they fit)."""

    def __init__(self, cores: list[int] | None = None):
        self.cores = available_cores() if cores is None else sorted(cores)
        self.use = {c: 0 for c in self.cores}
        self._lock = threading.Lock()

    def take(self, pct: float) -> list[int]:
        n = len(cpu_cores_for(pct, self.cores))
        with self._lock:
            picked = sorted(sorted(self.cores, key=lambda c: (self.use[c], c))[:n])
            for c in picked:
                self.use[c] += 1
        return picked

    def give(self, cores: list[int]) -> None:
        with self._lock:
            for c in cores:
                self.use[c] -= 1


@dataclass
class Launch:
    """How to start a process on a share: extra environment and CPU affinity."""

    env: dict[str, str]
    cores: list[int] | None  # None: leave affinity alone


def launch_for(share: Share, mps_dir: str | None = None, cores: list[int] | None = None) -> Launch:
    """`cores`: the exact cores to run on (e.g. from partition_cores); None: the share's
    first cores on cpu, all of them on cuda."""
    if share.platform == "cpu":
        picked = sorted(cores) if cores else cpu_cores_for(share.pct)
        return Launch({"TVM_NUM_THREADS": str(len(picked))}, picked)
    if share.platform == "cuda":
        return Launch(client_env(share.pct, mps_dir), cores)
    raise ValueError(f"unknown platform {share.platform!r}")


def split_cores(tuner: TunerConf, n: int) -> tuple[TunerConf, int]:
    """For `n` tuning processes side by side: each one's search threads (the cores divided) and
    its tuner with as many builder workers, unless the tuner names a number."""
    threads = max(1, len(available_cores()) // n)
    return dataclasses.replace(tuner, builder_workers=tuner.builder_workers or threads), threads


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return _platform.processor() or _platform.machine()
