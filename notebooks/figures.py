# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # slicetune figures
# Every figure, from the result files only: the same as `python -m analysis results`.
# Open with `jupytext --to notebook notebooks/figures.py` (or Jupyter with jupytext).

# %%
import os

from IPython.display import Image, display

from analysis.figures import experiment_dirs, make_all

RESULTS = os.environ.get("SLICETUNE_RESULTS", os.path.join("..", "results"))
experiment_dirs(RESULTS)

# %%
paths = make_all(RESULTS)
for path in paths:
    print(path)
    display(Image(path))
