"""Sharded tuning clients against a real server pool on loopback (CPU shares)."""

import os
import re
import signal
import threading
import time

import pytest

from harness.config import ModelConf, TunerConf
from harness.jobs import Placement, Share, TaskInfo
from harness.metrics import overlap, read_sessions
from harness.slicetune.clients import ClientSetup, tune_sharded
from harness.slicetune.servers import ServerPool
from harness.slicetune.shard import split, split_budget


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


def test_budget_split_keeps_the_total():
    assert split_budget(100, [["a", "b", "c"], ["d"]]) == [75, 25]
    assert split_budget(10, [["a"], ["b"], ["c"]]) == [4, 3, 3]
    assert split_budget(7, [["a"]] * 5) == [2, 2, 1, 1, 1]
    # whole rounds: 64 trials of 16 over 8 one-task shards -> 4 shards get a round each
    assert split_budget(64, [["t"]] * 8, 16) == [16, 16, 16, 16, 0, 0, 0, 0]
    assert split_budget(100, [["a", "b", "c"], ["d"]], 16) == [80, 20]  # 7 rounds: 5 + 2, the last trimmed
    assert split_budget(40, [["a"], ["b", "c", "d"]], 16) == [16, 24]
    # a round for every shard before a big one gets a second (resnet50, K=8: 38 tasks)
    assert split_budget(128, [["t"] * 10] + [["t"] * 4] * 7, 16) == [16] * 8


def test_a_server_notes_each_session_it_served(tmp_path, monkeypatch):
    from harness.worker.rpc_server import InProcess

    path = tmp_path / "sessions.csv"
    monkeypatch.setenv("SLICETUNE_SESSIONS", str(path))
    monkeypatch.setenv("SLICETUNE_SESSION_TAG", "3")
    InProcess(target=lambda: time.sleep(0.05)).start()
    InProcess(target=lambda: 1 / 0).start()  # a failed session was served too
    (first, second) = read_sessions(str(path))[3]
    assert first[1] - first[0] >= 0.05 and second[0] >= first[1]
    monkeypatch.delenv("SLICETUNE_SESSIONS")
    InProcess(target=lambda: None).start()  # not asked: nothing written
    assert len(path.read_text().splitlines()) == 2
    monkeypatch.setenv("SLICETUNE_SESSIONS", str(tmp_path / "gone" / "sessions.csv"))
    InProcess(target=lambda: None).start()  # cannot be noted: served all the same


@pytest.mark.slow
def test_two_clients_two_servers_survive_a_dead_server(tmp_path, monkeypatch):
    """A server killed mid-run is restarted by the watchdog; the clients finish and measured for real.
    They tune the task modules listed once (their model could not even be loaded)."""
    from tvm.s_tir import meta_schedule as ms

    from harness.worker.compile import compile_model, merge_databases
    from harness.worker.models import load
    from harness.worker.target import make_target
    from harness.worker.tasks import extract, save

    model = ModelConf(name="tiny_mlp")
    target = make_target("cpu", 1)
    extracted, infos = extract(load(model).mod, target)
    modules = str(tmp_path / "tasks.modules.json")
    save(extracted, infos, modules)
    unloadable = ModelConf(name="onnx", path=str(tmp_path / "missing.onnx"))
    # wait=False: the clients start while the servers register, as in +exp=tuning_time
    monkeypatch.chdir(tmp_path)
    sessions = "measure.sessions.csv"  # relative, as under runs_dir=runs: each session runs in a temp dir
    with ServerPool([Share("cpu", 50), Share("cpu", 50)], str(tmp_path / "pool"), wait=False,
                    sessions=sessions) as pool:
        box = {}
        tuner = TunerConf(trials=12, trials_per_round=2, builder_workers=1)
        setup = ClientSetup(unloadable, tuner, task_modules=modules)
        run = threading.Thread(target=lambda: box.update(
            r=tune_sharded(setup, infos, pool, clients=2, work_dir=str(tmp_path))))
        run.start()
        records = [str(tmp_path / f"client{i}" / "database_tuning_record.json") for i in range(2)]
        deadline = time.time() + 300
        while not any(os.path.exists(r) and os.path.getsize(r) for r in records) and time.time() < deadline:
            time.sleep(0.2)
        os.killpg(pool.pids()[0], signal.SIGKILL)  # a server dies while the clients measure
        run.join(600)
        res = box["r"]
        assert pool.ready
        assert len(res.clients) == 2 and all(c.trials_done >= 1 for c in res.clients)
        assert sorted(t.name for c in res.clients for t in c.tasks) == sorted(i.name for i in infos)
        # measured for real through the servers (on the H200 forked sessions once failed them all)
        assert all(sum(r.valid for r in c.rounds) >= 1 for c in res.clients)
        assert sorted(n for s in res.shards for n in s) == sorted(i.name for i in infos)
        assert res.restarted == [0]  # the watchdog brought the dead server back while the clients tuned
        assert pool.registered() == {pool.keys[0]: 2}
    # each candidate measured in a session of its own, on one of the two servers of device 0 (the
    # killed server's last session may be missing: it died serving it, or before it could note it)
    served = read_sessions(sessions)
    assert list(served) == [0] and len(served[0]) >= sum(r.valid for c in res.clients for r in c.rounds) - 1
    assert all(b <= e for b, e in served[0]) and overlap(served[0], 0, time.time())[1] <= 2

    merged = str(tmp_path / "merged")
    assert merge_databases(res.client_dirs, merged) == sum(c.trials_done for c in res.clients)
    db = ms.database.JSONDatabase(work_dir=merged)
    for task in extracted:  # the merged database covers every task
        assert db.query_tuning_record(task.dispatched[0], target, "main") is not None, task.task_name
    art = compile_model(Placement("cpu", 100), model, merged, db)
    assert os.path.getsize(art.path) > 0


def _saved_tasks(tmp_path, name: str):
    from harness.worker.models import load
    from harness.worker.target import make_target
    from harness.worker.tasks import extract, save

    extracted, infos = extract(load(ModelConf(name=name)).mod, make_target("cpu", 1))
    modules = str(tmp_path / "tasks.modules.json")
    save(extracted, infos, modules)
    return infos, modules


@pytest.mark.slow
def test_queue_clients_take_each_task_once_and_continue_after_a_pause(tmp_path):
    """Clients take tasks from the shared queue: every task is tuned by one client to its share of
    the budget, also when the run is paused at a deadline and continued by new processes."""
    from harness.taskqueue import TaskQueue

    infos, modules = _saved_tasks(tmp_path, "tiny_cnn")
    tuner = TunerConf(trials=2 * len(infos), trials_per_round=2, builder_workers=1, scheduler="rolling",
                      population=16, genetic_iters=1, init_min_unmeasured=4)  # a small search: the queue is under test
    setup = ClientSetup(ModelConf(name="tiny_cnn"), tuner, task_modules=modules)
    with ServerPool([Share("cpu", 50), Share("cpu", 50)], str(tmp_path / "pool")) as pool:
        first = tune_sharded(setup, infos, pool, clients=2, work_dir=str(tmp_path), deadline_s=0.1)
        assert not first.complete  # each client stopped after its first round
        held = {e.name: e.client for e in TaskQueue(str(tmp_path / "tasks.queue.json")).entries()}
        res = tune_sharded(setup, infos, pool, clients=2, work_dir=str(tmp_path))
    assert res.complete and len(res.clients) == 2
    rounds = [(i, r) for i, c in enumerate(res.clients) for r in c.rounds]
    per_task = {t.name: sum(r.candidates for _, r in rounds if r.task == t.name) for t in infos}
    # each task its share (a reshape has a single schedule, so it ends at 1), never more
    assert set(per_task.values()) <= {1, 2} and sum(per_task.values()) > len(infos), per_task
    owners: dict[str, set[int]] = {}
    for i, r in rounds:
        owners.setdefault(r.task, set()).add(i)
    assert all(owners[n] == {c} for n, c in held.items() if c is not None)  # kept by who took it first
    assert all(len(o) == 1 for o in owners.values())  # no task tuned by two clients
    assert sorted(n for s in res.shards for n in s) == sorted(t.name for t in infos)
    assert [sorted(t.name for t in c.tasks) for c in res.clients] == [sorted(s) for s in res.shards]
    assert all(len(s) >= 2 for s in res.shards)  # both clients kept taking
    # each client's cost model learned from the other's measurements too
    learned = [re.findall(r"learned from (\d+) records", (tmp_path / f"client{i}" / "tune.log").read_text())
               for i in range(2)]
    assert all(n and int(n[-1]) > 0 for n in learned), learned


def test_a_queue_client_tunes_the_tasks_it_holds_a_round_each_in_turn(tmp_path):
    from harness.device.proc import run_job
    from harness.jobs import Placement, TuneJob
    from harness.layout import tune_step
    from harness.taskqueue import TaskQueue, budgets
    from harness.worker.metaschedule.scheduler import after

    assert after([4, 1, 7], 1) == 4 and after([4, 1, 7], 7) == 1 and after([3], 3) == 3
    infos, modules = _saved_tasks(tmp_path, "tiny_mlp")  # 2 tasks
    queue = TaskQueue(str(tmp_path / "tasks.queue.json")).create(budgets(infos, 4, 2))
    tuner = TunerConf(trials=4, trials_per_round=1, builder_workers=1, scheduler="rolling", max_trials_per_task=2,
                      population=8, init_min_unmeasured=2)
    work = str(tmp_path / "client0")
    job = TuneJob(Placement("cpu", 100), ModelConf(name="tiny_mlp"), tuner, work, builder_timeout_s=60, queue=queue.path,
                  client=0, hold=2, task_modules=modules, compile=False)
    res = run_job("tune", job, tune_step(work), Share("cpu", 100))
    order = [r.task for r in res.rounds]
    assert len(order) == 4 and len(set(order)) == 2
    assert all(a != b for a, b in zip(order, order[1:])), order  # in turn, not one task to its end


def test_a_task_whose_search_ended_stays_ended_in_later_segments(tmp_path):
    """A new segment's search forgets what it measured: a task whose space it had spent (3 of 3
    schedules) would be measured again each segment (stock bert_base: 120 of 665 trials)."""
    from types import SimpleNamespace

    from harness.jobs import Progress, RoundRecord
    from harness.records import read_json
    from harness.worker.metaschedule.recorder import Recorder
    from harness.worker.metaschedule.scheduler import Rolling

    path, names = str(tmp_path / "progress.json"), ["small", "big", "failed"]
    rounds = [RoundRecord(round=0, task="small", elapsed_s=1.0, trials_done=3, candidates=3, valid=3, round_best_ms=1.0,
                          est_model_ms=None, at=0.0)]
    rec = Recorder(names, [1.0] * 3, Progress(trials_done=3, rounds=rounds), path, None)
    first = Rolling(names, rec, cap=64)
    tasks = [SimpleNamespace(is_terminated=t) for t in (True, False, True)]
    assert [first._open(tasks, i) for i in range(3)] == [False, True, False]
    assert read_json(path, Progress).ended == ["small"]  # a task that measured nothing may be tried again

    rec2 = Recorder(names, [1.0] * 3, read_json(path, Progress), path, None)  # the next segment
    fresh = [SimpleNamespace(is_terminated=False)] * 3
    assert [Rolling(names, rec2, cap=64)._open(fresh, i) for i in range(3)] == [False, True, True]
