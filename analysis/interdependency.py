"""Interdependency of tuning and inference shares: heatmap, tuning time by phase, convergence."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm

from analysis.load import MACHINE, Experiment, on_machines, split, variants
from analysis.provenance import caption, commit_note, depth, machine, measured, span, tag, with_tasks
from analysis.style import share_label
from analysis.timelines import run_timelines
from harness.results import INFERENCE, PHASES, ROUNDS, TUNING

PHASE_ORDER = ["search", "build", "measure", "cost_model", "other"]


VENDORS = {"torch_eager": "PyTorch eager", "torch_compile": "torch.compile",  # source -> row label
           "torch_cudagraphs": "torch.compile + CUDA graphs"}


def sources(inf: pd.DataFrame) -> pd.Series:
    """Each row's source: tvm (tuned or untuned), or a vendor's; rows from before the column: tvm."""
    if "source" not in inf:
        return pd.Series("tvm", index=inf.index)
    return inf["source"].fillna("tvm").replace("", "tvm")


def cell_stats(inf: pd.DataFrame) -> pd.DataFrame:
    """Per row of the matrix (tune share, untuned, vendor) and inference share: the median latency,
    its ratio to the best tuned model at that inference share, the repeats and their IQR relative
    to the median."""
    inf = inf.assign(source=sources(inf))
    by = inf.groupby(["source", "tune_share", "infer_share"], dropna=False)["latency_ms"]
    st = by.agg(latency_ms="median", n="size", q1=lambda v: v.quantile(0.25),
                q3=lambda v: v.quantile(0.75)).reset_index()
    best = st[is_tuned(st)].groupby("infer_share")["latency_ms"].min()
    st["ratio"] = st["latency_ms"] / st["infer_share"].map(best)
    st["iqr"] = (st["q3"] - st["q1"]) / st["latency_ms"]
    st["tuned_at"] = [share_label(t) if s == "tvm" and pd.notna(t) else "untuned" if s == "tvm" else VENDORS.get(s, s)
                      for s, t in zip(st["source"], st["tune_share"])]
    return st


def with_references(g: pd.DataFrame, inf: pd.DataFrame) -> pd.DataFrame:
    """A group of one tuner setting with every reference row (untuned, vendors) of its model, batch
    and machine: those cells have no tuner setting, so they are measured once, under whichever
    sweep came first."""
    refs = on_machines(inf[inf["tune_share"].isna()])
    if refs.empty:
        return g
    keys = [k for k in ("model", "batch", *MACHINE) if k in refs and k in g]
    first = on_machines(g).iloc[0]
    same = refs[(refs[keys] == first[keys]).all(axis=1) & ~refs["cell_id"].isin(g["cell_id"])]
    return pd.concat([g, same.loc[:, [c for c in same.columns if c in g.columns]]], ignore_index=True)


def is_tuned(st: pd.DataFrame) -> pd.Series:
    return (st["source"] == "tvm") & st["tune_share"].notna()


def grid(st: pd.DataFrame, col: str) -> pd.DataFrame:
    """One column of cell_stats as a matrix. Rows: tune share (then 'untuned' and the vendors),
    columns: inference share."""
    tuned = st[is_tuned(st)]
    order = [share_label(s) for s in sorted(tuned["tune_share"].unique())]
    order += [r for r in ("untuned", *VENDORS.values()) if r in set(st["tuned_at"])]
    order += sorted(set(st["tuned_at"]) - set(order))
    mat = st.pivot(index="tuned_at", columns="infer_share", values=col)
    mat = mat.reindex(order)
    mat.columns = [f"{c:g}%" for c in mat.columns]
    return mat


def interdependency_matrix(inf: pd.DataFrame) -> pd.DataFrame:
    """Median latency per (tune share, infer share), normalised to the best tuned model at each
    inference share."""
    return grid(cell_stats(inf), "ratio")


def cell_text(ratio: float, iqr: float, n: float) -> str:
    """A cell's ratio, and under it the spread of its repeats (where it has several)."""
    if pd.isna(ratio) or n < 2:
        return "" if pd.isna(ratio) else f"{ratio:.2f}"
    pct = 100 * iqr  # one significant digit below 1%
    return f"{ratio:.2f}\nIQR {pct:.1g}%" if pct < 1 else f"{ratio:.2f}\nIQR {pct:.0f}%"


def colour_ticks(cbar, lo: float, hi: float) -> None:
    """Plain numbers on the log colour scale, at least an eighth of its range apart."""
    gap, ticks = np.log(hi / lo) / 8, []
    for t in (1, 1.1, 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000):
        if lo <= t <= hi and (not ticks or np.log(t / ticks[-1]) >= gap):
            ticks.append(t)
    cbar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    cbar.minorticks_off()


def heatmap(inf: pd.DataFrame, title: str):
    """Ratio to the best tuned model per cell, on a log colour scale from 1 to the largest ratio
    (the untuned row's included), each cell annotated with the IQR of its repeats."""
    st = cell_stats(inf)
    mat, iqr, n = grid(st, "ratio"), grid(st, "iqr"), grid(st, "n")
    text = [[cell_text(r, q, k) for r, q, k in zip(*rows)] for rows in zip(mat.values, iqr.values, n.values)]
    lo, hi = min(1.0, float(mat.min().min())), max(1.05, float(mat.max().max()))
    height = 0.7 * mat.shape[0] + 1.5 + 0.15 * title.count("\n")
    fig, ax = plt.subplots(figsize=(max(7.5, 1.1 * mat.shape[1] + 2.2), height))  # narrower cuts the colour label
    sns.heatmap(mat, annot=text, fmt="", annot_kws={"fontsize": 8}, cmap="rocket_r", norm=LogNorm(lo, hi),
                cbar_kws={"label": "latency / best at that share (log scale)"}, ax=ax)
    colour_ticks(ax.collections[0].colorbar, lo, hi)
    ax.set_xlabel("inference share")
    ax.set_ylabel("tuned at")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def phase_table(phases: pd.DataFrame) -> pd.DataFrame:
    """Seconds per phase for each tuning run; 'other' includes time no profiler scope covers."""
    keys = ["model", "tune_share", "cell_id"] + ["git_commit"] * ("git_commit" in phases)
    total = phases[phases["phase"] == "total"].groupby(keys, dropna=False)["seconds"].sum()
    parts = phases[phases["phase"] != "total"].groupby(keys + ["phase"], dropna=False)["seconds"].sum()
    parts = parts.unstack(fill_value=0.0)
    parts = parts.reindex(columns=PHASE_ORDER, fill_value=0.0)
    parts["other"] += (total - parts.sum(axis=1)).clip(lower=0)
    return parts.reset_index()


def phase_bars(phases: pd.DataFrame, title: str):
    """Tuning wall time of each run, stacked by phase."""
    tab = phase_table(phases)
    tab["run"] = tag(tab["model"] + " @ " + tab["tune_share"].map(share_label), tab)
    tab = tab.sort_values(["model", "tune_share"])
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(tab) + 1.6))
    left = pd.Series(0.0, index=tab.index)
    colors = sns.color_palette("Set2", len(PHASE_ORDER))
    for phase, color in zip(PHASE_ORDER, colors):
        ax.barh(tab["run"], tab[phase], left=left, color=color, label=phase)
        left += tab[phase]
    ax.set_xlabel("tuning wall time (s)")
    ax.legend(fontsize=7, ncol=len(PHASE_ORDER), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.suptitle(title, fontsize=8, wrap=True)
    fig.tight_layout()
    return fig


def convergence(rounds: pd.DataFrame, title: str):
    r = rounds.dropna(subset=["est_model_ms"]).copy()
    r["tuned at"] = r["tune_share"].map(share_label)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    sns.lineplot(r, x="trials_done", y="est_model_ms", hue="tuned at", marker="o", ax=ax, drawstyle="steps-post")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1))  # beside the curves, not over them
    ax.set_xlabel("trials")
    ax.set_ylabel("estimated model latency (ms)")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def heatmaps(x: Experiment, save) -> None:
    """One heatmap per model, batch, tuner setting and machine."""
    inf, tuning = x.rows(INFERENCE), x.rows(TUNING)
    for (model, batch, suffix), g in variants(inf):
        g = with_references(g, inf)
        tuned = with_tasks(g[g["tune_share"].notna()], tuning, key="tune_cell")
        runs = tuning[tuning["cell_id"].isin(g["tune_cell"])] if tuning is not None and "tune_cell" in g else None
        reps = span(g.groupby(["tune_share", "infer_share"], dropna=False).size())
        what = (f"median latency / best tuned model at each inference share\n"
                f"under it: IQR / median of the cell's {reps} repeats")
        rounds = x.rows(ROUNDS)
        rounds = rounds[rounds["cell_id"].isin(g["tune_cell"])] if rounds is not None and "tune_cell" in g else None
        head = caption(f"{x.exp}: {model} (batch {batch}) on {machine(g)}", depth(tuned), measured(rounds), what,
                       commit_note(g, runs))
        save(heatmap(g, head), f"{x.exp}_{model}_b{batch}{suffix}_heatmap.png")


def figures(x: Experiment, save) -> None:
    """Heatmap per model, phase bars, the largest share's timeline per model, convergence; each
    per machine."""
    phases, rounds, tuning = x.rows(PHASES), x.rows(ROUNDS), x.rows(TUNING)
    if x.rows(INFERENCE) is not None:
        heatmaps(x, save)
    for _, suffix, g in split(phases, []) if phases is not None else []:
        runs = with_tasks(g, tuning)
        save(phase_bars(g, caption(f"{x.exp}: tuning time by phase on {machine(g)}", depth(runs),
                                    commit_note(g, tagged=True))), f"{x.exp}_tuning_time{suffix}.png")
    run_timelines(x, save)
    if rounds is not None and rounds["est_model_ms"].notna().any():
        for (model, batch, suffix), g in variants(rounds):
            runs = with_tasks(g, tuning)
            save(convergence(g, caption(f"{x.exp}: {model} (batch {batch}) convergence on {machine(g)}", depth(runs),
                                      commit_note(g))),
                 f"{x.exp}_{model}_b{batch}{suffix}_convergence.png")
