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


def _rate(tt: pd.DataFrame) -> tuple[str, str]:
    """The trials/s column drawn: steady state (after start-up) where the rows have it."""
    if "steady_trials_per_s" in tt and tt["steady_trials_per_s"].notna().all():
        return "steady_trials_per_s", "trials/s, steady state"
    return "trials_per_s", "trials/s"


def scaling(tt: pd.DataFrame, title: str):
    """Trials/s (the best configuration's; steady state where measured, each point's ratio to one GPU's
    written beside it, as on the other panels), the final model latency against one GPU's (a 3% band) and tuning
    time (the fastest) against the number of GPUs, strong scaling (same total budget) and weak
    (same budget per GPU; one GPU is both); reference lines where two or more GPU counts were
    measured, ticks at those only."""
    scale = (tt["scale"] if "scale" in tt else pd.Series(index=tt.index)).astype(object).fillna("strong")
    rate, rate_label = _rate(tt)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    gpus = sorted(tt["gpus"].unique())
    for kind in [k for k in ("strong", "weak") if (scale == k).any()]:
        rows = tt[(scale == kind) | (tt["gpus"] == 1)]
        g = rows.sort_values(rate).groupby("gpus").agg(
            trials_per_s=(rate, "max"), latency=("final_latency_ms", "last"), wall_s=("wall_s", "min")).sort_index()
        label = f"{kind} scaling" + (" (budget per GPU)" if kind == "weak" else " (same total budget)")
        one = g.loc[1] if 1 in g.index else None
        for ax, col in zip(axes, ["trials_per_s", "latency", "wall_s"]):
            ax.plot(g.index, g[col], "o-" if kind == "strong" else "s--", label=label)
            for n, v in g[col].items():
                if n == 1 and kind == "weak":  # one GPU is both: written once
                    continue
                note = f"{v:.3g}" + (f" ({v / one[col]:.2f}x)" if one is not None and n != 1 else "")
                ax.annotate(note, (n, v), textcoords="offset points", xytext=(6, -3 if kind == "strong" else -11),
                            fontsize=7)
        if kind == "strong" and len(g) > 1:
            references(axes[0], g)
        if kind == "strong" and one is not None and pd.notna(one["latency"]):
            axes[1].axhspan(0.97 * one["latency"], 1.03 * one["latency"], color="0.9", label="one GPU's +-3%")
    axes[0].set_ylabel(rate_label)
    axes[1].set_ylabel("final model latency (ms)")
    axes[2].set_ylabel("tuning wall time (s)")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.margins(x=0.3, y=0.15)
        if ax is not axes[1]:  # latency: a 3% band must stay visible
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
