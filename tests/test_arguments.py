"""Runner inputs: integer tensors (indices) are zeros, so a gather never reads out of bounds."""

import multiprocessing as mp

import numpy as np
import pytest
import tvm

from harness.worker.metaschedule import arguments


def test_integer_inputs_are_valid_indices_and_floats_random():
    (idx, x), = arguments.local(tvm.cpu(), [["TENSOR", "int32", [128]], ["TENSOR", "float32", [64, 8]]], 1)
    assert not np.any(idx.numpy()) and idx.numpy().dtype == np.int32
    assert np.unique(x.numpy()).size > 1


def _tune_a_gather(work_dir: str) -> None:
    from tvm.s_tir import meta_schedule as ms
    from tvm.script import tirx as T

    from harness.worker.metaschedule import builder as builders

    @T.prim_func(s_tir=True)
    def take(w: T.Buffer((30000, 16), "float32"), i: T.Buffer((8,), "int32"), o: T.Buffer((8, 16), "float32")):
        for a, b in T.grid(8, 16):
            with T.sblock("take"):
                va, vb = T.axis.remap("SS", [a, b])
                o[va, vb] = w[i[va], vb]

    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    runner = ms.runner.LocalRunner(timeout_sec=30, f_alloc_argument=arguments.local)
    db = ms.tune_tir(take, target, work_dir, max_trials_global=4, num_trials_per_iter=4,
                     builder=builders.create("persistent", 1, 60.0, target), runner=runner,
                     strategy="replay-trace")  # the runner is under test, not the search
    recs = db.get_all_tuning_records()
    assert recs and all(r.run_secs for r in recs)


@pytest.mark.slow
def test_a_gather_tunes_without_a_failed_measurement(tmp_path):
    """A real LocalRunner measures an embedding lookup whose indices would be random by default.
    Tuned in a fresh interpreter, as a worker tunes: after the suite's earlier imports (scipy's
    among them) the same tuning took twice as long (123 s against 59 s)."""
    child = mp.get_context("spawn").Process(target=_tune_a_gather, args=(str(tmp_path),))
    child.start()
    child.join(timeout=600)
    assert child.exitcode == 0, "the tuning failed (its traceback is in the captured stderr)"
