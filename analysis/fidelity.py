"""Measurement fidelity: candidates measured beside other servers (while tuning) against the same
measured alone afterwards (slicetune.verify_top_k), per number of servers sharing the GPU."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from analysis.load import Experiment, variants
from analysis.provenance import caption, commit_note, depth, machine
from harness.results import TUNING_TIME, VERIFY

TOP_K = 5  # candidates per task a verification step measures again (issue 15's k)
MIN_CANDIDATES = 3  # fewer per task give no rank correlation


def _spearman(a: pd.Series, b: pd.Series) -> float | None:
    return a.rank().corr(b.rank()) if len(a) >= MIN_CANDIDATES and a.nunique() > 1 and b.nunique() > 1 else None


def task_fidelity(v: pd.DataFrame, k: int = TOP_K) -> pd.DataFrame:
    """Per cell and task: Spearman's rank correlation of the two measurements over every verified
    candidate and over the top k (as tuned), the regret of the candidate chosen as tuned
    (its latency alone / the best alone), and what is left of it after verifying the top k."""
    rows = []
    for (cell, task), g in v.dropna(subset=["tuned_us"]).groupby(["cell_id", "task"]):
        g = g.sort_values("tuned_us")
        top, best = g.head(k), g["isolated_us"].min()
        rows.append({"cell_id": cell, "task": task, "candidates": len(g),
                     "spearman_all": _spearman(g["tuned_us"], g["isolated_us"]),
                     "spearman_top": _spearman(top["tuned_us"], top["isolated_us"]),
                     "regret": g["isolated_us"].iloc[0] / best, "regret_verified": top["isolated_us"].min() / best})
    return pd.DataFrame(rows)


def verify_cost(tt: pd.DataFrame, per_task: pd.DataFrame) -> pd.DataFrame:
    """Per number of servers: the verification step's seconds per task and per candidate (its
    verify_s over the tasks and candidates it measured again)."""
    done = per_task.groupby("cell_id").agg(tasks=("task", "nunique"), candidates=("candidates", "sum"))
    c = tt[["cell_id", "servers", "verify_s"]].dropna().merge(done, left_on="cell_id", right_index=True)
    return c.assign(per_task=c["verify_s"] / c["tasks"], per_candidate=c["verify_s"] / c["candidates"]
                    ).groupby("servers")[["per_task", "per_candidate"]].median()


def fidelity(tt: pd.DataFrame, per_task: pd.DataFrame, title: str):
    """Median over tasks of the rank correlations and the regrets, and the verification step's
    cost, against the servers sharing the GPU."""
    s = per_task.merge(tt[["cell_id", "servers"]], on="cell_id").groupby("servers").agg(
        spearman_all=("spearman_all", "median"), spearman_top=("spearman_top", "median"),
        regret=("regret", "median"), regret_max=("regret", "max"), regret_verified=("regret_verified", "max"))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    cost = verify_cost(tt, per_task) if "verify_s" in tt else pd.DataFrame()
    if len(cost):
        axes[2].plot(cost.index, cost["per_task"], "o-", label="per task")
        axes[2].plot(cost.index, cost["per_candidate"], "s--", label="per candidate")
        for n, v in cost["per_task"].items():
            axes[2].annotate(f"{v:.1f} s", (n, v), textcoords="offset points", xytext=(6, -3), fontsize=7)
    axes[2].set_ylabel("verification (s)")
    axes[2].set_ylim(bottom=0)
    axes[0].plot(s.index, s["spearman_all"], "o-", label="every verified candidate")
    axes[0].plot(s.index, s["spearman_top"], "s--", label=f"top {TOP_K} as tuned")
    axes[0].axhline(0.95, color="k", ls=":", lw=1, label="target 0.95 (top k)")
    axes[0].set_ylabel("Spearman, tuned vs alone\n(median over tasks)")
    axes[1].plot(s.index, s["regret"], "o-", label="chosen as tuned (median)")
    axes[1].plot(s.index, s["regret_max"], "o:", label="chosen as tuned (worst task)")
    axes[1].plot(s.index, s["regret_verified"], "s--", label=f"after verifying the top {TOP_K} (worst task)")
    axes[1].axhline(1.03, color="k", ls=":", lw=1, label="target 1.03")
    axes[1].set_ylabel("regret: latency alone /\nbest alone")
    for ax in axes:
        ax.set_xlabel("servers sharing the device")
        ax.set_xticks(list(s.index))
        if ax.get_lines():
            ax.legend(fontsize=6.5)
    fig.suptitle(title, fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def figures(x: Experiment, save) -> None:
    """Per model and setting: the fidelity figure, from the verified candidates."""
    tt, v = x.rows(TUNING_TIME), x.rows(VERIFY)
    if tt is None or v is None:
        return
    for (model, batch, suffix), g in variants(tt):
        per_task = task_fidelity(v[v["cell_id"].isin(g["cell_id"])])
        if per_task.empty:
            continue
        head = (f"{x.exp}: {model} (batch {batch}) on {machine(g)}, {int(per_task['candidates'].median())} "
                f"verified candidates per task (median), {per_task['task'].nunique()} tasks")
        save(fidelity(g, per_task, caption(head, depth(g), commit_note(g))), f"{x.exp}_{model}_b{batch}{suffix}.png")
