"""What a figure's rows are: the machine, how far the search went, the commits behind them."""

from __future__ import annotations

import textwrap

import pandas as pd

SMOKE_BELOW = 2.0  # rounds per task: under this a run is a smoke test, not a tuned model


def machine(rows: pd.DataFrame) -> str:
    """The device, with the host where the rows name one."""
    dev = str(rows["device"].iloc[0]) if "device" in rows else "an unrecorded device"
    host = rows["host"].iloc[0] if "host" in rows else None
    return dev if pd.isna(host) or str(host) in ("", "unknown") else f"{dev} (host {host})"


def span(values, fmt: str = "{:g}") -> str:
    """'a' or 'a-b' over the values, as formatted."""
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}-{hi}"


def with_tasks(rows: pd.DataFrame, tuning: pd.DataFrame | None, key: str = "cell_id") -> pd.DataFrame:
    """The rows with the n_tasks of their tuning run (tuning.csv rows, by cell) where they have none;
    NaN where that run has no row."""
    if "n_tasks" in rows or tuning is None or "n_tasks" not in tuning or key not in rows:
        return rows
    tasks = tuning.drop_duplicates("cell_id", keep="last").set_index("cell_id")["n_tasks"]
    return rows.assign(n_tasks=rows[key].map(tasks))


def rounds_per_task(rows: pd.DataFrame) -> tuple[pd.Series, bool] | None:
    """trials / (trials_per_round x tasks) per row, and whether the tasks are known; without
    n_tasks, trials / trials_per_round (an upper bound). None without the trial columns."""
    if not len(rows) or not {"trials", "trials_per_round"} <= set(rows):
        return None
    per_model = rows["trials"] / rows["trials_per_round"]
    known = "n_tasks" in rows and bool(rows["n_tasks"].notna().all())
    return (per_model / rows["n_tasks"] if known else per_model), known


def depth(rows: pd.DataFrame) -> str:
    """How far the search went: rounds per task (and 'smoke test' below 2); '' where the rows
    cannot tell."""
    got = rounds_per_task(rows)
    if got is None:
        return ""
    r, known = got
    n = span(r, "{:.2g}")
    text = f"{n} round{'' if n == '1' else 's'} per task"
    budget = f"{span(rows['trials'])} trials, {span(rows['trials_per_round'])} a round"
    if known:
        text += f" ({budget}, {span(rows['n_tasks'])} tasks)"
    else:
        text = f"at most {text} ({budget}, tasks not recorded)"
    return f"smoke test: {text}" if r.max() < SMOKE_BELOW else text


def measured(rows: pd.DataFrame | None) -> str:
    """A warning where under half the candidates were measured (runner errors: the model is
    then close to untuned); '' otherwise. Rows of tuning_rounds.csv (valid, candidates) or of
    tuning_time.csv (valid_trials, trials_done)."""
    for ok, all_ in (("valid", "candidates"), ("valid_trials", "trials_done")):
        if rows is not None and ok in rows and all_ in rows and rows[all_].sum() > 0:
            frac = rows[ok].sum() / rows[all_].sum()
            return f"WARNING: only {frac:.0%} of the candidates were measured (runner errors)" if frac < 0.5 else ""
    return ""


def commits(*frames: pd.DataFrame | None) -> list[str]:
    """The git commits of the rows, oldest first where timestamps are recorded."""
    cols = ("git_commit", "timestamp")
    parts = [f[[c for c in cols if c in f]] for f in frames if f is not None and "git_commit" in f]
    if not parts:
        return []
    rows = pd.concat(parts)
    if "timestamp" in rows:
        rows = rows.sort_values("timestamp", kind="stable")
    return list(dict.fromkeys(rows["git_commit"].dropna().astype(str).str[:7]))  # full or short: the same commit


def commit_note(*frames: pd.DataFrame | None, tagged: bool = False) -> str:
    """'rows from commits a, b' where the rows come from more than one commit, else ''; `tagged`:
    the labels name each row's commit (see `tag`)."""
    c = commits(*frames)
    where = " (in brackets)" if tagged else ""
    return f"rows from commits {', '.join(c)}{where}" if len(c) > 1 else ""


def tag(labels: pd.Series, rows: pd.DataFrame) -> pd.Series:
    """The labels with each row's commit appended where the rows come from more than one."""
    return labels + " [" + rows["git_commit"].astype(str).str[:7] + "]" if len(commits(rows)) > 1 else labels


def caption(*lines: str) -> str:
    """The non-empty lines, one under another, each wrapped at 190 characters (a 12-inch figure's
    title at 9 points; a suptitle drawn with wrap=True narrows it to its figure)."""
    return "\n".join(textwrap.fill(part, 190) for line in lines if line for part in line.split("\n") if part)
