"""The shared task queue of a Slice-Tune run: budgets, taking, holders kept across processes."""

from __future__ import annotations

import multiprocessing as mp

from harness.jobs import TaskInfo
from harness.taskqueue import Entry, TaskQueue, budgets

TASKS = [TaskInfo("small", 10, 1), TaskInfo("big", 1000, 2), TaskInfo("mid", 100, 3), TaskInfo("none", 0, 1)]


def test_budgets_split_evenly_costliest_first():
    assert [(e.name, e.trials) for e in budgets(TASKS, 256)] == [("big", 64), ("mid", 64), ("small", 64), ("none", 64)]
    # an uneven budget: every task its share, the last what is left
    assert [e.trials for e in budgets(TASKS, 10)] == [3, 3, 3, 1]
    # a share per task given: tasks past the budget are left out
    assert [(e.name, e.trials) for e in budgets(TASKS, 40, per_task=16)] == [("big", 16), ("mid", 16), ("small", 8)]
    assert budgets([], 64) == []


def test_take_in_order_until_none_left(tmp_path):
    q = TaskQueue(str(tmp_path / "q.json")).create(budgets(TASKS, 64))
    assert q.take(0).name == "big" and q.take(1).name == "mid" and q.take(0).name == "small"
    assert [e.name for e in q.held(0)] == ["big", "small"] and [e.name for e in q.held()] == ["big", "mid", "small"]
    assert q.take(1).name == "none" and q.take(0) is None


def test_a_task_given_up_goes_to_another_client(tmp_path):
    path = str(tmp_path / "q.json")
    q = TaskQueue(path).create(budgets(TASKS, 64))
    assert q.take(0).name == "big"
    q.give_up(1, "big")  # not its task: nothing happens
    assert [e.name for e in q.held(0)] == ["big"]
    q.give_up(0, "big")
    assert q.held(0) == [] and q.take(0).name == "mid"  # not back to the client that gave it up
    assert q.take(1).name == "big"
    assert TaskQueue(path).entries()[0].gave_up == [0]  # kept in the file, for a continued run


def test_a_continued_run_keeps_its_holders(tmp_path):
    path = str(tmp_path / "q.json")
    TaskQueue(path).create(budgets(TASKS, 64)).take(3)
    again = TaskQueue(path).create([Entry("other", 5)])  # the run continues: the file is kept
    assert [(e.name, e.client) for e in again.entries()][:2] == [("big", 3), ("mid", None)]


def _take_all(path: str, client: int, out) -> None:
    q = TaskQueue(path)
    while (e := q.take(client)) is not None:
        out.put((client, e.name))


def test_processes_never_take_the_same_task(tmp_path):
    path = str(tmp_path / "q.json")
    TaskQueue(path).create([Entry(f"t{i}", 1) for i in range(60)])
    out = mp.get_context("fork").Queue()
    procs = [mp.get_context("fork").Process(target=_take_all, args=(path, c, out)) for c in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    taken = [out.get(timeout=5) for _ in range(60)]
    assert sorted(n for _, n in taken) == sorted(f"t{i}" for i in range(60))
    assert {e.name: e.client for e in TaskQueue(path).entries()} == {n: c for c, n in taken}


def test_a_client_holds_no_more_than_its_fair_share_of_the_tasks(tmp_path):
    from harness.config import ModelConf, TunerConf
    from harness.slicetune.clients import ClientSetup, plan

    def hold(n_tasks: int, clients: int, want: int) -> int:
        tasks = [TaskInfo(f"t{i}", 1e6 * (i + 1), 1) for i in range(n_tasks)]
        setup = ClientSetup(ModelConf(), TunerConf(trials=16 * n_tasks), hold=want)
        return plan(setup, tasks, clients, str(tmp_path / f"{n_tasks}-{clients}-{want}")).hold

    assert hold(14, 4, 4) == 3 and hold(2, 2, 4) == 1 and hold(9, 4, 4) == 2 and hold(38, 4, 1) == 1
    assert hold(3, 4, 4) == 1 and hold(38, 4, 4) == 4
