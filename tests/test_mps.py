"""MPS: what needs no GPU runs everywhere; the daemon's life cycle and real shares need one."""

import os
import subprocess
import sys

import pytest

from harness.device.gpu import GPUError, check_sms, expected_sms, probe_total_sms
from harness.device.mps import MPSDaemon, MPSError, client_env, daemon_env, parse_pids
from harness.jobs import Placement
from tests.conftest import ROOT, has_gpu

gpu = pytest.mark.skipif(not has_gpu(), reason="needs an NVIDIA GPU with CUDA MPS (run on the GPU host)")


def test_client_environment():
    env = client_env(25, "/tmp/st")
    assert env == {"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": "25", "CUDA_MPS_PIPE_DIRECTORY": "/tmp/st/pipe",
                   "CUDA_MPS_LOG_DIRECTORY": "/tmp/st/log"}
    assert client_env(12.5, None) == {"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": "12.5"}
    assert daemon_env("/x") == {"CUDA_MPS_PIPE_DIRECTORY": "/x/pipe", "CUDA_MPS_LOG_DIRECTORY": "/x/log"}


def test_expected_sms_match_the_h200():
    # read back on the H200: 10/25/50/100% -> 12/32/66/132 SMs
    assert [expected_sms(p, 132) for p in (10, 25, 50, 100)] == [12, 32, 66, 132]


def test_sm_check():
    check_sms(50, 66, 132)
    check_sms(10, 12, 132)
    with pytest.raises(GPUError, match="not running under the MPS daemon"):
        check_sms(25, 132, 132)
    with pytest.raises(GPUError, match="should give about 32"):
        check_sms(25, 60, 132)


def test_placement_checks_only_cuda():
    from harness.worker.target import grant

    assert grant(Placement("cpu", 50)).unit == "cores"


def test_parse_answers():
    assert parse_pids("") == []
    assert parse_pids("1234\n5678\n") == [1234, 5678]
    assert parse_pids("Server 42 not found\n") == [42]


def test_long_pipe_path_is_refused():
    with pytest.raises(MPSError, match="keep it under"):
        MPSDaemon("/tmp/" + "x" * 120)


def test_status_without_daemon(tmp_path):
    r = subprocess.run([sys.executable, "-m", "harness.device.mps", "status", "--dir", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "no MPS daemon answers" in r.stdout
    r = subprocess.run([sys.executable, "-m", "harness.device.mps", "stop", "--dir", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0


def test_stale_pipe_directory_is_not_a_daemon(tmp_path):
    d = MPSDaemon(str(tmp_path))
    os.makedirs(d.pipe)
    open(os.path.join(d.pipe, "control"), "w").close()
    assert not d.healthy()


SM_PROBE = ("import tvm, sys; d = tvm.cuda(0); assert d.exist; print(d.multi_processor_count)")


@gpu
def test_daemon_life_cycle_and_shares(tmp_path):
    mps_dir = "/tmp/st-test-mps"
    total = probe_total_sms()
    with MPSDaemon(mps_dir) as d:
        assert d.healthy() and d.started
        with MPSDaemon(mps_dir) as again:  # a healthy daemon is reused, not restarted
            assert again.reused
        for pct in (10, 25, 50, 100):
            env = {**os.environ, **client_env(pct, mps_dir)}
            out = subprocess.run([sys.executable, "-c", SM_PROBE], env=env, capture_output=True, text=True,
                                 timeout=120)
            assert out.returncode == 0, out.stderr
            sms = int(out.stdout.split()[-1])
            print(f"MPS {pct}% -> {sms} of {total} SMs")
            check_sms(pct, sms, total)
        assert d.healthy()
    assert not MPSDaemon(mps_dir).healthy()


# --- several GPUs: one daemon each, pinned by UUID (placement logic; no GPU needed) ---

def test_each_gpu_gets_its_own_daemon_directory_and_uuid():
    from harness.device.mps import MPSDaemons, dir_for

    assert dir_for("/tmp/st-mps", 0, 1) == "/tmp/st-mps"
    assert [dir_for("/tmp/st-mps", i, 2) for i in range(2)] == ["/tmp/st-mps-g0", "/tmp/st-mps-g1"]
    ds = MPSDaemons("/tmp/st-mps", ["GPU-aaa", "GPU-bbb"]).daemons
    envs = [d.env() for d in ds]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["GPU-aaa", "GPU-bbb"]
    assert len({e["CUDA_MPS_PIPE_DIRECTORY"] for e in envs}) == 2


def test_cuda_visible_devices_selects_uuids_by_index_or_prefix():
    from harness.device.gpu import visible_uuids

    u = ["GPU-aaa1", "GPU-bbb2", "GPU-ccc3"]
    assert visible_uuids(u, None) == u
    assert visible_uuids(u, "2,0") == ["GPU-ccc3", "GPU-aaa1"]
    assert visible_uuids(u, "GPU-bbb") == ["GPU-bbb2"]
    assert visible_uuids(u, "1,7,0") == ["GPU-bbb2"]  # CUDA stops at an invalid entry
    assert visible_uuids(u, "") == []


def test_pool_pins_each_server_to_its_gpu_and_daemon(monkeypatch):
    from harness.jobs import Share
    from harness.slicetune.servers import ServerPool

    shares = [Share("cuda", 50)] * 4
    pool = ServerPool(shares, "/tmp/unused", "/tmp/st-mps", devices=[0, 1], gpu_uuids=["GPU-aaa", "GPU-bbb"])
    got = [pool.placement(s) for s in pool.specs]
    assert [d for d, _ in got] == ["/tmp/st-mps-g0", "/tmp/st-mps-g1"] * 2
    assert [e["CUDA_VISIBLE_DEVICES"] for _, e in got] == ["GPU-aaa", "GPU-bbb"] * 2
    assert pool.keys == ["cuda0-50pct", "cuda1-50pct"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    one = ServerPool(shares[:2], "/tmp/unused", "/tmp/st-mps")
    assert [one.placement(s) for s in one.specs] == [("/tmp/st-mps", {"CUDA_VISIBLE_DEVICES": "0"})] * 2
    # a sweep pinned to one GPU of several (benchmarks/side_by_side.sh): its servers keep that pin
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbb")
    assert [one.placement(s) for s in one.specs] == [("/tmp/st-mps", None)] * 2
