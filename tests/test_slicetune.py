"""Sharded tuning clients against a real server pool on loopback (CPU shares)."""

import os
import signal
import threading
import time

import pytest

from harness.config import ModelConf, TunerConf
from harness.proc import run_job
from harness.servers import ServerPool
from harness.shard import merge_databases, split
from harness.share import Placement, Share
from harness.tasks import TaskInfo
from harness.tune import RPCTarget, TuneJob, TuneResult


def test_lpt_split_balances_cost():
    tasks = [TaskInfo(n, f, 1) for n, f in [("a", 100), ("b", 60), ("c", 50), ("d", 40), ("e", 1)]]
    shards = split(tasks, 2)
    cost = {t.name: t.flops for t in tasks}
    # greedy: a->0, b->1, c->1, d->0, e->1 (LPT is within 4/3 of the best split, 126)
    assert sorted(sum(cost[n] for n in s) for s in shards) == [111, 140]
    assert sorted(n for s in shards for n in s) == ["a", "b", "c", "d", "e"]


def test_round_robin_and_bad_input():
    tasks = [TaskInfo(n, 1.0, 1) for n in "abcde"]
    assert split(tasks, 2, "round_robin") == [["a", "c", "e"], ["b", "d"]]
    assert split(tasks, 8)[5:] == [[], [], []]
    with pytest.raises(ValueError, match="shards=0"):
        split(tasks, 0)
    with pytest.raises(ValueError, match="split='random'"):
        split(tasks, 2, "random")


@pytest.mark.slow
def test_two_clients_two_servers_survive_a_dead_server(tmp_path):
    from tvm.s_tir import meta_schedule as ms

    from harness.models import load
    from harness.target import make_target
    from harness.tasks import extract
    from harness.tune import compile_model

    model = ModelConf(name="tiny_mlp")
    target = make_target("cpu", 1)
    extracted, infos = extract(load(model).mod, target)
    shards = split(infos, 2)
    assert all(shards)
    with ServerPool([Share("cpu", 50), Share("cpu", 50)], str(tmp_path / "pool")) as pool:
        host, port = pool.tracker
        rpc = RPCTarget(host, port, pool.keys[0], servers=2, session_timeout_s=30)
        dirs = [str(tmp_path / f"client{i}") for i in range(2)]
        results = [None, None]

        def client(i):
            job = TuneJob(place=Placement("cpu", 100), model=model, work_dir=dirs[i], builder_timeout_s=60,
                          tuner=TunerConf(trials=6, trials_per_round=2, builder_workers=1), tasks=shards[i],
                          rpc=rpc, compile=False)
            results[i] = run_job("tune", job, TuneResult, Share("cpu", 100), os.path.join(dirs[i], "tune.log"))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        records = [os.path.join(d, "database_tuning_record.json") for d in dirs]
        deadline = time.time() + 300
        while not any(os.path.exists(r) and os.path.getsize(r) for r in records) and time.time() < deadline:
            time.sleep(0.2)
        os.killpg(pool.pids()[0], signal.SIGKILL)  # a server dies while the clients measure
        for t in threads:
            t.join(600)
        assert all(r is not None and r.trials_done >= 1 for r in results), "a client did not finish"
        assert pool.restart_dead() == [0]
        assert pool.registered() == {pool.keys[0]: 2}

    merged = str(tmp_path / "merged")
    assert merge_databases(dirs, merged) == sum(r.trials_done for r in results)
    db = ms.database.JSONDatabase(work_dir=merged)
    for task in extracted:  # the merged database covers every task
        assert db.query_tuning_record(task.dispatched[0], target, "main") is not None, task.task_name
    art = compile_model(Placement("cpu", 100), model, str(tmp_path / "merged"), db)
    assert os.path.getsize(art.path) > 0
