"""Sample CPU and GPU use over a run into a timeline file (one row per sample).

GPU columns come from NVML (nvidia-ml-py): utilisation, memory, SM clock, the compute
processes on the device (under MPS: the server and its clients) and power. On `cpu` they stay
empty.
"""

from __future__ import annotations

import csv
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, fields


@dataclass
class Sample:
    t_s: float
    cpu_util_pct: float
    gpu_util_pct: float | None = None
    gpu_mem_mib: float | None = None
    sm_clock_mhz: float | None = None
    gpu_procs: int | None = None
    epoch: float | None = None  # wall clock, to line samples up with phase spans
    cpu_busy_cores: float | None = None  # cpu_util_pct x the host's logical cores: CPU-s per second
    gpu_power_w: float | None = None  # the board's power draw (absent in files made before it was sampled)


# decimals written per column: what a 1 s sample resolves (the files are committed, xz-compressed)
DECIMALS = {"t_s": 2, "cpu_util_pct": 1, "gpu_util_pct": 0, "gpu_mem_mib": 0, "sm_clock_mhz": 0,
            "epoch": 3, "cpu_busy_cores": 2, "gpu_power_w": 1}


def _cell(name: str, v) -> object:
    d = DECIMALS.get(name)  # None: written as it is (gpu_procs, a count)
    if v is None or d is None:
        return "" if v is None else v
    return round(v, d) if d else int(round(v))


class _NVML:
    """The GPUs a run uses, read as one: utilisation and SM clock averaged over them; memory,
    compute processes and power summed."""

    def __init__(self, device_ids: list[int]):
        import pynvml

        from harness.device.gpu import gpu_uuids

        uuids = gpu_uuids()  # CUDA's indices (CUDA_VISIBLE_DEVICES), not NVML's
        self.nv = pynvml
        pynvml.nvmlInit()
        self.hs = [pynvml.nvmlDeviceGetHandleByUUID(uuids[i]) for i in device_ids]

    def read(self) -> dict:
        nv, hs = self.nv, self.hs
        power = [self._power(h) for h in hs]
        return dict(gpu_util_pct=sum(float(nv.nvmlDeviceGetUtilizationRates(h).gpu) for h in hs) / len(hs),
                    gpu_mem_mib=sum(nv.nvmlDeviceGetMemoryInfo(h).used for h in hs) / 2**20,
                    sm_clock_mhz=sum(float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)) for h in hs) / len(hs),
                    gpu_procs=sum(len(nv.nvmlDeviceGetComputeRunningProcesses(h)) for h in hs),
                    gpu_power_w=None if None in power else sum(power))

    def _power(self, h) -> float | None:
        try:
            return self.nv.nvmlDeviceGetPowerUsage(h) / 1000
        except self.nv.NVMLError:  # not every board reports it
            return None

    def close(self) -> None:
        self.nv.nvmlShutdown()


def _continued(path: str) -> tuple[float | None, list[str] | None]:
    """(time of the last sample, columns) of `path`; (None, None) when there is none to continue."""
    try:
        with open(path, newline="") as f:
            r = csv.DictReader(f)
            rows = list(r)
    except OSError:
        return None, None
    return (float(rows[-1]["t_s"]), list(r.fieldnames or [])) if rows else (None, None)


class Sampler:
    """`with Sampler(path, platform): ...` writes a sample every `interval_s` to `path`, of the GPU
    `device_id` (a list: those GPUs, read as one); `append` continues an existing file, its clock
    going on from the last sample."""

    def __init__(self, path: str, platform: str, device_id: int | list[int] = 0, interval_s: float = 1.0,
                 append: bool = False):
        self.path, self.platform, self.interval_s = path, platform, interval_s
        self.device_ids = device_id if isinstance(device_id, list) else [device_id]
        self.offset, self.columns = _continued(path) if append else (None, None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def _loop(self) -> None:
        import psutil

        nvml = None
        if self.platform == "cuda":
            try:
                nvml = _NVML(self.device_ids)
            except Exception as e:  # noqa: BLE001 - sample the CPU alone rather than nothing
                logging.getLogger("harness").warning("no GPU samples: NVML failed: %s", e)
        t0 = time.perf_counter() - (self.offset or 0.0)
        mine = sorted(os.sched_getaffinity(0))  # the sweep's cores (another sweep may use the others)
        psutil.cpu_percent(None, percpu=True)
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        try:
            with open(self.path, "a" if self.offset is not None else "w", newline="") as f:
                # a continued file keeps its columns (one made before a column was added goes on without it)
                cols = self.columns or [x.name for x in fields(Sample)]
                w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
                if self.offset is None:
                    w.writeheader()
                while not self._stop.wait(self.interval_s):
                    per = psutil.cpu_percent(None, percpu=True)
                    busy = [per[c] for c in mine if c < len(per)] or per
                    s = Sample(time.perf_counter() - t0, sum(busy) / len(busy), **(nvml.read() if nvml else {}),
                               epoch=time.time(), cpu_busy_cores=sum(busy) / 100)
                    w.writerow({k: _cell(k, v) for k, v in asdict(s).items()})
                    f.flush()
        finally:
            if nvml:
                nvml.close()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
