"""Reading result files and grouping their rows; no plotting."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import pandas as pd

from harness.results import INFERENCE, PHASES, ROUNDS, THROUGHPUT, TUNING, TUNING_TIME

RESULT_FILES = (INFERENCE, PHASES, ROUNDS, TUNING, TUNING_TIME, THROUGHPUT)
# any of these marks a directory of results
DIR_MARKERS = (INFERENCE, TUNING, TUNING_TIME, THROUGHPUT)


@dataclass
class Experiment:
    """The rows of one experiment in one results directory (which holds its timelines/)."""

    d: str
    exp: str  # names the figures
    frames: dict[str, pd.DataFrame]  # result file name -> its non-empty rows of this experiment

    def rows(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)


def read(path: str) -> pd.DataFrame | None:
    """A CSV's rows, or None for a missing or empty file."""
    if not os.path.exists(path) or not os.path.getsize(path):
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None


def read_dir(d: str) -> dict[str, pd.DataFrame]:
    """The result files in `d` that have rows."""
    frames = {name: read(os.path.join(d, name)) for name in RESULT_FILES}
    return {name: df for name, df in frames.items() if df is not None and len(df)}


def split_exp(frames: dict[str, pd.DataFrame], default: str) -> dict[str, dict[str, pd.DataFrame]]:
    """exp -> file name -> rows, by the rows' exp column (`default` for a file without one)."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for name, df in frames.items():
        groups = df.groupby("exp", sort=False) if "exp" in df else [(default, df)]
        for exp, g in groups:
            out.setdefault(str(exp), {})[name] = g
    return out


def experiment_dirs(root: str) -> list[str]:
    """Directories holding result files below `root` (results/, results/<platform>, or one exp)."""
    found = {os.path.dirname(p) for pat in DIR_MARKERS
             for p in glob.glob(os.path.join(root, "**", pat), recursive=True)}
    return sorted(found)


def variants(df: pd.DataFrame):
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


def timeline_file(d: str, cell: str, kind: str = "") -> str:
    """timelines/<cell><kind>.csv.gz (or .csv, as first written)."""
    path = os.path.join(d, "timelines", f"{cell}{kind}.csv")
    return path if os.path.exists(path) else path + ".gz"


def read_timeline(d: str, cell: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(samples, phase spans) of one run, each None where not recorded."""
    return read(timeline_file(d, cell)), read(timeline_file(d, cell, ".spans"))


def last_runs(d: str, tuning: pd.DataFrame | None) -> list[str]:
    """Cells that get a timeline figure, from tuning.csv rows: per model (batch and tuner
    setting), the run tuned at the largest share that has a timeline file."""
    if tuning is None or "cell_id" not in tuning:
        return []
    runs = tuning.dropna(subset=["tune_share"])
    runs = runs[runs["cell_id"].map(lambda c: os.path.exists(timeline_file(d, c)))]
    keys = [k for k in ("model", "batch", "tuner_fp") if k in runs]
    last = runs.sort_values("tune_share", kind="stable").groupby(keys, dropna=False).tail(1)
    return sorted(set(last["cell_id"]))
