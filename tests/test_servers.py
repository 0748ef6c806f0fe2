"""The tuning server pool: a real TVM RPC tracker and real servers on loopback, on CPU shares."""

import os
import signal
import time

import psutil
import pytest

from harness.jobs import Share
from harness.slicetune.servers import PoolError, ServerPool, plan_servers, server_key


def test_keys_and_placement():
    specs = plan_servers([Share("cuda", 50), Share("cuda", 50), Share("cuda", 25)], devices=[0, 1])
    assert [(s.key, s.device_id) for s in specs] == [("cuda0-50pct", 0), ("cuda1-50pct", 1), ("cuda0-25pct", 0)]
    assert server_key(Share("cpu", 100), 0) == "cpu0-100pct"


def test_empty_pool_is_refused(tmp_path):
    with pytest.raises(PoolError):
        ServerPool([], str(tmp_path))


def test_pool_registers_restarts_and_cleans_up(tmp_path):
    with ServerPool([Share("cpu", 50), Share("cpu", 50)], str(tmp_path)) as pool:
        assert pool.registered() == {"cpu0-50pct": 2}
        sets = [set(psutil.Process(pid).cpu_affinity()) for pid in pool.pids()[:2]]
        assert all(len(s) == max(1, (len(os.sched_getaffinity(0)) + 1) // 2) for s in sets)
        if len(os.sched_getaffinity(0)) > 1:
            assert not sets[0] & sets[1], "side by side servers share cores"
        os.killpg(pool.pids()[0], signal.SIGKILL)  # a server dies mid-run
        deadline = time.time() + 10
        while pool.dead() != [0] and time.time() < deadline:
            time.sleep(0.1)
        assert pool.restart_dead() == [0]
        assert pool.registered() == {"cpu0-50pct": 2}
        everything = pool.pids()
    gone, alive = psutil.wait_procs([psutil.Process(p) for p in everything if psutil.pid_exists(p)], timeout=10)
    assert not alive


def test_only_loopback_binds_quietly(tmp_path, caplog):
    import logging

    from harness.slicetune.servers import ServerPool, exposed

    assert exposed("127.0.0.1") is None and exposed("::1") is None and exposed("localhost") is None
    for host in ("0.0.0.0", "10.1.2.3", "gpu-node-7"):
        assert "trusted network" in exposed(host)
    with caplog.at_level(logging.WARNING, logger="harness"):
        ServerPool([Share("cpu", 100)], str(tmp_path), host="0.0.0.0")  # not started
    assert "listen on 0.0.0.0, not loopback" in caplog.text
