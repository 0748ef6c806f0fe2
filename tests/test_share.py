"""Shares on the CPU: core sets, and what a child process really sees."""

import json
import os
import subprocess
import sys

import pytest

from harness.config import InferConf, ModelConf
from harness.device.proc import NO_TORCH, spawn
from harness.device.share import cpu_cores_for, launch_for, partition_cores, physical_cores, split_host
from harness.jobs import Placement, ProbeJob, Share, TasksJob, VendorJob, needs_torch


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


def test_processes_that_need_no_torch_cannot_import_it(tmp_path):
    """tvm_ffi imports torch whenever it is installed (seconds per process): slicetune's processes
    run without it, unless their job builds a torch network or times a vendor model."""
    code = ("import json, sys\ntry:\n    import torch\n    got = 'imported'\n"
            "except ImportError as e:\n    got = str(e)\n"
            "json.dump({'got': got, 'path': sys.path}, open(sys.argv[1], 'w'))")
    seen = {}
    for torch in (False, True):
        out = tmp_path / f"torch{torch}.json"
        p = spawn([sys.executable, "-c", code, str(out)], Share("cpu", 100), str(tmp_path / "child.log"),
                  torch=torch)
        assert p.wait(timeout=60) == 0
        seen[torch] = json.loads(out.read_text())
    assert "kept out of this slicetune process" in seen[False]["got"]
    assert NO_TORCH in seen[False]["path"] and NO_TORCH not in seen[True]["path"]
    assert "kept out" not in seen[True]["got"]


def test_which_jobs_need_torch():
    zoo, torch_model = ModelConf(name="bert_base"), ModelConf(name="torch", ctor="torchvision.models.resnet18")
    here = Placement("cpu")
    assert needs_torch("tasks", TasksJob(here, torch_model))
    assert not needs_torch("tasks", TasksJob(here, zoo))
    assert not needs_torch("probe", ProbeJob(1))
    assert needs_torch("vendor", VendorJob(here, zoo, {}, InferConf()))


def test_physical_cores_counts_only_the_given_cores(tmp_path):
    """Search threads of a process on part of a host (side_by_side.sh) count its own cores."""
    code = "from harness.device.share import physical_cores; print(physical_cores())"
    one = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert one.stdout.strip() == "1"
    assert 1 <= physical_cores() <= len(os.sched_getaffinity(0))


def test_host_split_keeps_hyperthread_siblings_together():
    """Hyperthread siblings (here numbered c and c+32, as many hosts number them) go to one part."""
    siblings = {c: ("0", str(c % 32)) for c in range(64)}
    parts = split_host(4, list(range(64)), siblings.get)
    assert parts[0] == list(range(8)) + list(range(32, 40))
    assert sorted(c for p in parts for c in p) == list(range(64))
    assert split_host(2, [0, 1, 2], {0: "a", 1: "b", 2: "c"}.get) == [[0], [1]]
    with pytest.raises(ValueError, match="3 parts need 3 physical cores"):
        split_host(3, [0, 1], {0: "a", 1: "a"}.get)
