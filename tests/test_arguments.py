"""Runner inputs: integer tensors (indices) are zeros, so a gather never reads out of bounds."""

import numpy as np
import pytest
import tvm

from harness.worker.metaschedule import arguments


def test_integer_inputs_are_valid_indices_and_floats_random():
    (idx, x), = arguments.local(tvm.cpu(), [["TENSOR", "int32", [128]], ["TENSOR", "float32", [64, 8]]], 1)
    assert not np.any(idx.numpy()) and idx.numpy().dtype == np.int32
    assert np.unique(x.numpy()).size > 1


@pytest.mark.slow
def test_a_gather_tunes_without_a_failed_measurement(tmp_path):
    """A real LocalRunner measures an embedding lookup whose indices would be random by default."""
    from tvm.s_tir import meta_schedule as ms
    from tvm.script import tirx as T

    @T.prim_func(s_tir=True)
    def take(w: T.Buffer((30000, 16), "float32"), i: T.Buffer((8,), "int32"), o: T.Buffer((8, 16), "float32")):
        for a, b in T.grid(8, 16):
            with T.sblock("take"):
                va, vb = T.axis.remap("SS", [a, b])
                o[va, vb] = w[i[va], vb]

    from harness.worker.metaschedule import builder as builders

    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    runner = ms.runner.LocalRunner(timeout_sec=30, f_alloc_argument=arguments.local)
    db = ms.tune_tir(take, target, str(tmp_path), max_trials_global=4, num_trials_per_iter=4,
                     builder=builders.create("persistent", 1, 60.0, "llvm"), runner=runner,
                     strategy="replay-trace")  # the runner is under test, not the search
    recs = db.get_all_tuning_records()
    assert recs and all(r.run_secs for r in recs)
