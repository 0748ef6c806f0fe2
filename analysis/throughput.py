"""A set of models tuned one after another against all at once."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from analysis.load import Experiment, split
from analysis.provenance import caption, commit_note, depth, machine
from harness.results import THROUGHPUT


def throughput(tp: pd.DataFrame, title: str):
    """Trials/s of a set of models tuned one after another vs all at once (5x reference)."""
    per = tp.groupby("mode", sort=False).agg(trials_per_s=("trials_per_s", "first"), wall_s=("wall_s", "first"))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.0))
    labels = {"baseline": "one after another", "slicetune": "all at once"}
    names = [labels.get(m, m) for m in per.index]
    axes[0].bar(names, per["wall_s"], color="tab:blue")
    axes[0].set_ylabel("wall time for the set (s)")
    axes[1].bar(names, per["trials_per_s"], color="tab:orange")
    axes[1].set_ylabel("trials/s")
    if "baseline" in per.index:
        base = per.loc["baseline"]
        axes[0].axhline(0.25 * base["wall_s"], color="k", ls="--", lw=1, label="paper: -75%")
        axes[1].axhline(5 * base["trials_per_s"], color="k", ls="--", lw=1, label="paper: 5x")
        for ax in axes:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def figures(x: Experiment, save) -> None:
    """One figure per set of models and machine."""
    tp = x.rows(THROUGHPUT)
    if tp is None:
        return
    for (models,), suffix, g in split(tp, ["models"]):
        head = f"{x.exp}: {models} on {machine(g)}, {g['trials'].iloc[0]} trials per model"
        save(throughput(g, caption(head, depth(g), commit_note(g))), f"{x.exp}_{models.replace('+', '_')}{suffix}.png")
