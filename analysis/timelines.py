"""Per-run timelines: phase spans per client over utilisation samples."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.load import Experiment, last_runs, read_timeline
from analysis.provenance import caption, depth, machine
from harness.results import TUNING

SPAN_COLORS = dict(zip(["search", "build", "measure", "database", "cost_model"], sns.color_palette("Set2", 5)))


def _span_times(spans: pd.DataFrame, tl: pd.DataFrame | None) -> pd.DataFrame:
    """Spans on the timeline's clock (through its epoch column), else from the first span."""
    sp = spans.copy()
    if tl is not None and "epoch" in tl and tl["epoch"].notna().sum() > 1:
        ok = tl.dropna(subset=["epoch"])
        sp["t0"] = np.interp(sp["start"], ok["epoch"], ok["t_s"])
        sp["t1"] = np.interp(sp["end"], ok["epoch"], ok["t_s"])
    else:
        base = sp["start"].min()
        sp["t0"], sp["t1"] = sp["start"] - base, sp["end"] - base
    return sp


def lanes(ax, spans: pd.DataFrame, tl: pd.DataFrame | None) -> None:
    """One lane per client: measure spans (which overlap the next rounds' search and build
    while the scheduler has not collected them) as a light band, the other phases on top."""
    sp = _span_times(spans, tl)
    clients = sorted(sp["client"].unique())
    for lane, c in enumerate(clients):
        mine = sp[sp["client"] == c]
        for phase in ["measure", *[p for p in SPAN_COLORS if p != "measure"]]:
            g = mine[mine["phase"] == phase]
            if len(g):
                y, h, a = (lane - 0.4, 0.8, 0.45) if phase == "measure" else (lane - 0.25, 0.5, 1.0)
                ax.broken_barh(list(zip(g["t0"], g["t1"] - g["t0"])), (y, h), color=SPAN_COLORS[phase], alpha=a)
    ax.set_yticks(range(len(clients)), [f"client {c}" for c in clients], fontsize=7)
    ax.set_ylim(-0.6, len(clients) - 0.4)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in SPAN_COLORS.values()]
    ax.legend(handles, SPAN_COLORS, fontsize=6, ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)


def utilisation(ax, tl: pd.DataFrame) -> bool:
    gpu = "gpu_util_pct" in tl and tl["gpu_util_pct"].notna().any()
    ax.plot(tl["t_s"], tl["cpu_util_pct"], label="CPU %", lw=1)
    if gpu:
        ax.plot(tl["t_s"], tl["gpu_util_pct"], label="GPU %", lw=1)
    ax.set_ylim(0, 105)
    ax.set_ylabel("utilisation (%)", fontsize=8)
    ax.legend(fontsize=7, loc="upper right")
    return gpu


def timeline(tl: pd.DataFrame, title: str, spans: pd.DataFrame | None = None):
    """Phase spans per client (where recorded) over CPU and (where sampled) GPU utilisation,
    SM clock and GPU processes of one run."""
    gpu = bool("gpu_util_pct" in tl and tl["gpu_util_pct"].notna().any())
    has_spans = bool(spans is not None and len(spans) > 0)
    rows = [1.2] * has_spans + [1.0] + [0.8] * gpu
    fig, axes = plt.subplots(len(rows), 1, figsize=(6.5, 1.2 + 1.5 * len(rows)), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": rows})
    axes = list(axes[:, 0])
    if has_spans:
        lanes(axes.pop(0), spans, tl)
    utilisation(axes[0], tl)
    fig.axes[0].set_title(title, fontsize=8, pad=20 if has_spans else 4)
    if gpu:
        ax2 = axes[1]
        ax2.plot(tl["t_s"], tl["sm_clock_mhz"], color="tab:green", lw=1)
        ax2.set_ylabel("SM clock (MHz)", fontsize=8)
        ax3 = ax2.twinx()
        ax3.step(tl["t_s"], tl["gpu_procs"], color="tab:red", lw=1, where="post")
        ax3.set_ylabel("GPU processes", color="tab:red", fontsize=8)
    fig.axes[len(rows) - 1].set_xlabel("time since the run started (s)")
    fig.tight_layout()
    return fig


def side_by_side_timelines(runs: list[tuple[str, pd.DataFrame, pd.DataFrame | None]], title: str):
    """Spans and utilisation of several runs (e.g. the baseline and the best Slice-Tune
    configuration) on one time axis."""
    rows = []
    for _, _, sp in runs:
        rows += [0.5 + 0.25 * (sp["client"].nunique() if sp is not None and len(sp) else 0), 1.0]
    fig, axes = plt.subplots(len(rows), 1, figsize=(7, 0.9 * sum(rows) + 1.2), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": rows})
    for i, (label, tl, sp) in enumerate(runs):
        top, util = axes[2 * i, 0], axes[2 * i + 1, 0]
        if sp is not None and len(sp):
            lanes(top, sp, tl)
        top.set_title(label, fontsize=8, loc="left", pad=12)
        utilisation(util, tl)
    axes[-1, 0].set_xlabel("time since the run started (s)")
    fig.suptitle(title, fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def run_timelines(x: Experiment, save) -> None:
    """One timeline per model and machine: its run at the largest share."""
    tuning = x.rows(TUNING)
    for cell in last_runs(x.d, tuning):
        tl, spans = read_timeline(x.d, cell)
        if tl is not None and len(tl):
            run = tuning[tuning["cell_id"] == cell].tail(1)
            head = caption(f"{x.exp}: {cell} on {machine(run)}", depth(run))
            save(timeline(tl, head, spans), f"{x.exp}_timeline_{cell}.png", dpi=80)
