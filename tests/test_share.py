"""Shares on the CPU: core sets, and what a child process really sees."""

import json
import os
import sys

import pytest

from harness.device.proc import spawn
from harness.device.share import cpu_cores_for, launch_for, partition_cores
from harness.jobs import Share


def test_core_set_size():
    cores = list(range(8))
    assert cpu_cores_for(100, cores) == cores
    assert cpu_cores_for(50, cores) == [0, 1, 2, 3]
    assert cpu_cores_for(25, cores) == [0, 1]
    assert cpu_cores_for(10, cores) == [0]  # ceil(0.8)
    assert cpu_cores_for(1, cores) == [0]  # never zero cores
    assert cpu_cores_for(30, [5, 3, 9]) == [3]


def test_launch_sets_threads_and_affinity():
    launch = launch_for(Share("cpu", 50), cores=[3, 2])
    assert launch.cores == [2, 3]
    assert launch.env["TVM_NUM_THREADS"] == "2"
    assert launch_for(Share("cpu", 100)).cores == sorted(os.sched_getaffinity(0))


def test_side_by_side_shares_get_disjoint_cores():
    assert partition_cores([50, 50], list(range(8))) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert partition_cores([25, 25, 50], list(range(8))) == [[0, 1], [2, 3], [4, 5, 6, 7]]
    assert partition_cores([50, 50], [0, 1]) == [[0], [1]]
    assert partition_cores([100, 50], [0, 1]) == [[0, 1], [0]]  # over-subscribed: wraps


def test_cuda_launch_sets_mps_percentage():
    env = launch_for(Share("cuda", 25), mps_dir="/tmp/x").env
    assert env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "25"
    assert env["CUDA_MPS_PIPE_DIRECTORY"] == "/tmp/x/pipe"


@pytest.mark.parametrize("pct", [50, 100])
def test_child_sees_the_cores_it_was_given(tmp_path, pct):
    avail = sorted(os.sched_getaffinity(0))
    want = cpu_cores_for(pct, avail)
    out = tmp_path / "out.json"
    code = ("import json, os, sys; from harness.worker.target import read_grant; g = read_grant('cpu'); "
            "json.dump({'aff': sorted(os.sched_getaffinity(0)), 'units': g.units, "
            "'threads': os.environ['TVM_NUM_THREADS']}, open(sys.argv[1], 'w'))")
    p = spawn([sys.executable, "-c", code, str(out)], Share("cpu", pct), str(tmp_path / "child.log"))
    assert p.wait(60) == 0, (tmp_path / "child.log").read_text()
    seen = json.loads(out.read_text())
    assert seen["aff"] == want
    assert seen["units"] == len(want)
    assert seen["threads"] == str(len(want))


def test_grant_in_this_process():
    from harness.worker.target import read_grant

    g = read_grant("cpu")
    assert g.unit == "cores" and g.units == len(os.sched_getaffinity(0)) and g.device


def test_core_allocator_keeps_concurrent_runs_apart():
    from harness.device.share import CoreAllocator

    alloc = CoreAllocator([0, 1, 2, 3])
    a, b = alloc.take(50), alloc.take(50)
    assert (a, b) == ([0, 1], [2, 3])
    alloc.give(a)
    assert alloc.take(25) == [0]
    assert alloc.take(100) == [0, 1, 2, 3]  # over-subscribed: shares the least used first
