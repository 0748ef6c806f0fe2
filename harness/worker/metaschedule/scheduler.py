"""Task schedulers: MetaSchedule's by name, or ours (rolling)."""

from __future__ import annotations

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.task_scheduler import PyTaskScheduler


@derived_object
class Rolling(PyTaskScheduler):
    """Round-robin that collects a task's results before picking the next task, so every round
    reaches the database, the progress file and the deadline check at once. Starts after task
    `after`: a continued run picks up where the last segment stopped."""

    def __init__(self, after: int = -1):
        super().__init__()
        self.last, self.running = after, False

    def next_task_id(self) -> int:
        tasks = self._outer().tasks_
        if self.running and not tasks[self.last].is_terminated:
            self.join_running_task(self.last)
        self.running = True
        for k in range(1, len(tasks) + 1):
            i = (self.last + k) % len(tasks)
            if not tasks[i].is_terminated:
                self.last = i
                return i
        return -1


def create(kind: str, after: int = -1):
    """MetaSchedule's scheduler `kind` (its name is what tune_tasks takes), or Rolling."""
    return Rolling(after) if kind == "rolling" else str(kind)
