"""Tests of the chapter 02 learning-rate widget, driven from Python without a browser."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils import widgets
from utils.chapters import objective


@pytest.fixture(scope="module")
def curves():
    """A problem of the chapter's size: 1,000 images, 4,096 features, 10 classes."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    features = rng.normal(size=(10, 4096))[labels] + 3.0 * rng.normal(size=(1000, 4096))
    standardised = objective.standardize(features.astype(np.float32))[0]
    return objective.GradientDescentCurves(standardised, labels, weight_decay=0.01)


@pytest.fixture()
def explorer(curves):
    return widgets.LearningRateExplorer(curves, reference_rate=0.03, max_steps=200)


def test_show_draws_the_curve_and_the_reference(explorer):
    figure = explorer.show(0.01, 50)
    lines = figure.axes[0].get_lines()
    assert len(lines) == 2 and len(explorer.losses) == 50
    assert "0.01" in figure.axes[0].get_title()
    assert explorer.losses[0] == pytest.approx(np.log(10), abs=1e-5)
    plt.close(figure)


def test_moving_the_controls_changes_the_output(explorer):
    explorer.steps_slider.value = 40
    explorer.rate_slider.value = 1e-4
    slow = explorer.losses.copy()
    assert "fell at every step" in explorer.verdict.value
    explorer.rate_slider.value = 3.0
    fast = explorer.losses.copy()
    assert len(slow) == len(fast) == 40 and not np.allclose(slow, fast)
    explorer.rate_slider.value = 10.0
    assert "overshoot" in explorer.verdict.value or "blew up" in explorer.verdict.value
    explorer.steps_slider.value = 7
    assert len(explorer.losses) == 7


def test_out_of_range_values_are_clamped_with_a_message(explorer):
    plt.close(explorer.show(1e6, 5000))
    assert len(explorer.losses) == 200
    assert "learning rate must be between" in explorer.message.value
    assert "number of steps must be between" in explorer.message.value
    plt.close(explorer.show(1e-9, 0))
    assert len(explorer.losses) == 1 and "between" in explorer.message.value
    plt.close(explorer.show(0.03, 10))
    assert explorer.message.value == ""


@pytest.mark.parametrize(
    "rate, steps",
    [(-0.1, 10), (0.0, 10), (float("nan"), 10), (float("inf"), 10), ("fast", 10), (True, 10)],
)
def test_nonsense_learning_rates_are_rejected(explorer, rate, steps):
    with pytest.raises(ValueError, match="learning rate"):
        explorer.show(rate, steps)


@pytest.mark.parametrize("steps", [2.5, 10.0, "10", None, False])
def test_non_integer_steps_are_rejected(explorer, steps):
    with pytest.raises(ValueError, match="whole number"):
        explorer.show(0.03, steps)


def test_bad_construction_is_rejected(curves):
    with pytest.raises(ValueError):
        widgets.LearningRateExplorer("not curves")
    with pytest.raises(ValueError):
        widgets.LearningRateExplorer(curves, max_steps=0)
    with pytest.raises(ValueError):
        widgets.LearningRateExplorer(curves, max_steps=12.5)
