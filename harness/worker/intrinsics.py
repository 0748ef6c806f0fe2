"""Register only the tensor intrinsics the target can use.

MetaSchedule's TuneContext and LocalBuilder's build function import `tvm.s_tir.tensor_intrin`,
which parses the TVMScript of every architecture's intrinsics at import: on this project's
2-core machine under load, cuda 65 s, rocm 13 s, arm 8 s, hexagon 5 s, x86 1.4 s, paid by every
tuning process and every fresh builder worker. `only_for(kind)` imports the target's own and
marks the others imported without running them (they register intrinsics no schedule for this
target can name). Used with our fixes (the persistent builder); stock runs import everything.
"""

from __future__ import annotations

import importlib
import platform
import sys
import types

ARCHS = ("cuda", "rocm", "hexagon", "arm_cpu", "x86", "riscv_cpu")
PACKAGE = "tvm.s_tir.tensor_intrin"


def needed(kind: str) -> tuple[str, ...]:
    """The intrinsics modules a TVM target kind (cuda, llvm) can use on this machine."""
    if kind == "cuda":
        return ("cuda",)
    machine = platform.machine().lower()
    if machine.startswith(("arm", "aarch64")):
        return ("arm_cpu",)
    if machine.startswith("riscv"):
        return ("riscv_cpu",)
    return ("x86",)


def only_for(kind: str) -> None:
    """Before anything imports the package: the target kind's intrinsics only (a no-op once
    the package is imported)."""
    if PACKAGE in sys.modules:
        return
    keep = needed(kind)
    for arch in ARCHS:
        if arch not in keep:
            sys.modules.setdefault(f"{PACKAGE}.{arch}", types.ModuleType(f"{PACKAGE}.{arch}"))
    importlib.import_module(PACKAGE)
