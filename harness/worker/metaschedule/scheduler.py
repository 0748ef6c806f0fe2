"""Task schedulers: MetaSchedule's by name, or ours (rolling; queued, for a Slice-Tune client)."""

from __future__ import annotations

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.task_scheduler import PyTaskScheduler


@derived_object
class Rolling(PyTaskScheduler):
    """Round-robin that collects a task's results before picking the next task, so every round
    reaches the database, the progress file and the deadline check at once. Starts after task
    `after`: a continued run picks up where the last segment stopped; with `cap`, a task whose
    trials over every segment (`ledger.trials_of`) reached it is done (MetaSchedule's own per-task
    count restarts with each segment), and so is one whose search ended in an earlier segment."""

    def __init__(self, names: list[str], ledger, after: int = -1, cap: int | None = None):
        super().__init__()
        self.last, self.running = after, False
        self.names, self.ledger, self.cap = names, ledger, cap

    def _open(self, tasks, i: int) -> bool:
        return self.ledger.may_run(self.names[i], tasks[i].is_terminated, self.cap)

    def next_task_id(self) -> int:
        tasks = self._outer().tasks_
        if self.running and not tasks[self.last].is_terminated:
            self.join_running_task(self.last)
        self.running = False
        for k in range(1, len(tasks) + 1):
            i = (self.last + k) % len(tasks)
            if self._open(tasks, i):
                self.last, self.running = i, True
                return i
        return -1


def after(ids: list[int], current: int) -> int:
    """Round-robin over task indices `ids`: the first one after `current`, else the first."""
    ids = sorted(ids)
    return next((i for i in ids if i > current), ids[0])


@derived_object
class Queued(PyTaskScheduler):
    """Tasks from a Slice-Tune run's shared queue (harness.taskqueue): this client holds up to
    `hold` tasks, taking one more a round (the clients take turns), and tunes them a round each in
    turn (so the cost model learns from the others between a task's rounds, as in one process's
    round-robin), each until its share of trials is
    spent (`ledger.trials_of`, over every segment) or its search ended; then it takes the next one
    nobody holds, and is done when there is none. A task whose search ended before measuring
    anything goes back to the queue for the other clients. A task's last round may pass its share
    by up to a round, as MetaSchedule's per-task count restarts with each segment."""

    def __init__(self, queue, client: int, names: list[str], ledger, hold: int = 1):
        super().__init__()
        self.queue, self.client, self.names, self.ledger = queue, client, names, ledger
        self.hold = max(1, hold)
        self.current, self.running = -1, False

    def _open(self, entry, tasks) -> bool:
        return self.ledger.may_run(entry.name, tasks[self.names.index(entry.name)].is_terminated, entry.trials)

    def _give_up_failed(self, mine, tasks) -> None:
        """Hand back the held tasks whose search ended before measuring anything here: another
        client's search may start on them (one that stays with us is never tuned)."""
        for e in mine:
            if tasks[self.names.index(e.name)].is_terminated and self.ledger.trials_of(e.name) == 0:
                print(f"task queue: gave {e.name} back (its search ended before measuring anything)", flush=True)
                self.queue.give_up(self.client, e.name)

    def next_task_id(self) -> int:
        tasks = self._outer().tasks_
        if self.running and not tasks[self.current].is_terminated:
            self.join_running_task(self.current)
        self.running = False
        mine = self.queue.held(self.client)  # one read of the queue a round
        self._give_up_failed(mine, tasks)
        held = [e for e in mine if self._open(e, tasks)]  # a task given up is terminated: not open
        while len(held) < self.hold:  # one new task a round, so the clients take turns at the queue
            entry = self.queue.take(self.client)
            if entry is None:
                break
            if self._open(entry, tasks):
                self.current, self.running = self.names.index(entry.name), True
                return self.current
        if not held:
            return -1
        self.current, self.running = after([self.names.index(e.name) for e in held], self.current), True
        return self.current


def create(kind: str, names: list[str], ledger, after: int = -1, cap: int | None = None):
    """MetaSchedule's scheduler `kind` (its name is what tune_tasks takes), or Rolling (which
    keeps a per-task `cap` and the ended tasks over segments, in `ledger`: the Recorder)."""
    return Rolling(names, ledger, after, cap) if kind == "rolling" else str(kind)
