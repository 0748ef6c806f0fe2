"""Sharding a model's tuning tasks across clients, and the trial budget between them."""

from __future__ import annotations

import heapq

from harness.config import Split
from harness.jobs import TaskInfo


def split(tasks: list[TaskInfo], k: int, how: str = "lpt") -> list[list[str]]:
    """Task names for each of `k` shards.

    lpt: greedy longest-processing-time by estimated cost (FLOPs x weight, at least 1), each
    task to the currently cheapest shard; round_robin: in task order."""
    if k < 1:
        raise ValueError(f"shards={k} is not allowed; it must be >= 1")
    fixed = [s.value for s in Split if s != Split.queue]  # a queue is taken as the clients go
    if how not in fixed:
        raise ValueError(f"split={how!r} is not a fixed split; choose one of: {', '.join(fixed)}")
    shards: list[list[str]] = [[] for _ in range(k)]
    if how == "round_robin":
        for i, t in enumerate(tasks):
            shards[i % k].append(t.name)
        return shards
    heap = [(0.0, i) for i in range(k)]
    for t in sorted(tasks, key=lambda t: -t.cost):
        cost, i = heapq.heappop(heap)
        shards[i].append(t.name)
        heapq.heappush(heap, (cost + t.cost, i))
    return shards


def split_budget(trials: int, shards: list[list[str]], per_round: int = 1) -> list[int]:
    """The total trial budget divided between shards in whole rounds of `per_round`: one round
    each where there are enough, the rest in proportion to their task counts; rounds left over
    go first to shards that have none (in shard order: the LPT split puts the costliest first).
    At budgets below one round per shard some shards get 0, as the baseline leaves tasks
    untuned at such budgets; the sum is `trials`."""
    rounds = -(-trials // per_round)
    n = sum(len(s) for s in shards)
    base = 1 if rounds >= len(shards) else 0
    want = [(rounds - base * len(shards)) * len(s) / n for s in shards]
    got = [base + int(w) for w in want]
    order = sorted(range(len(shards)), key=lambda i: (got[i] > 0, got[i] - base - want[i], i))
    for i in order[:rounds - sum(got)]:
        got[i] += 1
    budgets = [g * per_round for g in got]
    for i in reversed(range(len(budgets))):  # the last round may be partial
        cut = min(sum(budgets) - trials, budgets[i])
        if cut <= 0:
            break
        budgets[i] -= cut
    return budgets
