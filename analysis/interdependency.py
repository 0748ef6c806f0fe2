"""Interdependency of tuning and inference shares: heatmap, tuning time by phase, convergence."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from analysis.load import Experiment, variants
from analysis.style import share_label
from analysis.timelines import run_timelines
from harness.results import INFERENCE, PHASES, ROUNDS

PHASE_ORDER = ["search", "build", "measure", "cost_model", "other"]


def interdependency_matrix(inf: pd.DataFrame) -> pd.DataFrame:
    """Median latency per (tune share, infer share), normalised to the best tuned model at each
    inference share. Rows: tune share (and 'untuned'), columns: inference share."""
    med = inf.groupby(["tune_share", "infer_share"], dropna=False)["latency_ms"].median().reset_index()
    tuned = med[med["tune_share"].notna()]
    best = tuned.groupby("infer_share")["latency_ms"].min()
    med["ratio"] = med["latency_ms"] / med["infer_share"].map(best)
    med["tuned_at"] = med["tune_share"].map(share_label)
    order = [share_label(s) for s in sorted(tuned["tune_share"].unique())]
    if med["tune_share"].isna().any():
        order.append("untuned")
    mat = med.pivot(index="tuned_at", columns="infer_share", values="ratio").reindex(order)
    mat.columns = [f"{c:g}%" for c in mat.columns]
    return mat


def heatmap(inf: pd.DataFrame, title: str):
    mat = interdependency_matrix(inf)
    # colour the tuned rows' range; an untuned row far above it saturates but keeps its number
    tuned = mat.drop(index="untuned", errors="ignore")
    vmax = max(1.05, float(tuned.max().max()))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * mat.shape[1] + 2.2), 0.55 * mat.shape[0] + 1.6))
    sns.heatmap(mat, annot=True, fmt=".2f", cmap="rocket_r", vmin=1.0, vmax=vmax, cbar_kws={"label": "latency / best at that share"}, ax=ax)
    ax.set_xlabel("inference share")
    ax.set_ylabel("tuned at")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def phase_table(phases: pd.DataFrame) -> pd.DataFrame:
    """Seconds per phase for each tuning run; 'other' includes time no profiler scope covers."""
    keys = ["model", "tune_share", "cell_id"]
    total = phases[phases["phase"] == "total"].groupby(keys)["seconds"].sum()
    parts = phases[phases["phase"] != "total"].groupby(keys + ["phase"])["seconds"].sum().unstack(fill_value=0.0)
    parts = parts.reindex(columns=PHASE_ORDER, fill_value=0.0)
    parts["other"] += (total - parts.sum(axis=1)).clip(lower=0)
    return parts.reset_index()


def phase_bars(phases: pd.DataFrame, title: str):
    """Tuning wall time of each run, stacked by phase."""
    tab = phase_table(phases)
    tab["run"] = tab["model"] + " @ " + tab["tune_share"].map(share_label)
    tab = tab.sort_values(["model", "tune_share"])
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(tab) + 1.4))
    left = pd.Series(0.0, index=tab.index)
    colors = sns.color_palette("Set2", len(PHASE_ORDER))
    for phase, color in zip(PHASE_ORDER, colors):
        ax.barh(tab["run"], tab[phase], left=left, color=color, label=phase)
        left += tab[phase]
    ax.set_xlabel("tuning wall time (s)")
    ax.legend(fontsize=7, ncol=len(PHASE_ORDER), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.set_title(title, fontsize=9, pad=22)
    fig.tight_layout()
    return fig


def convergence(rounds: pd.DataFrame, title: str):
    r = rounds.dropna(subset=["est_model_ms"]).copy()
    r["tuned at"] = r["tune_share"].map(share_label)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    sns.lineplot(r, x="trials_done", y="est_model_ms", hue="tuned at", marker="o", ax=ax, drawstyle="steps-post")
    ax.set_xlabel("trials")
    ax.set_ylabel("estimated model latency (ms)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def figures(x: Experiment, save) -> None:
    """Heatmap per model, phase bars, the largest share's timeline per model, convergence."""
    inf, phases, rounds = x.rows(INFERENCE), x.rows(PHASES), x.rows(ROUNDS)
    if inf is not None:
        for (model, batch, suffix), g in variants(inf):
            dev = g["device"].iloc[0]
            trials = "/".join(str(t) for t in sorted(g["trials"].unique())) if "trials" in g else "?"
            title = (f"{x.exp}: {model} (batch {batch}) on {dev}, {trials} trials per tuning run\n"
                     f"median latency / best tuned model at each inference share")
            save(heatmap(g, title), f"{x.exp}_{model}_b{batch}{suffix}_heatmap.png")
    if phases is not None:
        dev = phases["device"].iloc[0]
        save(phase_bars(phases, f"{x.exp}: tuning time by phase on {dev}"), f"{x.exp}_tuning_time.png")
    run_timelines(x, save)
    if rounds is not None and rounds["est_model_ms"].notna().any():
        for (model, batch, suffix), g in variants(rounds):
            save(convergence(g, f"{x.exp}: {model} (batch {batch}) convergence"),
                 f"{x.exp}_{model}_b{batch}{suffix}_convergence.png")
