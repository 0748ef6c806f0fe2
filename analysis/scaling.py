"""Slice-Tune against the number of GPUs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.load import Experiment
from analysis.tuning_time import per_configuration


def scaling(tt: pd.DataFrame, title: str):
    """Trials/s and tuning time against the number of GPUs, with linear scaling from one GPU
    and the 0.8x-linear target."""
    g = tt.groupby("gpus").agg(trials_per_s=("trials_per_s", "max"), wall_s=("wall_s", "min"),
                               latency=("final_latency_ms", "min")).sort_index()
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    axes[0].plot(g.index, g["trials_per_s"], "o-", label="measured")
    if 1 in g.index:
        n = np.array([1, max(8, int(g.index.max()))])
        one = g.loc[1, "trials_per_s"]
        axes[0].plot(n, one * n, "k--", lw=1, label="linear")
        axes[0].plot(n, 0.8 * one * n, "k:", lw=1, label="0.8x linear (target)")
    axes[0].set_xlabel("GPUs")
    axes[0].set_ylabel("trials/s")
    axes[0].legend(fontsize=7)
    axes[1].plot(g.index, g["wall_s"], "o-")
    axes[1].set_xlabel("GPUs")
    axes[1].set_ylabel("tuning wall time (s)")
    for ax in axes:
        ax.set_xticks(sorted(set(g.index) | {1, 2, 4, 8}))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def figures(x: Experiment, save) -> None:
    """Per model and trial budget: the scaling figure and the fastest run's timeline."""
    per_configuration(x, save, scaling)
