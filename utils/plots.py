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


def loss_curves(
    curves: Mapping[str, Sequence[float]],
    ylabel: str = "objective J",
    title: str | None = None,
    log_y: bool = False,
    ax: plt.Axes | None = None,
    styles: Mapping[str, Mapping] | None = None,
) -> plt.Figure:
    """One line per named curve against the step number (0, 1, 2, ...).

    Values that are not finite (a run that blew up) are left out of the line.
    ``ax`` draws into an existing axes (for side-by-side panels); ``styles``
    maps a curve's name to extra ``ax.plot`` arguments. Introduced in chapter 02.
    """
    if not curves:
        raise ValueError("loss_curves needs at least one curve")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
    else:
        fig = ax.figure
    for name, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        values = np.where(np.isfinite(values), values, np.nan)
        ax.plot(np.arange(len(values)), values, label=name, **dict((styles or {}).get(name, {})))
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


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

    ``rows`` are those of ``architecture.receptive_fields``.
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


def accuracy_curves(
    history: Mapping[str, Sequence[float]],
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Training and validation accuracy per epoch, from a Keras ``history.history`` dict.

    Draws ``accuracy`` and, when present, ``val_accuracy``; epochs count from 1.
    Introduced in chapter 04.
    """
    if "accuracy" not in history or not len(history["accuracy"]):
        raise ValueError("history must hold a non-empty 'accuracy' list")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.6, 3.2))
    else:
        fig = ax.figure
    for key, label in (("accuracy", "training"), ("val_accuracy", "validation")):
        if key in history:
            values = np.asarray(history[key], dtype=np.float64)
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _history_dict(history) -> dict[str, list[float]]:
    """``history.history`` of a Keras History, or the dict itself."""
    values = getattr(history, "history", history)
    if not isinstance(values, Mapping) or not values.get("loss"):
        raise ValueError("expected a Keras History or a dict with a non-empty 'loss' list")
    return {key: [float(v) for v in vals] for key, vals in values.items()}


def two_stage_curves(
    stage1,
    stage2,
    labels: tuple[str, str] = ("stage 1: head only", "stage 2: fine-tuning"),
    title: str | None = None,
) -> plt.Figure:
    """Loss and accuracy, training and validation, of a two-stage training in one figure.

    ``stage1`` and ``stage2`` are Keras History objects (or their ``history``
    dicts); epochs are numbered on through both stages, and a dashed line marks
    where stage 2 begins. Introduced in chapter 05.
    """
    first, second = _history_dict(stage1), _history_dict(stage2)
    n1, n2 = len(first["loss"]), len(second["loss"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, label, color in (("", "training", "C0"), ("val_", "validation", "C1")):
            key = prefix + metric
            if key not in first or key not in second:
                continue
            values = np.asarray(first[key] + second[key], dtype=np.float64)
            epochs = np.arange(1, n1 + n2 + 1)
            ax.plot(epochs, values, marker="o", markersize=3, color=color, label=label)
        ax.axvline(n1 + 0.5, color="grey", linestyle="--", linewidth=1)
        ax.axvspan(n1 + 0.5, n1 + n2 + 0.5, color="grey", alpha=0.08)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_xlim(0.5, n1 + n2 + 0.5)
        if metric == "accuracy":
            ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8, loc="best")
        top = ax.get_ylim()[1]
        ax.text(n1 / 2 + 0.5, top, labels[0], ha="center", va="bottom", fontsize=8)
        ax.text(n1 + n2 / 2 + 0.5, top, labels[1], ha="center", va="bottom", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
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


def accuracy_vs_labels(
    curves: Mapping[str, Mapping[int, Sequence[float]]],
    title: str | None = None,
    ylabel: str = "test accuracy",
) -> plt.Figure:
    """Accuracy against labelled examples per class, one line per strategy, with error bands.

    ``curves`` maps a strategy to ``{examples per class: [accuracy of each run]}``
    (chapter 07 builds it from its runs). Each line joins the mean accuracies; the
    shaded band spans the mean plus and minus one standard deviation over the
    runs (``ddof=1``; none for a single run); every run is also drawn as a dot.
    The x axis is logarithmic. Introduced in chapter 07.
    """
    if not curves:
        raise ValueError("accuracy_vs_labels needs at least one curve")
    for name, points in curves.items():
        if not points:
            raise ValueError(f"curve {name!r} has no points")
        for size, values in points.items():
            if size < 1 or not len(values):
                raise ValueError(f"curve {name!r}: bad point {size!r} with runs {values!r}")
    fig, ax = plt.subplots(figsize=(7, 4))
    for index, (name, points) in enumerate(curves.items()):
        color = f"C{index}"
        sizes = sorted(points)
        runs = [np.asarray(points[size], dtype=np.float64) for size in sizes]
        means = np.array([values.mean() for values in runs])
        stds = np.array([values.std(ddof=1) if len(values) > 1 else 0.0 for values in runs])
        ax.plot(sizes, means, marker="o", color=color, label=name)
        ax.fill_between(sizes, means - stds, means + stds, color=color, alpha=0.2, linewidth=0)
        for size, values in zip(sizes, runs, strict=True):
            ax.scatter(np.full(len(values), size), values, s=9, color=color, alpha=0.6)
    all_sizes = sorted({size for points in curves.values() for size in points})
    ax.set_xscale("log")
    ax.set_xticks(all_sizes, [str(size) for size in all_sizes])
    ax.minorticks_off()
    ax.set_xlabel("labelled training examples per class (log scale)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
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
