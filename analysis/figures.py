"""Figures from result files only (long-form CSVs written by the harness)."""

from __future__ import annotations

import glob
import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
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


def _lanes(ax, spans: pd.DataFrame, tl: pd.DataFrame | None) -> None:
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


def _utilisation(ax, tl: pd.DataFrame) -> bool:
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
        _lanes(axes.pop(0), spans, tl)
    _utilisation(axes[0], tl)
    fig.axes[0].set_title(title, fontsize=9, pad=20 if has_spans else 4)
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
        lanes, util = axes[2 * i, 0], axes[2 * i + 1, 0]
        if sp is not None and len(sp):
            _lanes(lanes, sp, tl)
        lanes.set_title(label, fontsize=8, loc="left", pad=12)
        _utilisation(util, tl)
    axes[-1, 0].set_xlabel("time since the run started (s)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _config_label(r) -> str:
    if r["mode"] == "baseline":
        return f"baseline ({r['builder']})"
    g = f" x{int(r['gpus'])} GPUs" if int(r.get("gpus", 1)) > 1 else ""
    # a cell paused at a deadline paid its start-up again in each segment
    seg = f", {int(r['segments'])} segments" if int(r.get("segments", 1) or 1) > 1 else ""
    return f"K={int(r['clients'])} S={int(r['servers'])}@{float(r['server_share']):g}%{g} ({r['builder']}{seg})"


def _stock(tt: pd.DataFrame) -> pd.Series | None:
    base = tt[tt["mode"] == "baseline"]
    if not len(base):
        return None
    stock = base[base["builder"] == "local"]
    return (stock if len(stock) else base).iloc[0]


def comparison(tt: pd.DataFrame, title: str):
    """Tuning time, trials/s and final latency per configuration, against the stock baseline
    (the paper's -75% time and 5x throughput as reference lines)."""
    t = tt.copy()
    t["config"] = t.apply(_config_label, axis=1)
    t = t.sort_values(["mode", "builder", "gpus", "clients", "servers"], key=lambda c: c.map(
        lambda v: {"baseline": 0, "slicetune": 1}.get(v, v)))
    ref = _stock(t)
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.32 * len(t) + 1.8), sharey=True)
    colors = t["builder"].map({"local": "tab:blue", "persistent": "tab:orange"}).fillna("grey")
    axes[0].barh(t["config"], t["wall_s"], color=colors)
    axes[0].set_xlabel("tuning wall time (s)")
    axes[1].barh(t["config"], t["trials_per_s"] / (ref["trials_per_s"] if ref is not None else 1), color=colors)
    axes[1].set_xlabel("trials/s vs stock baseline" if ref is not None else "trials/s")
    axes[2].barh(t["config"], t["final_latency_ms"] / (ref["final_latency_ms"] if ref is not None else 1), color=colors)
    axes[2].set_xlabel("final latency vs stock baseline" if ref is not None else "final latency (ms)")
    if ref is not None:
        axes[0].axvline(0.25 * ref["wall_s"], color="k", ls="--", lw=1, label="paper: -75%")
        axes[1].axvline(5, color="k", ls="--", lw=1, label="paper: 5x")
        axes[1].axvline(1, color="grey", lw=0.8)
        axes[2].axvspan(0.95, 1.05, color="grey", alpha=0.2, label="within 5%")
        for ax in axes:
            ax.legend(fontsize=7, loc="lower right")
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def scaling(tt: pd.DataFrame, title: str):
    """Trials/s and tuning time against the number of GPUs, with linear scaling from one GPU
    and the 0.8x-linear target."""
    g = tt.groupby("gpus").agg(trials_per_s=("trials_per_s", "max"), wall_s=("wall_s", "min"),
                               latency=("final_latency_ms", "min")).sort_index()
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    axes[0].plot(g.index, g["trials_per_s"], "o-", label="measured")
    if 1 in g.index:
        n = np.array([1, max(8, int(g.index.max()))])
        one = g.loc[1, "trials_per_s"]
        axes[0].plot(n, one * n, "k--", lw=1, label="linear")
        axes[0].plot(n, 0.8 * one * n, "k:", lw=1, label="0.8x linear (target)")
    axes[0].set_xlabel("GPUs")
    axes[0].set_ylabel("trials/s")
    axes[0].legend(fontsize=7)
    axes[1].plot(g.index, g["wall_s"], "o-")
    axes[1].set_xlabel("GPUs")
    axes[1].set_ylabel("tuning wall time (s)")
    for ax in axes:
        ax.set_xticks(sorted(set(g.index) | {1, 2, 4, 8}))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def throughput(tp: pd.DataFrame, title: str):
    """Trials/s of a set of models tuned one after another vs all at once (5x reference)."""
    per = tp.groupby("mode", sort=False).agg(trials_per_s=("trials_per_s", "first"), wall_s=("wall_s", "first"))
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
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
    fig.suptitle(title, fontsize=9)
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
    if not os.path.exists(path) or not os.path.getsize(path):
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None


def _timeline_file(d: str, cell: str, kind: str = "") -> str:
    """timelines/<cell><kind>.csv.gz (or .csv, as first written)."""
    path = os.path.join(d, "timelines", f"{cell}{kind}.csv")
    return path if os.path.exists(path) else path + ".gz"


def _last_runs(d: str) -> list[str]:
    """Cells with a timeline: per model, the run tuned at the largest share only."""
    cells = {os.path.basename(p).split(".")[0] for p in glob.glob(os.path.join(d, "timelines", "*.csv*"))}
    by_model: dict[str, tuple[float, str]] = {}
    for c in cells:
        stem, _, share = c.rpartition("-tune")
        try:
            pct = float(share)
        except ValueError:
            continue
        if pct >= by_model.get(stem, (-1.0, ""))[0]:
            by_model[stem] = (pct, c)
    return sorted(c for _, c in by_model.values())


def _compared_runs(d: str, tt: pd.DataFrame) -> list:
    """(label, timeline, spans) of the stock baseline and the fastest Slice-Tune configuration."""
    picks = []
    ref = _stock(tt)
    if ref is not None:
        picks.append(ref)
    st = tt[tt["mode"] == "slicetune"]
    if len(st):
        picks.append(st.loc[st["wall_s"].idxmin()])
    out = []
    for r in picks:
        tl = _read(_timeline_file(d, r["cell_id"]))
        if tl is not None:
            label = f"{_config_label(r)}: {r['wall_s']:.0f} s, {r['trials_per_s']:.2f} trials/s"
            out.append((label, tl, _read(_timeline_file(d, r["cell_id"], ".spans"))))
    return out


def save_png(fig, path: str, dpi: int = 100) -> None:
    """A PNG in 256 colours (a third of the size; figures are committed)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def experiment_dirs(root: str) -> list[str]:
    """Directories holding result files below `root` (results/, results/<platform>, or one exp)."""
    found = {os.path.dirname(p) for pat in ("inference.csv", "tuning.csv", "tuning_time.csv", "throughput.csv")
             for p in glob.glob(os.path.join(root, "**", pat), recursive=True)}
    return sorted(found)


def make_all(root: str = "results") -> list[str]:
    """Regenerate every figure under `root`; returns the PNG paths written."""
    written = []
    for d in experiment_dirs(root):
        exp, platform_dir = os.path.basename(d), os.path.dirname(d)
        fig_dir = os.path.join(platform_dir, "figures")
        os.makedirs(fig_dir, exist_ok=True)

        def save(fig, name, dpi=100):
            path = os.path.join(fig_dir, name)
            save_png(fig, path, dpi)
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
        tt, tp = _read(os.path.join(d, "tuning_time.csv")), _read(os.path.join(d, "throughput.csv"))
        if tt is not None and len(tt):
            # one figure per model and trial budget (the builder is a configuration, not a setting)
            for (model, batch, suffix), g in _variants(tt.assign(tuner_fp=tt["trials"].astype(str) + "trials")):
                dev, trials = g["device"].iloc[0], g["trials"].iloc[0]
                what = f"{exp}: {model} (batch {batch}) on {dev}, {trials} trials per configuration"
                # without a baseline row it is a scaling sweep: against the number of GPUs
                draw = comparison if (g["mode"] == "baseline").any() else scaling
                save(draw(g, what), f"{exp}_{model}_b{batch}{suffix}.png")
                runs = _compared_runs(d, g)
                if runs:
                    save(side_by_side_timelines(runs, f"{exp}: {model} on {dev}: where the time goes"),
                         f"{exp}_{model}_b{batch}{suffix}_timelines.png", dpi=80)
        if tp is not None and len(tp):
            for models, g in tp.groupby("models"):
                dev = g["device"].iloc[0]
                save(throughput(g, f"{exp}: {models} on {dev}, {g['trials'].iloc[0]} trials per model"),
                     f"{exp}_{models.replace('+', '_')}.png")
        if tt is None and tp is None:  # one run per model: every run's samples stay in timelines/
            for cell in _last_runs(d):
                tl = _read(_timeline_file(d, cell))
                if tl is not None and len(tl):
                    spans = _read(_timeline_file(d, cell, ".spans"))
                    save(timeline(tl, f"{exp}: {cell}", spans), f"{exp}_timeline_{cell}.png", dpi=80)
        if rounds is not None and rounds["est_model_ms"].notna().any():
            for (model, batch, suffix), g in _variants(rounds):
                save(convergence(g, f"{exp}: {model} (batch {batch}) convergence"),
                     f"{exp}_{model}_b{batch}{suffix}_convergence.png")
    return written
