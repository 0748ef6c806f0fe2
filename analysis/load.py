"""Reading result files and grouping their rows; no plotting."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

import pandas as pd

from harness.results import ARCHIVE, existing, timeline_file
from harness.results import (CURVES, INFERENCE, OP_INFERENCE, OP_TUNING, PHASE_USE, PHASES, ROUNDS, THROUGHPUT,
                             TUNING, TUNING_TIME, VERIFY)

RESULT_FILES = (INFERENCE, PHASES, ROUNDS, TUNING, TUNING_TIME, THROUGHPUT, CURVES, PHASE_USE, OP_TUNING, OP_INFERENCE,
                VERIFY)
# any of these marks a directory of results
DIR_MARKERS = (INFERENCE, TUNING, TUNING_TIME, THROUGHPUT, OP_INFERENCE)


@dataclass
class Experiment:
    """The rows of one experiment in one results directory (which holds its timelines/)."""

    d: str
    exp: str  # names the figures
    frames: dict[str, pd.DataFrame]  # result file name -> its non-empty rows of this experiment

    def rows(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)


def read(path: str) -> pd.DataFrame | None:
    """A CSV's rows (gzipped where named .gz, or the plain file it was before), or None for a
    missing or empty file."""
    path = existing(path)
    if not os.path.exists(path) or not os.path.getsize(path):
        return None
    try:
        return pd.read_csv(path, dtype={"git_commit": str, "host": str})
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
    """Directories holding result files below `root` (results/, results/<platform>, or one exp),
    less those under an `archive/` directory (superseded rows, kept but not drawn)."""
    found = {os.path.normpath(os.path.dirname(p)) for pat in DIR_MARKERS for name in {pat, pat.removesuffix(".gz")}
             for p in glob.glob(os.path.join(root, "**", name), recursive=True)}
    return sorted(d for d in found if ARCHIVE not in os.path.relpath(d, root).split(os.sep))


MACHINE = ("device", "host")  # rows of another machine are another experiment, never pooled


def on_machines(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with device and host as text; a missing value (older rows have no host) is one
    unknown machine."""
    return df.assign(**{c: df[c].fillna("unknown").astype(str) if c in df else "unknown" for c in MACHINE})


def slug(v) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(v).lower()).strip("_")


def split(df: pd.DataFrame, keys: list[str], settings: tuple[str, ...] = ()):
    """Groups that belong in one figure: one value of each of `keys`, of each setting column
    and of device and host. Yields (key values, file-name suffix, rows); the suffix names a
    setting, device or host only where rows of the same keys have several."""
    df = on_machines(df)
    extra = [c for c in settings if c in df] + list(MACHINE)
    for vals, g in df.groupby(keys + extra, sort=True, dropna=False):
        peers = df.loc[(df[keys] == list(vals[:len(keys)])).all(axis=1)] if keys else df
        suffix = "".join(f"_{slug(g[c].iloc[0])}" for c in extra if peers[c].nunique() > 1)
        yield tuple(vals[:len(keys)]), suffix, g


def variants(df: pd.DataFrame):
    """Groups that belong in one figure: one model, batch, tuner setting (rows of other tuner
    settings stay in the files after a re-run with changed settings) and machine. Yields
    ((model, batch, file-name suffix), rows)."""
    for (model, batch), suffix, g in split(df, ["model", "batch"], ("tuner_fp",)):
        yield (model, batch, suffix), g


TIMELINES_READ: set[str] = set()  # the timeline files figures were made from (analysis.prune keeps those)


def read_timeline(d: str, cell: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(samples, phase spans) of one run, each None where not recorded."""
    paths = timeline_file(d, cell, written=True), timeline_file(d, cell, spans=True, written=True)
    TIMELINES_READ.update(os.path.abspath(p) for p in paths)
    return read(paths[0]), read(paths[1])


def last_runs(d: str, tuning: pd.DataFrame | None) -> list[str]:
    """Cells that get a timeline figure, from tuning.csv rows: per model (batch and tuner
    setting) and machine, the run tuned at the largest share that has a timeline file."""
    if tuning is None or "cell_id" not in tuning:
        return []
    runs = tuning.dropna(subset=["tune_share"])
    runs = runs[runs["cell_id"].map(lambda c: os.path.exists(timeline_file(d, c, written=True)))]
    runs = on_machines(runs)
    keys = [k for k in ("model", "batch", "tuner_fp", *MACHINE) if k in runs]
    last = runs.sort_values("tune_share", kind="stable").groupby(keys, dropna=False).tail(1)
    return sorted(set(last["cell_id"]))
