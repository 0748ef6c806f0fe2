"""`python -m analysis.prune [RESULTS_DIR] [--dry-run]`: the utilisation timelines that no figure
draws leave the tree, so the committed project stays small while every figure can still be made.
Git history keeps them: `git log --diff-filter=D --name-only -- 'results/**/timelines/*'` lists
them with the commit that removed them, and `git show <that commit>^:<path>` brings one back."""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile

from analysis import load
from analysis.figures import experiment_dirs, make_all
from harness.results import TIMELINES


def undrawn(root: str) -> list[str]:
    """The timeline files under `root` that making every figure does not read (the figures are
    made from a copy, so nothing under `root` changes)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "results")
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("*.png", "checkpoint.tar.xz"))
        load.TIMELINES_READ.clear()
        make_all(copy)
        read = {os.path.relpath(p, copy) for p in load.TIMELINES_READ}
    files = sorted(glob.glob(os.path.join(root, "**", TIMELINES, "*"), recursive=True))
    return [f for f in files if os.path.relpath(f, root) not in read]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default="results")
    ap.add_argument("--dry-run", action="store_true", help="list them, remove nothing")
    a = ap.parse_args(argv)
    if not experiment_dirs(a.root):
        print(f"analysis.prune: no result files under {a.root!r}", file=sys.stderr)
        return 1
    gone = undrawn(a.root)
    size = sum(map(os.path.getsize, gone))
    for f in gone:
        if not a.dry_run:
            os.remove(f)
        print(f"{'would remove' if a.dry_run else 'removed'} {f}")
    print(f"{len(gone)} timeline files no figure draws, {size} bytes{' (nothing removed)' if a.dry_run else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
