"""Everything a sweep can be refused for before any work: the config's values, the device, the
directories it writes, and result files it could not use. Each refusal is one ConfigError line
naming the value and what is allowed."""

from __future__ import annotations

import glob
import logging
import os

from harness import results as R
from harness.cells import dirs, grid
from harness.config import ConfigError, Experiment, SweepConf
from harness.device.gpu import check_gpu, visible_gpus
from harness.validation import validate

log = logging.getLogger("harness")


def _writable(what: str, path: str) -> None:
    """`path` is a directory this process can write, or can be made one."""
    p = os.path.abspath(path)
    if os.path.exists(p) and not os.path.isdir(p):
        raise ConfigError(f"{what}={path!r} is not allowed: it is a file, not a directory")
    while not os.path.exists(p):
        p = os.path.dirname(p)
    if not os.path.isdir(p):
        raise ConfigError(f"{what}={path!r} is not allowed: {p!r} is a file, not a directory")
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"{what}={path!r} is not allowed: {p!r} is not writable")


def _gpu_counts(cfg: SweepConf) -> None:
    """At least one configuration must fit the GPUs visible here (the others are skipped, said)."""
    if cfg.experiment not in (Experiment.tuning_time, Experiment.scaling):
        return
    have = 1 if cfg.platform.name == "cpu" else visible_gpus()
    want = sorted({p.gpus for p in grid(cfg)})
    if want and min(want) > have:
        raise ConfigError(f"slicetune.gpus={want} is not allowed here: {have} GPU(s) visible, so no configuration "
                          "can run")


def preflight(cfg: SweepConf) -> None:
    validate(cfg)
    if cfg.platform.name == "cuda":
        check_gpu(cfg.platform.device_id)
    _gpu_counts(cfg)
    _writable("results_dir", cfg.results_dir)
    _writable("runs_dir", cfg.runs_dir)
    out = dirs(cfg)[0]
    for path in sorted(glob.glob(os.path.join(out, "*.csv")) + glob.glob(os.path.join(out, "*.csv.gz"))):
        try:
            R.check(path)
        except R.ResultFileError as e:
            raise ConfigError(str(e)) from None
