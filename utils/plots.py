"""Figures used across the chapters. Each function returns the Figure it drew.

Introduced in chapter 00.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from utils.data import CLASS_NAMES


def image_grid(
    images: np.ndarray,
    labels: Sequence[int] | None = None,
    ncols: int = 10,
    class_names: Sequence[str] = CLASS_NAMES,
    title: str | None = None,
    size: float = 1.1,
) -> plt.Figure:
    """Show grey or RGB images in a grid, each titled with its class name."""
    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + 0.4), squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= n:
            continue
        image = np.asarray(images[index])
        ax.imshow(image.astype("uint8") if image.ndim == 3 else image, cmap="gray")
        if labels is not None:
            ax.set_title(class_names[int(labels[index])], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def bar_comparison(
    values: Mapping[str, float], ylabel: str = "test accuracy", title: str | None = None
) -> plt.Figure:
    """Bars for a few named results, each labelled with its value."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(values), 3.2))
    bars = ax.bar(list(values), list(values.values()), color=plt.cm.tab10.colors[: len(values)])
    ax.bar_label(bars, fmt="%.3f")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05 * max(1.0, max(values.values())))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
