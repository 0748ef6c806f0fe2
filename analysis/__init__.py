"""Figures from result files only (long-form CSVs written by the harness)."""

import matplotlib

matplotlib.use("Agg")
