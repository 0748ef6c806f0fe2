"""The warm builder's worker steps (harness.worker.metaschedule.builder), on CPU."""

import os
import subprocess
import sys

import pytest
import tvm

from harness.worker.metaschedule import builder


@pytest.mark.slow  # the worker imports the CUDA intrinsics (about 20 s)
def test_cuda_builder_workers_see_no_gpu():
    code = ("import os; from harness.worker.metaschedule.builder import warm_worker; warm_worker('cuda'); "
            "print(repr(os.environ['CUDA_VISIBLE_DEVICES']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"})
    assert out.stdout.strip().splitlines()[-1] == "''"


def test_a_candidate_is_built_in_its_target_scope(monkeypatch):
    """There TVM's CUDA compile callback reads the configured arch instead of asking GPU 0; the
    build itself runs in every tuning test."""
    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    args = (None, None, None, target, None)
    seen = []
    monkeypatch.setattr(builder, "_worker_func", lambda *a: seen.append(tvm.target.Target.current()) or "built")
    assert builder._build(args) == "built" and seen[0].same_as(target)
    assert tvm.target.Target.current(allow_none=True) is None  # the scope ends with the build
