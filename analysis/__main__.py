"""`python -m analysis [RESULTS_DIR]`: regenerate every figure from the result files."""

import sys

from analysis.figures import experiment_dirs, make_all


def main(argv: list[str]) -> int:
    root = argv[0] if argv else "results"
    if not experiment_dirs(root):
        print(f"analysis: no result files (inference.csv.gz, tuning.csv) under {root!r}", file=sys.stderr)
        return 1
    for path in make_all(root):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
