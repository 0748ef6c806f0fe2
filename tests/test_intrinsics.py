"""With our fixes a tuning process registers only its target's tensor intrinsics (a fresh
interpreter each: the choice holds until the package is first imported)."""

import subprocess
import sys

CHECK = """
import time
from harness.worker.intrinsics import only_for
t0 = time.perf_counter()
only_for({kind!r})
from tvm.s_tir import TensorIntrin
have = lambda n: TensorIntrin.get(n, allow_missing=True) is not None
print(have("dot_16x4_vnni"), have("wmma_sync_16x16x16_f16f16f32"))
"""


def registered(kind: str) -> str:
    out = subprocess.run([sys.executable, "-c", CHECK.format(kind=kind)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_llvm_gets_the_cpu_intrinsics_only():
    assert registered("llvm") == ["True", "False"]
