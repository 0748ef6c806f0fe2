"""The GPUs this process may use, their SM counts, and the SMs an MPS share should give."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys

from harness.config import ConfigError

CONTROL = "nvidia-cuda-mps-control"


class GPUError(RuntimeError):
    pass


def gpu_uuids() -> list[str]:
    """UUIDs of the GPUs this process may use (CUDA_VISIBLE_DEVICES by index or UUID), in
    CUDA's order. MPS remaps indices, so daemons and their clients are pinned by UUID."""
    import pynvml

    pynvml.nvmlInit()
    try:
        uuids = [pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
                 for i in range(pynvml.nvmlDeviceGetCount())]
    finally:
        pynvml.nvmlShutdown()
    return visible_uuids([u.decode() if isinstance(u, bytes) else u for u in uuids],
                         os.environ.get("CUDA_VISIBLE_DEVICES"))


def visible_uuids(uuids: list[str], visible: str | None) -> list[str]:
    """The GPUs (UUIDs, NVML order) that CUDA_VISIBLE_DEVICES=`visible` selects, in its order."""
    if visible is None:
        return uuids
    out = []
    for v in (x.strip() for x in visible.split(",") if x.strip()):
        match = [u for u in uuids if u == v or u.startswith(v)] if not v.isdigit() else \
            ([uuids[int(v)]] if int(v) < len(uuids) else [])
        if not match:
            break  # CUDA ignores the rest after an invalid entry
        out.append(match[0])
    return out


def expected_sms(pct: float, total: int) -> int:
    """SMs MPS grants for `pct`: whole TPCs (2 SMs) of the share, as seen on the H200
    (10/25/50/100% of 132 SMs -> 12/32/66/132)."""
    return max(2, int(pct / 100 * total / 2) * 2) if pct < 100 else total


def check_sms(pct: float, granted: int, total: int) -> None:
    """Refuse to record data from a process that did not get its share (e.g. a client that
    cannot reach the daemon silently runs on the whole GPU)."""
    if pct < 100 and granted >= total:
        raise GPUError(f"share {pct:g}% was asked but the process sees all {total} SMs: it is not "
                       "running under the MPS daemon (check CUDA_MPS_PIPE_DIRECTORY)")
    want = expected_sms(pct, total)
    if abs(granted - want) > max(2, round(0.03 * total)):
        raise GPUError(f"share {pct:g}% should give about {want} of {total} SMs, the process sees {granted}")


def total_sms(device_id: int = 0) -> int:
    """SM count of the whole GPU, read through the driver API (no context is created)."""
    cuda = ctypes.CDLL("libcuda.so.1")
    if cuda.cuInit(0) != 0:
        raise GPUError("cuInit failed: no usable CUDA driver")
    dev, n = ctypes.c_int(), ctypes.c_int()
    if cuda.cuDeviceGet(ctypes.byref(dev), device_id) != 0:
        raise GPUError(f"no CUDA device {device_id}")
    cuda.cuDeviceGetAttribute(ctypes.byref(n), 16, dev)  # CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    return n.value


def probe_total_sms(device_id: int = 0) -> int:
    """total_sms in a throw-away process (before any daemon or client exists)."""
    code = f"from harness.device.gpu import total_sms; print(total_sms({device_id}))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUDA_MPS_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    if out.returncode != 0:
        raise GPUError(f"could not read the GPU's SM count: {out.stderr.strip()[-500:]}")
    return int(out.stdout.strip().splitlines()[-1])


def check_gpu(device_id: int = 0) -> None:
    """Raise ConfigError unless an NVIDIA GPU `device_id` and the MPS control tool are usable."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            n = pynvml.nvmlDeviceGetCount()
        finally:
            pynvml.nvmlShutdown()
    except Exception as e:  # noqa: BLE001 - NVMLError and a missing library alike
        raise ConfigError(f"platform=cuda needs a usable NVIDIA GPU, but NVML says: {e}; "
                          "use platform=cpu on this machine") from e
    if not 0 <= device_id < n:
        raise ConfigError(f"platform.device_id={device_id} is not allowed; this machine has GPUs 0..{n - 1}")
    if shutil.which(CONTROL) is None:
        raise ConfigError(f"platform=cuda needs {CONTROL} on PATH (CUDA MPS); use platform=cpu on this machine")


def visible_gpus() -> int:
    """How many GPUs this process may use (0 without NVML)."""
    try:
        return len(gpu_uuids())
    except Exception:  # noqa: BLE001 - no NVML: no GPU to place servers on
        return 0
