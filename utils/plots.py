"""Figures of images, predictions and results, used across the chapters.

Each function returns the Figure it drew. Curves over training are in
:mod:`utils.learning_curves`, pictures of what is inside a network in
:mod:`utils.network_plots`. Introduced in chapter 00.
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


def confusion_counts(
    y_true: Sequence[int], y_pred: Sequence[int], n_classes: int = len(CLASS_NAMES)
) -> np.ndarray:
    """Counts[i, j]: how many examples of class i were predicted as class j (chapter 04)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D and equally long: {y_true.shape}, {y_pred.shape}"
        )
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"{name} must hold class ids in [0, {n_classes})")
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return counts


def confusion_matrix(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    class_names: Sequence[str] = CLASS_NAMES,
    title: str | None = None,
) -> plt.Figure:
    """The confusion matrix as a heat map with its counts: rows true, columns predicted.

    The colour shows each cell's share of its row (the true class), so a dark
    diagonal means every class is mostly recognised. Introduced in chapter 04.
    """
    counts = confusion_counts(y_true, y_pred, len(class_names))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.6 + 0.5 * n))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def misclassified_grid(
    images: np.ndarray,
    y_true: Sequence[int],
    y_pred: Sequence[int],
    max_images: int = 20,
    ncols: int = 5,
    class_names: Sequence[str] = CLASS_NAMES,
    title: str | None = None,
    size: float = 1.6,
) -> plt.Figure:
    """The first ``max_images`` wrongly predicted images, each titled true / predicted.

    Images are taken in their order in ``images``, so the figure is the same
    every time. Raises ValueError if nothing was misclassified. Introduced in
    chapter 04.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if not len(images) == len(y_true) == len(y_pred):
        raise ValueError(
            f"images, y_true and y_pred must be equally long: "
            f"{len(images)}, {len(y_true)}, {len(y_pred)}"
        )
    wrong = np.flatnonzero(y_true != y_pred)[: max(1, int(max_images))]
    if len(wrong) == 0:
        raise ValueError("no misclassified images to show")
    ncols = max(1, min(ncols, len(wrong)))
    nrows = -(-len(wrong) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, (size + 0.35) * nrows + 0.4), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, wrong, strict=False):
        ax.imshow(np.asarray(images[index]), cmap="gray")
        ax.set_title(
            f"true: {class_names[int(y_true[index])]}\npred: {class_names[int(y_pred[index])]}",
            fontsize=8,
        )
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def method_comparison(
    accuracy: Mapping[str, Sequence[float]], seeds: Sequence[int], title: str | None = None
) -> plt.Figure:
    """Test accuracy of several methods, one dot per seed and a bar at the mean.

    ``accuracy`` maps a method's name to its accuracies, in the order of
    ``seeds``. Introduced in chapter 05.
    """
    names = list(accuracy)
    if not names:
        raise ValueError("method_comparison needs at least one method")
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(names) + 1.2))
    for row, name in enumerate(names):
        values = np.asarray(accuracy[name], dtype=np.float64)
        if len(values) != len(seeds):
            raise ValueError(f"{name}: {len(values)} accuracies for {len(seeds)} seeds")
        ax.barh(row, values.mean(), color=f"C{row}", alpha=0.35, height=0.6)
        ax.scatter(values, np.full(len(values), row), color=f"C{row}", zorder=3, s=18)
        ax.text(values.mean(), row + 0.36, f"mean {values.mean():.3f}", fontsize=8, ha="center")
    ax.set_yticks(range(len(names)), names)
    low = min(float(np.min(accuracy[name])) for name in names)
    ax.set_xlim(max(0.0, low - 0.05), 1.0)
    ax.set_xlabel(f"test accuracy (dots: seeds {', '.join(map(str, seeds))})")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
