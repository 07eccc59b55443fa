"""Tests of utils.widgets, driven from Python without a browser."""

import matplotlib
import numpy as np
import pytest

from utils import data, widgets

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def explorer():
    (x_train, y_train), _ = data.load_fashion_mnist()
    return widgets.ClassExplorer(x_train, y_train, max_images=12)


def test_clamp():
    assert widgets.clamp(5, 1, 10, "n") == (5, "")
    value, message = widgets.clamp(50, 1, 10, "n")
    assert value == 10 and "between 1 and 10" in message


def test_show_draws_the_chosen_class(explorer):
    figure = explorer.show("Bag", 6)
    assert len(explorer.shown_indices) == 6
    assert (explorer.labels[explorer.shown_indices] == data.CLASS_NAMES.index("Bag")).all()
    assert "Bag" in figure._suptitle.get_text()


def test_moving_the_controls_changes_the_output(explorer):
    explorer.class_dropdown.value = "Trouser"
    explorer.count_slider.value = 3
    trousers = explorer.shown_indices.copy()
    explorer.class_dropdown.value = "Sandal"
    assert len(trousers) == 3 and not np.array_equal(trousers, explorer.shown_indices)
    assert (explorer.labels[explorer.shown_indices] == data.CLASS_NAMES.index("Sandal")).all()


def test_out_of_range_count_is_clamped_with_a_message(explorer):
    explorer.show("Coat", 500)
    assert len(explorer.shown_indices) == 12
    assert "between 1 and 12" in explorer.message.value
    explorer.show("Coat", 0)
    assert len(explorer.shown_indices) == 1
    explorer.show("Coat", 4)
    assert explorer.message.value == ""


def test_unknown_class_is_rejected(explorer):
    with pytest.raises(ValueError, match="unknown class"):
        explorer.show("Hat", 3)


def test_bad_images_are_rejected():
    with pytest.raises(ValueError):
        widgets.ClassExplorer(np.zeros((3, 28, 28), np.float32), np.zeros(3, np.uint8))
    with pytest.raises(ValueError):
        widgets.ClassExplorer(np.zeros((3, 28, 28), np.uint8), np.array([0, 1, 12]))
