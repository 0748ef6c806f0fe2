"""Slice-Tune against the number of GPUs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.load import Experiment, read_timeline
from analysis.provenance import caption, commit_note
from analysis.tuning_time import per_configuration
from harness.results import TUNING_TIME

BUSY = {"cpu_busy": "host CPU", "gpu_busy": "GPUs (mean)"}  # columns steady_busy adds -> legend


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


def steady_busy(d: str, cell: str) -> tuple[float, float]:
    """A run's host CPU and GPU utilisation (%, mean of its samples) in its steady state: from when
    its last client first sent candidates to be measured (as the row's gpu_busy_pct) to its last
    phase's end; NaN where its timeline or phase spans were not kept."""
    tl, spans = read_timeline(d, cell)
    if tl is None or spans is None or "epoch" not in tl or "start" not in spans:
        return np.nan, np.nan
    sent = spans[spans["phase"] == "measure"].groupby("client")["start"].min()
    s = tl[(tl["epoch"] >= (sent.max() if len(sent) else -np.inf)) & (tl["epoch"] <= spans["end"].max())]
    return (s["cpu_util_pct"].mean() if "cpu_util_pct" in s else np.nan,
            s["gpu_util_pct"].mean() if "gpu_util_pct" in s else np.nan)


def busy_panel(ax, g: pd.DataFrame, kind: str) -> None:
    """Host CPU and GPU utilisation against the GPU count: which one saturates as GPUs are added."""
    for i, (col, what) in enumerate(BUSY.items()):
        if col not in g or g[col].isna().all():
            continue
        ax.plot(g.index, g[col], ("o-" if kind == "strong" else "s--"), color=f"C{i + 2}", label=f"{what}, {kind}")
        for n, v in g[col].dropna().items():
            if not (n == 1 and kind == "weak"):
                ax.annotate(f"{v:.0f}%", (n, v), textcoords="offset points", xytext=(6, -3), fontsize=7)


def scaling(tt: pd.DataFrame, title: str):
    """Trials/s (the best configuration's; steady state where measured, each point's ratio to one GPU's
    written beside it, as on the other panels), the final model latency against one GPU's (a 3% band) and tuning
    time (the fastest) against the number of GPUs, strong scaling (same total budget) and weak
    (same budget per GPU; one GPU is both); reference lines where two or more GPU counts were
    measured, ticks at those only; and, where the runs' timelines were kept (steady_busy), the host
    CPU and GPU utilisation, which names the resource that saturates."""
    scale = (tt["scale"] if "scale" in tt else pd.Series(index=tt.index)).astype(object).fillna("strong")
    rate, rate_label = _rate(tt)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    gpus = sorted(tt["gpus"].unique())
    for kind in [k for k in ("strong", "weak") if (scale == k).any()]:
        rows = tt[(scale == kind) | (tt["gpus"] == 1)]
        g = rows.sort_values(rate).groupby("gpus").agg(
            trials_per_s=(rate, "max"), latency=("final_latency_ms", "last"), wall_s=("wall_s", "min"),
            **{c: (c, "last") for c in BUSY if c in rows}).sort_index()
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
        busy_panel(axes[3], g, kind)
        if kind == "strong" and len(g) > 1:
            references(axes[0], g)
        if kind == "strong" and one is not None and pd.notna(one["latency"]):
            axes[1].axhspan(0.97 * one["latency"], 1.03 * one["latency"], color="0.9", label="one GPU's +-3%")
    axes[0].set_ylabel(rate_label)
    axes[1].set_ylabel("final model latency (ms)")
    axes[2].set_ylabel("tuning wall time (s)")
    axes[3].set_ylabel("busy in steady state (%)")
    axes[3].set_ylim(0, 105)
    if axes[3].get_lines():
        axes[3].legend(fontsize=7)
    else:
        axes[3].text(0.5, 0.5, "no timelines kept", ha="center", va="center", transform=axes[3].transAxes)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.margins(x=0.3, y=0.15)
        if ax is not axes[1] and ax is not axes[3]:  # latency: a 3% band must stay visible
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
    tt = x.rows(TUNING_TIME)
    if tt is not None:
        busy = pd.DataFrame([steady_busy(x.d, c) for c in tt["cell_id"]], columns=list(BUSY), index=tt.index)
        x = Experiment(x.d, x.exp, {**x.frames, TUNING_TIME: pd.concat([tt, busy], axis=1)})
    per_configuration(x, save, scaling)
