"""One module per experiment, on a shared base (harness.experiments.base); `create` picks the
experiment a config names. A new experiment: a module here with a `Base` subclass whose `_run`
does its cells, a member of `config.Experiment`, and an entry below."""

from __future__ import annotations

from harness.config import Experiment, SweepConf
from harness.experiments.base import Base, Summary
from harness.experiments.fidelity import Fidelity
from harness.experiments.interdependency import Interdependency
from harness.experiments.op_interdependency import OpInterdependency
from harness.experiments.scaling import Scaling
from harness.experiments.throughput import Throughput
from harness.experiments.tuning_time import TuningTime

EXPERIMENTS: dict[Experiment, type[Base]] = {
    Experiment.interdependency: Interdependency,
    Experiment.tuning_time: TuningTime,
    Experiment.throughput: Throughput,
    Experiment.scaling: Scaling,
    Experiment.op_interdependency: OpInterdependency,
    Experiment.fidelity: Fidelity,
}


def create(cfg: SweepConf, progress=None) -> Base:
    return EXPERIMENTS[Experiment(cfg.experiment)](cfg, progress)


def run_sweep(cfg: SweepConf, progress=None) -> Summary:
    """Run every cell of the sweep `cfg` describes (resuming); what ran, was skipped or paused."""
    return create(cfg, progress).run()
