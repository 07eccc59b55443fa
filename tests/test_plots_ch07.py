"""Tests of chapter 07's figure (learning_curves.accuracy_vs_labels)."""

import numpy as np
import pytest

from utils import learning_curves

S, FE = "scratch", "feature extraction"


def test_accuracy_vs_labels_draws_a_line_and_band_per_strategy():
    curves = {S: {10: [0.6, 0.62, 0.64], 100: [0.8, 0.82, 0.84]}, FE: {10: [0.7, 0.71, 0.72]}}
    figure = learning_curves.accuracy_vs_labels(curves, title="t")
    ax = figure.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in curves]
    assert [line.get_label() for line in lines] == [S, FE]
    np.testing.assert_allclose(lines[0].get_ydata(), [0.62, 0.82])
    assert len(ax.collections) >= 2  # bands and dots
    assert ax.get_xscale() == "log" and ax.get_title() == "t"


def test_accuracy_vs_labels_rejects_bad_input():
    with pytest.raises(ValueError):
        learning_curves.accuracy_vs_labels({})
    with pytest.raises(ValueError):
        learning_curves.accuracy_vs_labels({S: {}})
    with pytest.raises(ValueError):
        learning_curves.accuracy_vs_labels({S: {10: []}})
