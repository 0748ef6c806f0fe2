"""+exp=scaling: the tuning_time grid over the number of GPUs the server pool spans (no
baseline); GPU counts beyond those visible are skipped with a warning, so the rows say what ran."""

from __future__ import annotations

from harness.experiments.tuning_time import TuningTime


class Scaling(TuningTime):
    """Same cells and rows as tuning_time (`tuning_time.csv`), with exp=scaling; the figure
    draws trials/s against GPUs."""
