"""Servers on other hosts, on loopback: a tracker and two server groups started by
`python -m harness.servers`, each on its own core, serving a sweep whose clients use that tracker."""

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import results as R
from harness.config import ConfigError, InferConf, ModelConf, SliceTuneConf, SweepConf, TunerConf
from harness.experiments import run_sweep
from harness.jobs import Share
from harness.slicetune.servers import PoolError, RemotePool, free_port, registered, server_key
from harness.validation import address, validate
from tests.conftest import ROOT


def _start(args: list[str], log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.servers", *args], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(fn, timeout_s: float = 120.0):
    deadline = time.time() + timeout_s
    while not (got := fn()) and time.time() < deadline:
        time.sleep(0.3)
    return got


def test_tracker_address_is_checked():
    assert address("slicetune.tracker", "10.0.0.5:9190") == ("10.0.0.5", 9190)
    for bad in ("10.0.0.5", "host:port", ":9190", "h:70000"):
        with pytest.raises(ConfigError, match="slicetune.tracker=.*HOST:PORT"):
            address("slicetune.tracker", bad)
    cfg = SweepConf(experiment="tuning_time", slicetune=SliceTuneConf(tracker="nowhere"))
    with pytest.raises(ConfigError, match="'nowhere'"):
        validate(cfg)
    with pytest.raises(ConfigError, match="not allowed with \\+exp=op_interdependency"):
        validate(SweepConf(experiment="op_interdependency", slicetune=SliceTuneConf(tracker="h:9190")))
    assert server_key(Share("cuda", 50), 1, "node7") == "node7-cuda1-50pct"


@pytest.mark.slow
def test_two_server_groups_on_one_tracker_serve_a_sweep(tmp_path):
    port = free_port()
    cores = sorted(os.sched_getaffinity(0))
    procs = []
    with open(tmp_path / "servers.log", "ab") as log:
        try:
            procs.append(_start(["tracker", "--port", str(port)], log))
            for name, core in (("a", cores[0]), ("b", cores[-1])):
                procs.append(subprocess.Popen(
                    ["taskset", "-c", str(core), sys.executable, "-m", "harness.servers", "serve", "--tracker",
                     f"127.0.0.1:{port}", "--platform", "cpu", "--shares", "100", "--name", name,
                     "--log-dir", str(tmp_path / name)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True))
            want = {"a-cpu0-100pct": 1, "b-cpu0-100pct": 1}
            assert _wait_for(lambda: registered("127.0.0.1", port) == want), (tmp_path / "servers.log").read_text()

            # a cell must name as many servers of its share as the tracker has
            with pytest.raises(PoolError, match="has 2 servers at 100%.*asks for 1"):
                RemotePool(("127.0.0.1", port), Share("cpu", 100), 1, str(tmp_path)).wait_registered()
            with pytest.raises(PoolError, match="has 0 server.*at 50%"):
                RemotePool(("127.0.0.1", port), Share("cpu", 50), 1, str(tmp_path), start_timeout_s=1).wait_registered()

            cfg = SweepConf(model=ModelConf(name="tiny_mlp"), tuner=TunerConf(trials=8, trials_per_round=4),
                            infer=InferConf(warmup=1, number=5, repeats=3), experiment="tuning_time", name="remote",
                            results_dir=str(tmp_path / "results"), runs_dir=str(tmp_path / "runs"),
                            slicetune=SliceTuneConf(baseline=False, clients=[2], servers=[2], server_shares=[100],
                                                    builders=["persistent"], tracker=f"127.0.0.1:{port}"))
            summary = run_sweep(cfg)
            assert len(summary.ran) == 1 and not summary.paused
            row, = R.read_rows(str(tmp_path / "results" / "cpu" / "remote" / R.TUNING_TIME))
            assert (row["clients"], row["servers"]) == ("2", "2") and int(row["valid_trials"]) >= 8
            # the clients measured on both groups' servers
            assert all(list((tmp_path / n).glob("server0-*.log")) for n in "ab")
            assert registered("127.0.0.1", port) == want  # the sweep started and stopped none of them
        finally:
            for p in reversed(procs):
                p.send_signal(signal.SIGTERM)
            codes = [p.wait(timeout=30) for p in procs[1:]]
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
    assert codes == [0, 0]
    out = (tmp_path / "servers.log").read_text()
    assert "serving 1 server(s) on tracker" in out and "a-cpu0-100pct" in out and "stopped" in out
