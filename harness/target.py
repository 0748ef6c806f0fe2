"""The TVM target of a share, built from the device the process actually sees."""

from __future__ import annotations


def make_target(platform: str, units: int, device_id: int = 0):
    """`units`: cores granted (cpu); ignored on cuda, where MPS limits SMs, not the code."""
    import tvm
    from tvm_ffi import get_global_func

    host = {
        "kind": "llvm",
        "mtriple": get_global_func("tvm.codegen.llvm.GetDefaultTargetTriple")(),
        "mcpu": get_global_func("tvm.codegen.llvm.GetHostCPUName")(),
    }
    if platform == "cpu":
        return tvm.target.Target({**host, "num-cores": int(units)})
    if platform == "cuda":
        dev = tvm.cuda(device_id)
        if not dev.exist:
            raise RuntimeError(f"CUDA device {device_id} is not visible to this process")
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


def tvm_device(platform: str, device_id: int = 0):
    import tvm

    return tvm.cpu(0) if platform == "cpu" else tvm.cuda(device_id)
