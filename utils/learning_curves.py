"""Curves of learning: loss and accuracy per epoch, and accuracy against labelled images.

Each function returns the Figure it drew. Introduced in chapter 02.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


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
