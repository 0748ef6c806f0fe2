"""Tuning time per configuration against the stock baseline, with the runs' timelines."""

from __future__ import annotations

import re
import textwrap

import matplotlib.pyplot as plt
import pandas as pd

from analysis.load import Experiment, read_timeline, variants
from analysis.provenance import caption, commit_note, depth, machine, measured, tag
from analysis.timelines import side_by_side_timelines
from harness.results import CURVES, TUNING_TIME


def config_label(r) -> str:
    if r["mode"] == "baseline":
        return f"baseline ({r['builder']})"
    g = f" x{int(r['gpus'])} GPUs" if int(r.get("gpus", 1)) > 1 else ""
    # a cell paused at a deadline paid its start-up again in each segment
    seg = f", {int(r['segments'])} segments" if int(r.get("segments", 1) or 1) > 1 else ""
    how = r.get("split")
    how = f", {how}" if isinstance(how, str) and how not in ("", "lpt") else ""
    cell = str(r.get("cell_id", ""))
    hold = re.search(r"-queue-h(\d+)", cell)
    how += f", {hold[1]} held" if hold else ""
    how += ", shared model" if cell.endswith("-shared") else ""
    return f"K={int(r['clients'])} S={int(r['servers'])}@{float(r['server_share']):g}%{g} ({r['builder']}{how}{seg})"


def with_commits(t: pd.DataFrame) -> pd.Series:
    """Each row's configuration label, with its commit where the rows come from several."""
    return tag(t.apply(config_label, axis=1), t)


def stock(tt: pd.DataFrame) -> pd.Series | None:
    """The baseline row with the local builder (else any baseline row), None without one."""
    base = tt[tt["mode"] == "baseline"]
    if not len(base):
        return None
    local = base[base["builder"] == "local"]
    return (local if len(local) else base).iloc[0]


def comparison(tt: pd.DataFrame, title: str):
    """Tuning time, trials/s and final latency per configuration, against the stock baseline
    (the paper's -75% time and 5x throughput as reference lines)."""
    t = tt.copy()
    t["config"] = with_commits(t)
    t = t.sort_values(["mode", "builder", "gpus", "clients", "servers"], key=lambda c: c.map(
        lambda v: {"baseline": 0, "slicetune": 1}.get(v, v)))
    ref = stock(t)
    name = config_label(ref) if ref is not None else ""  # stock where present, else the baseline there is
    t["config"] = t["config"].map(lambda c: textwrap.fill(c, 44))  # long labels on two lines, not squeezed panels
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.5 * len(t) + 2.4), sharey=True)
    colors = t["builder"].map({"local": "tab:blue", "persistent": "tab:orange"}).fillna("grey")
    axes[0].barh(t["config"], t["wall_s"], color=colors)
    axes[0].set_xlabel("tuning wall time (s)")
    axes[1].barh(t["config"], t["trials_per_s"] / (ref["trials_per_s"] if ref is not None else 1), color=colors)
    axes[1].set_xlabel(f"trials/s\nvs {name}" if ref is not None else "trials/s")
    per = ref["final_latency_ms"] if ref is not None else 1
    std = t["latency_std_ms"] / per if "latency_std_ms" in t else None
    axes[2].barh(t["config"], t["final_latency_ms"] / per, xerr=std, color=colors, error_kw={"lw": 1, "capsize": 2})
    axes[2].set_xlabel((f"final latency\nvs {name}" if ref is not None else "final latency (ms)")
                       + ("\n(error bars: ±1 std of its repeats)" if std is not None else ""))
    if ref is not None:
        axes[0].axvline(0.25 * ref["wall_s"], color="k", ls="--", lw=1, label="paper: -75%")
        axes[1].axvline(5, color="k", ls="--", lw=1, label="paper: 5x")
        axes[1].axvline(1, color="grey", lw=0.8)
        axes[2].axvspan(0.95, 1.05, color="grey", alpha=0.2, label="within 5%")
        for ax in axes:
            ax.legend(fontsize=7, loc="lower right")
    axes[0].invert_yaxis()
    fig.suptitle(caption(title, commit_note(t, tagged=True)), fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def compared_runs(d: str, tt: pd.DataFrame) -> list:
    """(label, timeline, spans) of the stock baseline and the fastest Slice-Tune configuration."""
    picks = []
    ref = stock(tt)
    if ref is not None:
        picks.append(ref)
    st = tt[tt["mode"] == "slicetune"]
    if len(st):
        picks.append(st.loc[st["wall_s"].idxmin()])
    out = []
    labels = with_commits(tt)
    for r in picks:
        tl, spans = read_timeline(d, r["cell_id"])
        if tl is not None:
            label = f"{labels[r.name]}: {r['wall_s']:.0f} s, {r['trials_per_s']:.2f} trials/s"
            out.append((label, tl, spans))
    return out


def time_to_quality(tt: pd.DataFrame, curves: pd.DataFrame) -> pd.Series:
    """Per configuration (cell_id): the first time its estimated model latency reached the stock
    baseline's final estimate (NaN where it never did, or without a stock curve)."""
    ref = stock(tt)
    base = curves[curves["cell_id"] == ref["cell_id"]] if ref is not None else curves.iloc[:0]
    if not len(base):
        return pd.Series(float("nan"), index=tt["cell_id"])
    target = base.sort_values("t_s")["est_model_ms"].iloc[-1]
    hit = curves[curves["est_model_ms"] <= target * (1 + 1e-9)].groupby("cell_id")["t_s"].min()
    return hit.reindex(tt["cell_id"])


def quality(tt: pd.DataFrame, curves: pd.DataFrame, title: str):
    """Estimated model latency (sum of weight x best task latency) against tuning time, one line
    per configuration; the legend gives start-up, steady trials/s and the time to reach the stock
    baseline's final estimate (or, without one, the baseline's that is there, named)."""
    labels, reach = with_commits(tt), time_to_quality(tt, curves)
    ref = stock(tt)
    goal = config_label(ref) if ref is not None else "stock baseline"  # the reference actually present
    fig, ax = plt.subplots(figsize=(8, 4.5 + 0.14 * len(tt)))
    for i, r in tt.iterrows():
        c = curves[curves["cell_id"] == r["cell_id"]].sort_values("t_s")
        if not len(c):
            continue
        facts = [f"{r[k]:{f}}{u}" for k, f, u in (("startup_s", ".0f", " s start-up"),
                                                   ("steady_trials_per_s", ".2f", " trials/s steady"))
                 if k in r and pd.notna(r[k])]
        t = reach.get(r["cell_id"])
        facts.append(f"{goal}'s final at {t:.0f} s" if pd.notna(t) else f"{goal}'s final not reached")
        ax.step(c["t_s"], c["est_model_ms"], where="post", label=f"{labels[i]}: {', '.join(facts)}")
    if ref is not None and reach.notna().any():
        ax.axhline(curves[curves["cell_id"] == ref["cell_id"]]["est_model_ms"].min(), color="k", ls=":", lw=0.8)
    ax.set_xlabel("tuning time (s, the cell's clock)")
    ax.set_ylabel("estimated model latency (ms)")
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.14))  # below: the curves stay visible
    fig.suptitle(caption(title, commit_note(tt, tagged=True)), fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def per_gpu(r) -> int:
    """A row's GPUs where its trial budget was per GPU (weak scaling), else 1."""
    return int(r["gpus"]) if r.get("scale") == "weak" else 1


def settings(tt: pd.DataFrame) -> pd.Series:
    """The search settings a figure's rows share (the builder is a configuration, not a setting):
    the budget, and the per-task cap and initial sampling where rows record them."""
    def one(r) -> str:
        n = per_gpu(r)  # weak scaling: its budget over the GPUs, so it shares a figure with the strong rows
        s = f"{int(r['trials']) // n}trials"
        if pd.notna(r.get("max_trials_per_task")):
            s += f"_{int(r['max_trials_per_task']) // n}pertask"
        if pd.notna(r.get("init_min_unmeasured")) and int(r["init_min_unmeasured"]) != 50:
            s += f"_init{int(r['init_min_unmeasured'])}"
        return s
    return tt.apply(one, axis=1)


def per_configuration(x: Experiment, save, chart) -> None:
    """Per model and trial budget (the builder is a configuration, not a setting): `chart` of
    its rows, and the timelines of the baseline and the fastest Slice-Tune run side by side."""
    tt = x.rows(TUNING_TIME)
    if tt is None:
        return
    for (model, batch, suffix), g in variants(tt.assign(tuner_fp=settings(tt))):
        name, on = f"{x.exp}_{model}_b{batch}{suffix}", machine(g)
        base = g.iloc[0]
        cap = base["max_trials_per_task"] if "max_trials_per_task" in g else None
        per = (f" (at most {int(cap) // per_gpu(base)} per task; tasks with fewer schedules end sooner)"
               if pd.notna(cap) else "")
        weak = " (weak scaling: per GPU)" if "scale" in g and (g["scale"] == "weak").any() else ""
        head = caption(f"{x.exp}: {model} (batch {batch}) on {on}, a budget of {int(base['trials']) // per_gpu(base)} "
                       f"trials per configuration{weak}{per}", measured(g))
        save(chart(g, caption(head, depth(g))), f"{name}.png")
        curves = x.rows(CURVES)
        mine = None if curves is None else curves[curves["cell_id"].isin(g["cell_id"])]
        if mine is not None and len(mine):
            save(quality(g, mine, caption(head, depth(g))), f"{name}_quality.png")
        runs = compared_runs(x.d, g)
        if runs:
            save(side_by_side_timelines(runs, caption(f"{x.exp}: {model} on {on}: where the time goes", depth(g))),
                 f"{name}_timelines.png", dpi=80)


def figures(x: Experiment, save) -> None:
    per_configuration(x, save, comparison)
