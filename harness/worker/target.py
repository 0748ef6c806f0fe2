"""The device as this worker process sees it: its TVM target, device, and what it was granted."""

from __future__ import annotations

import os

import tvm
from tvm_ffi import get_global_func

from harness.device.gpu import check_sms
from harness.device.share import cpu_name
from harness.jobs import Grant, Placement


def make_target(platform: str, units: int, device_id: int = 0):
    """`units`: cores granted (cpu); ignored on cuda, where MPS limits SMs, not the code."""
    host = {
        "kind": "llvm",
        "mtriple": get_global_func("tvm.codegen.llvm.GetDefaultTargetTriple")(),
        "mcpu": get_global_func("tvm.codegen.llvm.GetHostCPUName")(),
    }
    if platform == "cpu":
        return tvm.target.Target({**host, "num-cores": int(units)})
    if platform == "cuda":
        dev = _cuda(device_id)
        major, minor = str(dev.compute_version).split(".")
        cuda = {
            "kind": "cuda",
            "arch": f"sm_{major}{minor}",
            "max_threads_per_block": int(dev.max_threads_per_block),
            "max_shared_memory_per_block": int(dev.max_shared_memory_per_block),
            "thread_warp_size": int(dev.warp_size),
            "registers_per_block": 65536,
        }
        return tvm.target.Target(cuda, host=tvm.target.Target(host))
    raise ValueError(f"unknown platform {platform!r}")


def _cuda(device_id: int):
    dev = tvm.cuda(device_id)
    if not dev.exist:
        raise RuntimeError(f"CUDA device {device_id} is not visible to this process")
    return dev


def tvm_device(platform: str, device_id: int = 0):
    return tvm.cpu(0) if platform == "cpu" else tvm.cuda(device_id)


def read_grant(platform: str, device_id: int = 0) -> Grant:
    """Read back, inside the process, what it was granted."""
    if platform == "cpu":
        return Grant(len(os.sched_getaffinity(0)), "cores", cpu_name())
    if platform == "cuda":
        dev = _cuda(device_id)
        return Grant(int(dev.multi_processor_count), "SMs", str(dev.device_name))
    raise ValueError(f"unknown platform {platform!r}")


def grant(place: Placement) -> Grant:
    """Read back the grant; on cuda, refuse one that does not match the share."""
    g = read_grant(place.platform, place.device_id)
    if place.platform == "cuda" and place.total_units:
        check_sms(place.pct, g.units, place.total_units)
    return g
