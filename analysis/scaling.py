"""Slice-Tune against the number of GPUs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.load import Experiment
from analysis.provenance import caption, commit_note
from analysis.tuning_time import per_configuration


def references(ax, g: pd.DataFrame) -> None:
    """Linear scaling from the fewest GPUs measured and the 0.8x-linear target, over the
    measured range only."""
    n = np.array(g.index, dtype=float)
    base = g["trials_per_s"].iloc[0] / n[0]
    ax.plot(n, base * n, "k--", lw=1, label=f"linear from {n[0]:g} GPU{'s' if n[0] > 1 else ''}")
    ax.plot(n, 0.8 * base * n, "k:", lw=1, label="0.8x linear (target)")


def scaling(tt: pd.DataFrame, title: str):
    """Trials/s (the best configuration's) and tuning time (the fastest) against the number of
    GPUs, strong scaling (same total budget) and weak (same budget per GPU; one GPU is both);
    reference lines where at least two GPU counts were measured, ticks at those only."""
    scale = (tt["scale"] if "scale" in tt else pd.Series(index=tt.index)).astype(object).fillna("strong")
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.0))
    gpus = sorted(tt["gpus"].unique())
    for kind in [k for k in ("strong", "weak") if (scale == k).any()]:
        rows = tt[(scale == kind) | (tt["gpus"] == 1)]
        g = rows.groupby("gpus").agg(trials_per_s=("trials_per_s", "max"), wall_s=("wall_s", "min")).sort_index()
        label = f"{kind} scaling" + (" (budget per GPU)" if kind == "weak" else " (same total budget)")
        for ax, col in zip(axes, ["trials_per_s", "wall_s"]):
            ax.plot(g.index, g[col], "o-" if kind == "strong" else "s--", label=label)
            for n, v in g[col].items():
                ax.annotate(f"{v:.3g}", (n, v), textcoords="offset points", xytext=(6, -3), fontsize=7)
        if kind == "strong" and len(g) > 1:
            references(axes[0], g)
    axes[0].set_ylabel("trials/s")
    axes[1].set_ylabel("tuning wall time (s)")
    axes[0].legend(fontsize=7)
    for ax in axes:
        ax.margins(y=0.15)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("GPUs")
        ax.set_xticks(gpus)
        if len(gpus) == 1:  # one point: a narrow window around it, no axis beyond what was measured
            ax.set_xlim(gpus[0] - 0.5, gpus[0] + 0.5)
    one = "one GPU count measured: no scaling reference" if len(gpus) == 1 else ""
    fig.suptitle(caption(title, one, commit_note(tt)), fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def figures(x: Experiment, save) -> None:
    """Per model and trial budget: the scaling figure and the fastest run's timeline."""
    per_configuration(x, save, scaling)
