"""A model's tuning tasks shared by the clients of one Slice-Tune run, taken as they go.

A client tunes the task it holds until that task's trials are spent, then takes the next task no
client holds (the costliest first): dynamic list scheduling, so a client that drew cheap tasks
takes more of them instead of idling while another works through a long shard. The queue is a
JSON file under an exclusive flock; who holds what survives the processes, so a run continued in
a later segment keeps each task with the client that has its database.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from harness.jobs import TaskInfo
from harness.records import read_json, write_json


@dataclass
class Entry:
    name: str
    trials: int  # this task's share of the budget
    client: int | None = None  # who holds it
    gave_up: list[int] = field(default_factory=list)  # clients whose search could not start on it


def heaviest(tasks: list[TaskInfo], n: int = 0) -> list[TaskInfo]:
    """The `n` costliest tasks (FLOPs x weight), costliest first; n=0: all of them."""
    ranked = sorted(tasks, key=lambda t: -t.cost)
    return ranked[:n] if n else ranked


def budgets(tasks: list[TaskInfo], trials: int, per_task: int | None = None) -> list[Entry]:
    """The tasks, costliest (FLOPs x weight) first, each with `per_task` trials (default: the
    budget split evenly); tasks past the budget get none and are left out."""
    if not tasks:
        return []
    per = per_task or -(-trials // len(tasks))
    out, left = [], trials
    for t in heaviest(tasks):
        if left <= 0:
            break
        out.append(Entry(t.name, min(per, left)))
        left -= out[-1].trials
    return out


class TaskQueue:
    def __init__(self, path: str):
        self.path = path

    def create(self, entries: list[Entry]) -> TaskQueue:
        """Write the queue unless a run already left one here (a continued run keeps its holders)."""
        with self._locked() as q:
            if not q:
                q.extend(entries)
        return self

    def take(self, client: int) -> Entry | None:
        """The next task nobody holds (and `client` did not give up), now held by `client`; None
        when there is none."""
        with self._locked() as q:
            for e in q:
                if e.client is None and client not in e.gave_up:
                    e.client = client
                    return e
        return None

    def give_up(self, client: int, name: str) -> None:
        """`client` hands back the task `name`, which its search ended before measuring anything
        (MetaSchedule: "cannot sample enough initial population"), for another client to try."""
        with self._locked() as q:
            for e in q:
                if e.name == name and e.client == client:
                    e.client = None
                    e.gave_up.append(client)

    def held(self, client: int | None = None) -> list[Entry]:
        """The tasks `client` holds, in queue order (every held task when None)."""
        with self._locked(write=False) as q:
            return [e for e in q if e.client is not None and (client is None or e.client == client)]

    def entries(self) -> list[Entry]:
        with self._locked(write=False) as q:
            return q

    @contextmanager
    def _locked(self, write: bool = True):
        """The entries under the queue's lock; changes are written back atomically (a crash
        leaves the old file or the new one)."""
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            q = [Entry(**e) for e in read_json(self.path)] if os.path.exists(self.path) else []
            before = [asdict(e) for e in q]
            yield q
            if write and [asdict(e) for e in q] != before:
                write_json(self.path, [asdict(e) for e in q])
