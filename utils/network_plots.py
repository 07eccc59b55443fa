"""Figures of what is inside a network: filters, feature maps, what each block knows.

Each function returns the Figure it drew: the first layer's filters and the
feature maps of an image (chapter 01), the accuracy of features cut after each
block (chapters 01 and 04), VGG16's receptive field and the cost of each
freeze depth (chapter 03), and how far fine-tuning moved each block (chapter
06). Introduced in chapter 01.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def filter_grids(
    named_filters: Mapping[str, np.ndarray], ncols: int = 8, size: float = 0.42
) -> plt.Figure:
    """Panels of small RGB filters side by side, one panel per name (chapter 01).

    Each entry is (n, height, width, 3), as ``inspection.first_layer_filters``
    returns. Every filter is stretched to the full colour range on its own, so
    its pattern shows whatever its scale; grey means the three colour planes
    agree.
    """
    if not named_filters:
        raise ValueError("filter_grids needs at least one set of filters")
    shapes = {np.asarray(f).shape for f in named_filters.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4 or next(iter(shapes))[-1] != 3:
        raise ValueError(f"every set must be (n, height, width, 3) of one shape, got {shapes}")
    n = next(iter(shapes))[0]
    nrows = -(-n // ncols)
    fig = plt.figure(figsize=(len(named_filters) * (ncols * size + 0.3), nrows * size + 0.6))
    for subfig, (name, filters) in zip(
        np.atleast_1d(fig.subfigures(1, len(named_filters))), named_filters.items(), strict=True
    ):
        axes = subfig.subplots(nrows, ncols, squeeze=False)
        for index, ax in enumerate(axes.flat):
            ax.axis("off")
            if index < n:
                kernel = np.asarray(filters[index], dtype=np.float64)
                low, high = kernel.min(), kernel.max()
                ax.imshow((kernel - low) / (high - low) if high > low else kernel * 0 + 0.5)
        subfig.suptitle(name, fontsize=10)
    return fig


def feature_map_grid(
    rows: Mapping[str, np.ndarray],
    n_maps: int = 8,
    image: np.ndarray | None = None,
    title: str | None = None,
    size: float = 1.0,
) -> plt.Figure:
    """One row of feature maps per name: the ``n_maps`` strongest channels of one image.

    Each entry of ``rows`` is (height, width, channels) for a single image;
    the channels with the largest mean activation are shown, each on its own
    colour scale and titled with its channel number. With ``image`` (28x28),
    the input is drawn in an extra first column. Introduced in chapter 01.
    """
    from utils.inspection import strongest_channels

    if not rows:
        raise ValueError("feature_map_grid needs at least one row")
    offset = 0 if image is None else 1
    fig, axes = plt.subplots(
        len(rows),
        n_maps + offset,
        figsize=(size * (n_maps + offset) + 0.8, size * len(rows) + 0.5),
        squeeze=False,
    )
    for row_index, (axis_row, (name, maps)) in enumerate(zip(axes, rows.items(), strict=True)):
        maps = np.asarray(maps)
        if maps.ndim != 3:
            raise ValueError(f"{name}: maps must be (height, width, channels), got {maps.shape}")
        for ax in axis_row:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_frame_on(False)
        if image is not None and row_index == 0:
            axis_row[0].imshow(image, cmap="gray")
            axis_row[0].set_title("input", fontsize=7)
        for ax, channel in zip(axis_row[offset:], strongest_channels(maps, n_maps), strict=False):
            ax.imshow(maps[:, :, channel], cmap="viridis", interpolation="nearest")
            ax.set_title(f"#{channel}", fontsize=7)
        height, width, channels = maps.shape
        axis_row[offset].set_ylabel(f"{name}\n{height}x{width}x{channels}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_by_block(
    results: Mapping[str, Mapping[str, float]],
    ylabel: str = "test accuracy",
    title: str | None = None,
) -> plt.Figure:
    """Grouped bars: one group per block, one bar per set of weights (chapter 01).

    ``results`` maps a name (``"ImageNet"``) to ``{block: accuracy}``; every
    name must have the same blocks.
    """
    if not results:
        raise ValueError("accuracy_by_block needs at least one set of results")
    blocks = list(next(iter(results.values())))
    if any(list(values) != blocks for values in results.values()):
        raise ValueError("every set of results must list the same blocks in the same order")
    width = 0.8 / len(results)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(blocks), 3.4))
    for index, (name, values) in enumerate(results.items()):
        positions = np.arange(len(blocks)) + (index - (len(results) - 1) / 2) * width
        bars = ax.bar(positions, [values[b] for b in blocks], width, label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_xticks(np.arange(len(blocks)), [f"after {b}" for b in blocks])
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.08)
    ax.legend(loc="lower left", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def receptive_field_chart(rows: Sequence[Mapping], image_size: int | None = None) -> plt.Figure:
    """The receptive field after each layer, with the input size as a line (chapter 03).

    ``rows`` are those of chapter 03's ``receptive_field_growth``.
    """
    if not rows:
        raise ValueError("receptive_field_chart needs at least one layer")
    names = [row["layer"] for row in rows]
    sizes = [row["receptive field"] for row in rows]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.plot(range(len(rows)), sizes, marker="o")
    for index, value in enumerate(sizes):
        ax.annotate(str(value), (index, value), textcoords="offset points", xytext=(0, 5),
                    ha="center", fontsize=7)  # fmt: skip
    if image_size is not None:
        ax.axhline(image_size, color="tab:red", linestyle="--", label=f"input: {image_size} px")
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xticks(range(len(rows)), names, rotation=70, fontsize=7)
    ax.set_ylim(0, 1.12 * max(sizes + [image_size or 0]))
    ax.set_ylabel("receptive field (pixels)")
    fig.tight_layout()
    return fig


def freeze_depth_chart(rows: Sequence[Mapping], highlight: int | None = None) -> plt.Figure:
    """Trainable and frozen parameters, and the cost of an epoch, per freeze depth (chapter 03).

    ``rows`` are those of ``architecture.freeze_depth_costs``; ``highlight``
    outlines one depth (the one a widget selected).
    """
    if not rows:
        raise ValueError("freeze_depth_chart needs at least one row")
    depths = [row["frozen blocks"] for row in rows]
    trainable = np.array([row["trainable"] for row in rows]) / 1e6
    frozen = np.array([row["frozen"] for row in rows]) / 1e6
    seconds = [row["s per epoch"] for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.3))
    lower = left.bar(depths, trainable, label="trainable", color="tab:orange")
    upper = left.bar(depths, frozen, bottom=trainable, label="frozen", color="tab:blue")
    left.set_ylim(0, 1.3 * max(trainable + frozen))
    left.set_xlabel("frozen blocks (from the bottom)")
    left.set_ylabel("parameters (millions)")
    left.legend(fontsize=8, ncols=2, loc="upper center")
    bars = right.bar(depths, seconds, color="tab:green")
    right.bar_label(bars, fmt="%.0f", fontsize=8)
    right.set_ylim(0, 1.15 * max(seconds))
    right.set_xlabel("frozen blocks (from the bottom)")
    right.set_ylabel("seconds per epoch (measured)")
    if highlight is not None and highlight in depths:
        for group in (lower, upper, bars):
            group[depths.index(highlight)].set(edgecolor="black", linewidth=2)
    fig.tight_layout()
    return fig


def block_change_chart(
    changes: Mapping[str, Mapping[str, float]],
    ylabel: str = "relative change of the weights",
    title: str | None = None,
    log_y: bool = True,
) -> plt.Figure:
    """Grouped bars: for each run (say, a learning rate), how far each block's weights moved.

    ``changes`` maps a run's name to ``{block: value}``, as returned by
    ``finetune.relative_change_by_block``. Zero values are drawn as no bar on
    the log scale. Introduced in chapter 06.
    """
    if not changes:
        raise ValueError("block_change_chart needs at least one run")
    blocks = list(next(iter(changes.values())))
    width = 0.8 / len(changes)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(blocks), 3.4))
    for index, (run, values) in enumerate(changes.items()):
        heights = [float(values.get(block, 0.0)) for block in blocks]
        positions = np.arange(len(blocks)) + (index - (len(changes) - 1) / 2) * width
        ax.bar(positions, heights, width=width, label=run)
    ax.set_xticks(np.arange(len(blocks)), blocks)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
