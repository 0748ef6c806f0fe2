"""Every figure from the result files: each experiment's rows go to the family of its exp column."""

from __future__ import annotations

import glob
import os

import pandas as pd

from analysis import fidelity, interdependency, ops, scaling, throughput, tuning_time
from analysis.load import Experiment, experiment_dirs, read_dir, split_exp
from analysis.style import Saver
from harness.results import OP_INFERENCE, OP_TUNING, THROUGHPUT, TUNING_TIME

__all__ = ["FAMILIES", "experiment_dirs", "make_all", "stale_figures"]

# exp column value -> figure family: family(Experiment, save)
FAMILIES = {
    "interdependency": interdependency.figures,
    "tuning_time": tuning_time.figures,
    "scaling": scaling.figures,
    "throughput": throughput.figures,
    "op_interdependency": ops.figures,
    "fidelity": fidelity.figures,
}


def family_of(exp: str, name: str, rows: pd.DataFrame) -> str:
    """The family named by exp, else (no exp column, or an exp without one, e.g. smoke) by file."""
    if exp in FAMILIES:
        return exp
    if name == THROUGHPUT:
        return "throughput"
    if name in (OP_TUNING, OP_INFERENCE):
        return "op_interdependency"
    if name == TUNING_TIME:  # without a baseline row, a sweep over the number of GPUs
        return "tuning_time" if (rows["mode"] == "baseline").any() else "scaling"
    return "interdependency"


def fig_dir_of(exp_dir: str) -> str:
    return os.path.join(os.path.dirname(exp_dir), "figures")


def make_all(root: str = "results") -> list[str]:
    """Regenerate every figure under `root` into <platform>/figures/; returns the PNG paths written."""
    written: list[str] = []
    for d in experiment_dirs(root):
        fig_dir = fig_dir_of(d)
        os.makedirs(fig_dir, exist_ok=True)
        save = Saver(fig_dir, written)
        for exp, frames in split_exp(read_dir(d), default=os.path.basename(d)).items():
            families: dict[str, dict[str, pd.DataFrame]] = {}
            for name, rows in frames.items():
                families.setdefault(family_of(exp, name, rows), {})[name] = rows
            for family, fam_frames in families.items():
                FAMILIES[family](Experiment(d, exp, fam_frames), save)
    return written


def stale_figures(root: str, written: list[str]) -> list[str]:
    """The PNGs in the figure directories of `root`'s experiments that make_all(root) did not
    write (rows since moved, renamed or redrawn under another name), in each directory all of
    whose experiments it drew: python -m analysis removes them."""
    drawn = {os.path.abspath(d) for d in experiment_dirs(root)}
    keep = {os.path.abspath(p) for p in written}
    stale = []
    for fig_dir in sorted({fig_dir_of(d) for d in drawn}):
        feeding = {os.path.abspath(d) for d in experiment_dirs(os.path.dirname(fig_dir))}
        if {d for d in feeding if fig_dir_of(d) == fig_dir} <= drawn:
            stale += [p for p in sorted(glob.glob(os.path.join(fig_dir, "*.png"))) if os.path.abspath(p) not in keep]
    return stale
