"""Tests of the chapter 04 figures in utils.plots: confusion matrix, misclassified grid, curves."""

import matplotlib
import numpy as np
import pytest

from utils import data, learning_curves, plots


def test_confusion_counts_by_hand():
    counts = plots.confusion_counts([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], n_classes=3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert counts.sum() == 6


def test_confusion_counts_rejects_bad_labels():
    with pytest.raises(ValueError, match="equally long"):
        plots.confusion_counts([0, 1], [0], n_classes=3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        plots.confusion_counts([0, 3], [0, 1], n_classes=3)
    with pytest.raises(ValueError, match="y_pred"):
        plots.confusion_counts([0, 1], [0, -1], n_classes=3)


def test_confusion_matrix_writes_every_nonzero_count():
    y_true = np.repeat(np.arange(10), 3)
    y_pred = y_true.copy()
    y_pred[0] = 6  # one T-shirt/top taken for a Shirt
    figure = plots.confusion_matrix(y_true, y_pred, title="test")
    ax = figure.axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(["2", "1"] + ["3"] * 9)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(data.CLASS_NAMES)
    assert ax.get_title() == "test"
    matplotlib.pyplot.close(figure)


def test_misclassified_grid_shows_only_mistakes_in_order():
    images = np.zeros((6, 28, 28), np.uint8)
    y_true = np.array([0, 1, 2, 3, 4, 5])
    y_pred = np.array([0, 7, 2, 9, 4, 1])
    figure = plots.misclassified_grid(images, y_true, y_pred, max_images=10)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == [
        "true: Trouser\npred: Sneaker",
        "true: Dress\npred: Ankle boot",
        "true: Sandal\npred: Trouser",
    ]
    figure = plots.misclassified_grid(images, y_true, y_pred, max_images=2)
    assert len([ax for ax in figure.axes if ax.get_title()]) == 2
    matplotlib.pyplot.close("all")


def test_misclassified_grid_rejects_no_mistakes_and_bad_lengths():
    images = np.zeros((3, 28, 28), np.uint8)
    with pytest.raises(ValueError, match="no misclassified"):
        plots.misclassified_grid(images, [1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="equally long"):
        plots.misclassified_grid(images, [1, 2], [1, 2])


def test_accuracy_curves_draw_training_and_validation():
    figure = learning_curves.accuracy_curves(
        {"accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.4, 0.6, 0.65], "loss": [2, 1, 0.5]}
    )
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["training", "validation"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(lines[1].get_ydata(), [0.4, 0.6, 0.65])
    matplotlib.pyplot.close(figure)


def test_accuracy_curves_need_accuracy():
    with pytest.raises(ValueError):
        learning_curves.accuracy_curves({"loss": [1.0]})
    with pytest.raises(ValueError):
        learning_curves.accuracy_curves({"accuracy": []})


def test_method_comparison_draws_one_row_per_method_and_checks_lengths():
    fig = plots.method_comparison({"a": [0.8, 0.82], "b": [0.85, 0.86]}, seeds=(0, 1))
    labels = [tick.get_text() for tick in fig.axes[0].get_yticklabels()]
    assert labels == ["a", "b"]
    with pytest.raises(ValueError, match="3 seeds"):
        plots.method_comparison({"a": [0.8, 0.82]}, seeds=(0, 1, 2))
