"""op_interdependency: per task, each tune share's best kernel timed at every inference share,
as the ratio to the best kernel at that share; and the summary over tasks (geometric mean)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.interdependency import cell_stats, grid
from analysis.load import Experiment, variants
from analysis.provenance import caption, commit_note, machine
from harness.results import OP_INFERENCE, OP_TUNING


def task_matrix(rows: pd.DataFrame) -> pd.DataFrame:
    """One task's ratio matrix: tune share x inference share, median latency / the best at that share."""
    return grid(cell_stats(rows.assign(latency_ms=rows["latency_us"])), "ratio")


def runs_of(tuning: pd.DataFrame | None, inf: pd.DataFrame) -> pd.DataFrame | None:
    """The tuning rows of the runs whose kernels `inf` timed."""
    return tuning[tuning["cell_id"].isin(inf["tune_cell"])] if tuning is not None else None


SETTLED_ROUNDS = 4  # fewer rounds of a task cannot show convergence (harness.metrics.MIN_ROUNDS)


def depth(tuning: pd.DataFrame | None) -> str:
    """Trials per task and share, rounds, and how many runs converged; 'smoke test' under 4 rounds."""
    if tuning is None or tuning.empty:
        return "tuning rows not found"
    per_round = tuning["trials_per_round"].iloc[0] if "trials_per_round" in tuning else None
    trials = int(tuning["trials"].max())  # the column is the task's
    rounds = trials / per_round if per_round else math.nan
    text = f"{trials} trials per task and share ({rounds:.2g} rounds); converged: " \
           f"{int(tuning['converged'].astype(str).eq('True').sum())} of {len(tuning)} runs"
    return f"smoke test: {text}" if rounds < SETTLED_ROUNDS else text


def _panel(ax, mat: pd.DataFrame, title: str, lo: float, hi: float) -> None:
    sns.heatmap(mat, annot=True, fmt=".2f", annot_kws={"fontsize": 7}, cmap="rocket_r", vmin=lo, vmax=hi,
                cbar=False, ax=ax)
    ax.set_title(title, fontsize=7)
    ax.set_xlabel("inference share", fontsize=7)
    ax.set_ylabel("tuned at", fontsize=7)


def per_task(inf: pd.DataFrame, tuning: pd.DataFrame | None, head: str):
    tasks = list(dict.fromkeys(inf["task"]))
    mats = {t: task_matrix(inf[inf["task"] == t]) for t in tasks}
    hi = max(1.05, max(float(m.max().max()) for m in mats.values()))
    cols = min(2, len(tasks))
    fig, axes = plt.subplots(math.ceil(len(tasks) / cols), cols, squeeze=False,
                             figsize=(4.2 * cols, 3.0 * math.ceil(len(tasks) / cols) + 0.8))
    for ax, t in zip(axes.flat, tasks):
        conv = ""
        if tuning is not None and "task" in tuning:
            mine = tuning[tuning["task"] == t]
            conv = f"\nconverged at {int(mine['converged'].astype(str).eq('True').sum())} of {len(mine)} shares"
        _panel(ax, mats[t], f"{t[:48]}{conv}", 1.0, hi)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.suptitle(head, fontsize=8, wrap=True)
    fig.tight_layout()
    return fig


def summary_matrix(inf: pd.DataFrame) -> pd.DataFrame:
    """Geometric mean over tasks of each cell's ratio (tune share x inference share)."""
    mats = [task_matrix(inf[inf["task"] == t]) for t in dict.fromkeys(inf["task"])]
    logs = pd.concat([np.log(m) for m in mats]).groupby(level=0, sort=False).mean()
    return np.exp(logs).reindex(mats[0].index)


def summary(inf: pd.DataFrame, head: str):
    """The summary matrix as a heatmap."""
    mat = summary_matrix(inf)
    fig, ax = plt.subplots(figsize=(1.0 * mat.shape[1] + 2.5, 0.55 * mat.shape[0] + 1.8))
    _panel(ax, mat, "geometric mean over tasks of latency / best at that share", 1.0,
           max(1.05, float(mat.max().max())))
    fig.suptitle(head, fontsize=8, wrap=True)
    fig.tight_layout()
    return fig


def figures(x: Experiment, save) -> None:
    inf, tuning = x.rows(OP_INFERENCE), x.rows(OP_TUNING)
    if inf is None:
        return
    for (model, batch, suffix), g in variants(inf):
        runs = runs_of(tuning, g)
        head = caption(f"{x.exp}: {model} (batch {batch}) kernels on {machine(g)}", depth(runs),
                       "each kernel's median latency / the best tune share's at that inference share",
                       commit_note(g, runs))
        save(per_task(g, runs, head), f"{x.exp}_{model}_b{batch}{suffix}_tasks.png")
        save(summary(g, head), f"{x.exp}_{model}_b{batch}{suffix}_summary.png")
