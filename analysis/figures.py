"""Figures from result files only (long-form CSVs written by the harness)."""

from __future__ import annotations

import glob
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PHASE_ORDER = ["search", "build", "measure", "cost_model", "other"]


def _share_label(v) -> str:
    return "untuned" if pd.isna(v) else f"{float(v):g}%"


def interdependency_matrix(inf: pd.DataFrame) -> pd.DataFrame:
    """Median latency per (tune share, infer share), normalised to the best tuned model at each
    inference share. Rows: tune share (and 'untuned'), columns: inference share."""
    med = inf.groupby(["tune_share", "infer_share"], dropna=False)["latency_ms"].median().reset_index()
    tuned = med[med["tune_share"].notna()]
    best = tuned.groupby("infer_share")["latency_ms"].min()
    med["ratio"] = med["latency_ms"] / med["infer_share"].map(best)
    med["tuned_at"] = med["tune_share"].map(_share_label)
    order = [_share_label(s) for s in sorted(tuned["tune_share"].unique())]
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


def tuning_time(phases: pd.DataFrame, title: str):
    tab = phase_table(phases)
    tab["run"] = tab["model"] + " @ " + tab["tune_share"].map(_share_label)
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
    r["tuned at"] = r["tune_share"].map(_share_label)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    sns.lineplot(r, x="trials_done", y="est_model_ms", hue="tuned at", marker="o", ax=ax, drawstyle="steps-post")
    ax.set_xlabel("trials")
    ax.set_ylabel("estimated model latency (ms)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def timeline(tl: pd.DataFrame, title: str):
    """CPU and (where sampled) GPU utilisation, SM clock and GPU processes over one run."""
    gpu = "gpu_util_pct" in tl and tl["gpu_util_pct"].notna().any()
    fig, axes = plt.subplots(2 if gpu else 1, 1, figsize=(6.5, 4.2 if gpu else 2.4), sharex=True, squeeze=False)
    ax = axes[0, 0]
    ax.plot(tl["t_s"], tl["cpu_util_pct"], label="CPU %", lw=1)
    if gpu:
        ax.plot(tl["t_s"], tl["gpu_util_pct"], label="GPU %", lw=1)
    ax.set_ylim(0, 105)
    ax.set_ylabel("utilisation (%)")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title, fontsize=9)
    if gpu:
        ax2 = axes[1, 0]
        ax2.plot(tl["t_s"], tl["sm_clock_mhz"], color="tab:green", lw=1)
        ax2.set_ylabel("SM clock (MHz)")
        ax3 = ax2.twinx()
        ax3.step(tl["t_s"], tl["gpu_procs"], color="tab:red", lw=1, where="post")
        ax3.set_ylabel("GPU processes", color="tab:red")
    axes[-1, 0].set_xlabel("time since tuning started (s)")
    fig.tight_layout()
    return fig


def _variants(df: pd.DataFrame):
    """Groups that belong in one figure: one model, batch and tuner setting (rows of other
    tuner settings stay in the files after a re-run with changed settings). Yields
    ((model, batch, file-name suffix), rows); the suffix names the setting where a model has
    several."""
    fp = "tuner_fp" if "tuner_fp" in df else None
    keys = ["model", "batch"] + ([fp] if fp else [])
    for vals, g in df.groupby(keys):
        model, batch = vals[0], vals[1]
        several = fp and df.loc[df["model"] == model, fp].nunique() > 1
        yield (model, batch, f"_{vals[2]}" if several else ""), g


def _read(path: str) -> pd.DataFrame | None:
    return pd.read_csv(path) if os.path.exists(path) else None


def experiment_dirs(root: str) -> list[str]:
    """Directories holding result files below `root` (results/, results/<platform>, or one exp)."""
    found = {os.path.dirname(p) for pat in ("inference.csv", "tuning.csv")
             for p in glob.glob(os.path.join(root, "**", pat), recursive=True)}
    return sorted(found)


def make_all(root: str = "results") -> list[str]:
    """Regenerate every figure under `root`; returns the PNG paths written."""
    written = []
    for d in experiment_dirs(root):
        exp, platform_dir = os.path.basename(d), os.path.dirname(d)
        fig_dir = os.path.join(platform_dir, "figures")
        os.makedirs(fig_dir, exist_ok=True)

        def save(fig, name):
            path = os.path.join(fig_dir, name)
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)

        inf, phases, rounds = (_read(os.path.join(d, f)) for f in ("inference.csv", "tuning_phases.csv", "tuning_rounds.csv"))
        if inf is not None and len(inf):
            for (model, batch, suffix), g in _variants(inf):
                dev = g["device"].iloc[0]
                trials = "/".join(str(t) for t in sorted(g["trials"].unique())) if "trials" in g else "?"
                title = (f"{exp}: {model} (batch {batch}) on {dev}, {trials} trials per tuning run\n"
                         f"median latency / best tuned model at each inference share")
                save(heatmap(g, title), f"{exp}_{model}_b{batch}{suffix}_heatmap.png")
        if phases is not None and len(phases):
            dev = phases["device"].iloc[0]
            save(tuning_time(phases, f"{exp}: tuning time by phase on {dev}"), f"{exp}_tuning_time.png")
        for path in sorted(glob.glob(os.path.join(d, "timelines", "*.csv"))):
            cell = os.path.basename(path)[:-4]
            tl = pd.read_csv(path)
            if len(tl):
                save(timeline(tl, f"{exp}: {cell}"), f"{exp}_timeline_{cell}.png")
        if rounds is not None and rounds["est_model_ms"].notna().any():
            for (model, batch, suffix), g in _variants(rounds):
                save(convergence(g, f"{exp}: {model} (batch {batch}) convergence"),
                     f"{exp}_{model}_b{batch}{suffix}_convergence.png")
    return written
