"""Helpers shared by the figure families: labels and PNG output."""

from __future__ import annotations

import io
import os

import matplotlib.pyplot as plt
import pandas as pd


def share_label(v) -> str:
    return "untuned" if pd.isna(v) else f"{float(v):g}%"


def save_png(fig, path: str, dpi: int = 100) -> None:
    """A PNG in 64 colours (under a third of the size; figures are committed). Octree keeps thin
    lines' hues apart; median cut merged them into the large areas' colours."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    Image.open(buf).convert("RGB").quantize(64, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)


class Saver:
    """`save(fig, name, dpi)`: writes and closes a figure in one directory, keeping the paths."""

    def __init__(self, fig_dir: str, written: list[str]):
        self.fig_dir, self.written = fig_dir, written

    def __call__(self, fig, name: str, dpi: int = 100) -> None:
        path = os.path.join(self.fig_dir, name)
        save_png(fig, path, dpi)
        plt.close(fig)
        self.written.append(path)
