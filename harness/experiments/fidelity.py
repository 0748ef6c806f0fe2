"""+exp=fidelity: do candidates measured beside other servers rank as they would alone? The
tuning_time grid over the number of servers sharing the GPU, each cell verified
(slicetune.verify_top_k: its tasks' top candidates measured again alone at the tuning share);
analysis.fidelity compares the two measurements per S."""

from __future__ import annotations

from harness.experiments.tuning_time import TuningTime


class Fidelity(TuningTime):
    """Same cells and rows as tuning_time, with exp=fidelity and every cell verified."""
