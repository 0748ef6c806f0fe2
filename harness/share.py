"""A share: the slice of a device one process gets, and what the process really got.

On `cpu` a share of p% is a set of ceil(p/100 x cores) cores, applied as CPU affinity and as
TVM's thread count before the process starts. On `cuda` it is an MPS active-thread percentage
(see harness.mps). Every process reads back its grant (cores, or SMs) and records it.
"""

from __future__ import annotations

import math
import os
import platform as _platform
from dataclasses import dataclass


@dataclass(frozen=True)
class Share:
    platform: str  # cpu | cuda
    pct: float  # in (0, 100]

    @property
    def label(self) -> str:
        return f"{self.pct:g}%"


@dataclass
class Grant:
    """What a process really got: `units` cores (cpu) or SMs (cuda) of `device`."""

    units: int
    unit: str
    device: str


def available_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


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
        import threading

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
        from harness.mps import client_env

        return Launch(client_env(share.pct, mps_dir), cores)
    raise ValueError(f"unknown platform {share.platform!r}")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return _platform.processor() or _platform.machine()


@dataclass
class Placement:
    """Where a job runs: the platform, its share, and (cuda) the whole device's SM count."""

    platform: str
    pct: float = 100.0
    device_id: int = 0
    total_units: int | None = None  # cuda: SMs of the whole GPU, to check the grant

    def grant(self) -> Grant:
        """Read back the grant; on cuda, refuse one that does not match the share."""
        g = read_grant(self.platform, self.device_id)
        if self.platform == "cuda" and self.total_units:
            from harness.mps import check_sms

            check_sms(self.pct, g.units, self.total_units)
        return g


def read_grant(platform: str, device_id: int = 0) -> Grant:
    """Read back, inside the process, what it was granted."""
    if platform == "cpu":
        return Grant(len(os.sched_getaffinity(0)), "cores", cpu_name())
    if platform == "cuda":
        import tvm

        dev = tvm.cuda(device_id)
        if not dev.exist:
            raise RuntimeError(f"CUDA device {device_id} is not visible to this process")
        return Grant(int(dev.multi_processor_count), "SMs", str(dev.device_name))
    raise ValueError(f"unknown platform {platform!r}")
