"""`python -m analysis.advise RESULTS_DIR --deploy 25-75`: the share of the GPU to tune a model
at when it will be inferred anywhere in that range of shares. From the interdependency matrices
in the result files only: for each model, batch, tuner setting and machine, the tune share whose
worst slowdown (median latency / the best tuned model's at the same inference share) over the
inference shares in the range is smallest, printed with the table it was read from. From operator
matrices (`op_interdependency`) the same choice, on the geometric mean over the model's tasks.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

import pandas as pd

from analysis import ops
from analysis.interdependency import VENDORS, cell_stats, grid, is_tuned, with_references
from analysis.load import experiment_dirs, read_dir, split_exp, variants
from analysis.provenance import depth, machine, with_tasks
from harness.results import INFERENCE, OP_INFERENCE, OP_TUNING, TUNING


@dataclass
class Advice:
    title: str  # model, batch, machine, how far the search went
    table: pd.DataFrame  # slowdown: tune share x inference share in the range, and the worst
    pick: str  # the tune share (as labelled in the table)
    worst: float  # its worst slowdown over the range
    untuned_worst: float | None  # the untuned model's, where measured
    what: str = "model"  # what was tuned: a whole model, or a model's kernels (operator rows)


def parse_range(text: str) -> tuple[float, float]:
    """'25-75' (percent of the GPU) -> (25.0, 75.0); ValueError naming the bad value."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*%?\s*", text)
    if not m:
        raise ValueError(f"--deploy {text!r} is not a range; give LO-HI in percent, e.g. 25-75")
    lo, hi = float(m[1]), float(m[2])
    if not 0 < lo <= hi <= 100:
        raise ValueError(f"--deploy {text!r} is not allowed; it needs 0 < LO <= HI <= 100")
    return lo, hi


def advise_rows(inf: pd.DataFrame, lo: float, hi: float) -> tuple[pd.DataFrame, str, float, float | None] | None:
    """(table, pick, worst, untuned's worst) for one group's inference rows; None when none of
    its inference shares lies in [lo, hi] or nothing tuned was measured there."""
    st = cell_stats(inf)
    st = st[(st["infer_share"] >= lo) & (st["infer_share"] <= hi)]
    if st.empty or st["tune_share"].notna().sum() == 0:
        return None
    table = grid(st, "ratio")
    table["worst"] = table.max(axis=1, skipna=False)  # a share not measured somewhere in the range: no advice on it
    tuned_at = set(st.loc[is_tuned(st), "tuned_at"])
    tuned = table.loc[[r for r in table.index if r in tuned_at]]
    if tuned["worst"].isna().all():
        return None
    pick = str(tuned["worst"].idxmin())
    untuned = float(table.loc["untuned", "worst"]) if "untuned" in table.index else None
    return table, pick, float(tuned.loc[pick, "worst"]), untuned


def advise_ops(exp: str, frames: dict[str, pd.DataFrame], lo: float, hi: float) -> list[Advice]:
    """Per operator experiment and model: the same choice on the geometric mean over its tasks."""
    inf, tuning = frames.get(OP_INFERENCE), frames.get(OP_TUNING)
    if inf is None:
        return []
    out = []
    for (model, batch, _), g in variants(inf):
        g = g[(g["infer_share"] >= lo) & (g["infer_share"] <= hi)]
        if g.empty:
            continue
        table = ops.summary_matrix(g)
        table["worst"] = table.max(axis=1, skipna=False)
        if table["worst"].isna().all():
            continue
        title = (f"{exp}: {model} (batch {batch}) kernels of {g['task'].nunique()} tasks on {machine(g)}; "
                 f"{ops.depth(ops.runs_of(tuning, g))}; geometric mean over the tasks")
        pick = str(table["worst"].idxmin())
        out.append(Advice(title, table, pick, float(table.loc[pick, "worst"]), None, "kernels"))
    return out


def advise(root: str, lo: float, hi: float) -> list[Advice]:
    out = []
    for d in experiment_dirs(root):
        for exp, frames in split_exp(read_dir(d), "interdependency").items():
            out += advise_ops(exp, frames, lo, hi)
            inf, tuning = frames.get(INFERENCE), frames.get(TUNING)
            if inf is None or "tune_share" not in inf:
                continue
            for (model, batch, _), g in variants(inf):
                got = advise_rows(with_references(g, inf), lo, hi)
                if got is None:
                    continue
                tuned = with_tasks(g[g["tune_share"].notna()], tuning, key="tune_cell")
                title = f"{exp}: {model} (batch {batch}) on {machine(g)}; {depth(tuned) or 'search depth not recorded'}"
                out.append(Advice(title, *got))
    return out


def report(a: Advice, lo: float, hi: float) -> str:
    lines = [a.title, f"slowdown against the best tuned {a.what} at each inference share:",
             a.table.to_string(float_format=lambda v: f"{v:.3f}"),
             f"advice: tune at {a.pick}: at most {a.worst:.3f}x the best tuned {a.what} anywhere in {lo:g}-{hi:g}%"]
    if "smoke test" in a.title:
        lines.append("  caution: a smoke test (too few rounds per task for the search to settle): the ranking is "
                     "search noise, not the interdependency")
    if a.untuned_worst is not None and a.untuned_worst < a.worst:
        lines.append(f"  (the untuned model, at most {a.untuned_worst:.3f}x, does better: "
                     "the tuning bought nothing here)")
    shares = [c for c in a.table.columns if c != "worst"]
    for name in VENDORS.values():
        if name in a.table.index:
            beats = [c for c in shares if a.table.loc[a.pick, c] < a.table.loc[name, c]]
            lines.append(f"  against {name}: the model tuned at {a.pick} is faster at "
                         f"{', '.join(beats) if beats else 'none'} of {', '.join(shares)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m analysis.advise", description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", default="results", help="results directory (default: results)")
    ap.add_argument("--deploy", default="10-100", help="inference shares it will run at, LO-HI percent")
    args = ap.parse_args(argv)
    try:
        lo, hi = parse_range(args.deploy)
    except ValueError as e:
        print(f"analysis.advise: {e}", file=sys.stderr)
        return 2
    found = advise(args.results, lo, hi)
    if not found:
        print(f"analysis.advise: no interdependency rows under {args.results!r} with an inference share in "
              f"{lo:g}-{hi:g}%", file=sys.stderr)
        return 1
    print("\n\n".join(report(a, lo, hi) for a in found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

