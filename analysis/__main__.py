"""`python -m analysis [RESULTS_DIR]`: regenerate every figure from the result files (and remove
the figures no rows draw any more)."""

import os
import sys

from analysis.figures import experiment_dirs, make_all, stale_figures


def main(argv: list[str]) -> int:
    root = argv[0] if argv else "results"
    if not experiment_dirs(root):
        print(f"analysis: no result files (inference.csv.gz, tuning.csv) under {root!r}", file=sys.stderr)
        return 1
    written = make_all(root)
    for path in written:
        print(path)
    for path in stale_figures(root, written):
        os.remove(path)
        print(f"removed {path}: no rows draw it now")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
