"""A cost model that also learns from what the other clients of a Slice-Tune run measured.

MetaSchedule's XGBoost model predicts at random until it has seen 100 measurements. One process
tuning every task passes that in its first round-robin pass; a client that tunes its tasks one at
a time would search its first (and costliest) task at random. Before each update this model reads
the records the other clients have added to their databases since it last looked, so every
client trains on everything measured so far, as the single process does.
"""

from __future__ import annotations

import json
import os

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.cost_model import PyCostModel
from tvm.s_tir.meta_schedule.database import TuningRecord, Workload
from tvm.s_tir.meta_schedule.runner import RunnerResult
from tvm.s_tir.meta_schedule.utils import shash2hex

from harness.layout import DATABASE_FILES

RECORDS, WORKLOADS = DATABASE_FILES


class Peer:
    """One other client's database, read as it grows (complete lines only)."""

    def __init__(self, work_dir: str):
        self.records, self.workloads = (os.path.join(work_dir, f) for f in (RECORDS, WORKLOADS))
        self.offset = 0
        self.known: list[Workload] = []

    def new_records(self) -> list[tuple[Workload, dict]]:
        if not os.path.exists(self.records):
            return []
        with open(self.records, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        rows = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
        if rows and max(i for i, _ in rows) >= len(self.known):
            with open(self.workloads) as f:
                self.known = [Workload.from_json(json.loads(line)) for line in f if line.strip()]
        return [(self.known[i], rec) for i, rec in rows]


@derived_object
class Shared(PyCostModel):
    """`inner` (a cost model) updated with the peers' new records before each update of its own;
    `contexts` are this client's tune contexts (a queue client has every task's)."""

    def __init__(self, inner, peer_dirs: list[str], contexts):
        super().__init__()
        self.inner, self.peers = inner, [Peer(d) for d in peer_dirs]
        self.contexts = {shash2hex(c.mod): c for c in contexts}
        self.learned = 0  # peers' records taken in

    def load(self, path: str) -> None:
        self.inner.load(path)

    def save(self, path: str) -> None:
        self.inner.save(path)

    def predict(self, context, candidates):
        return self.inner.predict(context, candidates)

    def update(self, context, candidates, results) -> None:
        for peer in self.peers:
            by_task: dict[str, tuple[list, list]] = {}
            for workload, rec in peer.new_records():
                key = shash2hex(workload.mod)
                if key not in self.contexts:
                    continue
                record = TuningRecord.from_json(rec, workload)
                secs = list(record.run_secs or [])
                cands, res = by_task.setdefault(key, ([], []))
                cands.append(record.as_measure_candidate())
                res.append(RunnerResult(run_secs=secs or None, error_msg=None if secs else "failed"))
            for key, (cands, res) in by_task.items():
                self.inner.update(self.contexts[key], cands, res)
                self.learned += len(cands)
        self.inner.update(context, candidates, results)
