"""Benchmark: how long each live panel of chapters 00 to 04 takes to answer.

    .venv/bin/python benchmarks/widget_latency.py [--repeat 3]

The book's budget is that a widget answers within 3 s on the 2-core machine
(a reader moves a slider and waits). Each panel is built as its chapter builds
it, on the same kind of inputs at the laptop preset (the settings below are
copied from the chapters' settings cells), and ``show`` is timed for the
settings that cost it most, ``--repeat`` times; the first call of a panel is
reported apart, because it may build or trace something once. Writes
``benchmarks/widget_latency.md``. A benchmark, not a test: it asserts
nothing, and a unit test asserts no time (the chapters print their own
panels' times, and their check cells hold them to 3 s only under CI).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils import (  # noqa: E402
    architecture,
    data,
    features,
    inspection,
    models,
    training,
    weights,
    widgets,
)
from utils.chapters import objective  # noqa: E402

OUT = Path(__file__).resolve().parent / "widget_latency.md"
BUDGET = 3.0  # seconds: BOOK.md's "a widget answers in <= 3 s"
SIZE = 32  # every chapter's IMAGE_SIZE at the laptop preset


def _timed(show, *values) -> float:
    start = time.perf_counter()
    plt.close(show(*values))
    return time.perf_counter() - start


def class_explorer(x_train, y_train, x_test, y_test):
    """Chapter 00: examples of one class, as many as the slider allows."""
    panel = widgets.ClassExplorer(x_train, y_train)
    return panel.show, [("Shirt", panel.max_images), ("Bag", panel.max_images)]


def feature_maps(x_train, y_train, x_test, y_test):
    """Chapter 01: an image's strongest maps, ImageNet and random VGG16."""
    training.seed_everything(0)
    bases = {
        "ImageNet": weights.load_vgg16("imagenet", (SIZE, SIZE, 3), verbose=False),
        "random": weights.load_vgg16(None, (SIZE, SIZE, 3), verbose=False),
    }
    panel = widgets.FeatureMapExplorer(bases, x_test, y_test, image_size=SIZE)
    # a new image computes its maps; another layer of it only draws
    return panel.show, [(7, "block1_conv1"), (8, "block5_conv3"), (8, "block2_conv2")]


def learning_rate(x_train, y_train, x_test, y_test):
    """Chapter 02: gradient descent on block3 features, 100 per class."""
    x, y = data.stratified_sample(x_train, y_train, 100, seed=0)
    base = weights.load_vgg16("imagenet", (SIZE, SIZE, 3), cut_at="block3", verbose=False)
    train = features.extract_features(base, x, SIZE)
    test = features.extract_features(base, x_test, SIZE)
    train_standardised, _ = objective.standardize(train, test)
    curves = objective.GradientDescentCurves(train_standardised, y, 0.01)
    panel = widgets.LearningRateExplorer(curves, max_steps=300)
    return panel.show, [(3.0, 300), (0.03, 300), (1e-4, 300)]


def freeze_depth(x_train, y_train, x_test, y_test):
    """Chapter 03: parameters and cost per freeze depth (measured, then drawn)."""
    training.seed_everything(0)
    base = weights.load_vgg16("imagenet", (SIZE, SIZE, 3), verbose=False)
    batches = list(data.make_dataset(x_train[:96], y_train[:96], SIZE, 32))
    costs = architecture.freeze_depth_costs(base, models.transfer_model(base), batches, 5000)
    panel = widgets.FreezeDepthExplorer(costs)
    return panel.show, [(5,), (0,), (3,)]


def head(x_train, y_train, x_test, y_test):
    """Chapter 04: a head trained on cached block3 features, at its largest."""
    split = data.book_split_indices(100, 100, seed=0)
    base = inspection.cut_model(
        weights.load_vgg16("imagenet", (SIZE, SIZE, 3), verbose=False), "block3"
    )
    train, val = (
        features.extract_features(base, x_train[split[part]], SIZE) for part in ("train", "val")
    )
    panel = widgets.HeadExplorer(
        train, y_train[split["train"]], val, y_train[split["val"]], batch_size=128, seed=0
    )
    largest = (max(panel.UNIT_CHOICES), 0.5, 1e-3, panel.LIMITS["epochs"][1])

    def show(*values):  # the panel trains while time is left, then draws
        figure = panel.show(*values)
        if values == largest:
            epochs_run.append(panel.result["epochs_run"])
        return figure

    epochs_run = []

    def note():
        ran = sorted(set(epochs_run))
        ran = str(ran[0]) if len(ran) == 1 else f"{ran[0]} to {ran[-1]}"
        return (
            f"asked for {largest[0]} units and {largest[-1]} epochs, it trained "
            f"{ran} epoch(s) before its time limit stopped it, then drew"
        )

    show.note = note
    return show, [largest, (256, 0.0, 1e-3, 10, True), largest]


PANELS = {
    "00 ClassExplorer": class_explorer,
    "01 FeatureMapExplorer": feature_maps,
    "02 LearningRateExplorer": learning_rate,
    "03 FreezeDepthExplorer": freeze_depth,
    "04 HeadExplorer": head,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per panel")
    args = parser.parse_args()
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    rows, notes = [], []
    for name, build in PANELS.items():
        show, calls = build(x_train, y_train, x_test, y_test)
        first = _timed(show, *calls[0])
        later = [_timed(show, *values) for _ in range(args.repeat) for values in calls]
        rows.append((name, first, statistics.median(later), max(later)))
        print(
            f"{name:<26} first {first:5.2f} s, median {rows[-1][2]:5.2f} s, "
            f"slowest {rows[-1][3]:5.2f} s",
            flush=True,
        )
        if hasattr(show, "note"):
            notes.append(f"{name}: {show.note()}.")
    lines = [
        f"Measured on {date.today()}: {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, `benchmarks/widget_latency.py --repeat "
        f"{args.repeat}`; budget {BUDGET:g} s per answer.",
        "",
        "| panel | first answer (s) | median (s) | slowest (s) | within budget |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, first, median, slowest in rows:
        within = "yes" if max(first, slowest) <= BUDGET else "**no**"
        lines.append(f"| {name} | {first:.2f} | {median:.2f} | {slowest:.2f} | {within} |")
    lines += [
        "",
        "Each panel answers the settings that cost it most (see the script); "
        "the first answer may include building or tracing once.",
        "",
        *notes,
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
