"""Tests of chapter 07's panel (widgets.StrategyExplorer) and figure (plots.accuracy_vs_labels)."""

import time

import matplotlib
import numpy as np
import pytest

from utils import plots, widgets

matplotlib.use("Agg")

S, FE, FT = "scratch", "feature extraction", "fine-tuning (top block)"
SIZES = {S: (10, 30, 100), FE: (10, 30, 100), FT: (10, 30)}


def _runs():
    rng = np.random.default_rng(0)
    runs = []
    for strategy, sizes in SIZES.items():
        for per_class in sizes:
            for seed in range(3):
                accuracy = float(0.5 + 0.1 * np.log10(per_class) + rng.normal(0, 0.01))
                runs.append({"strategy": strategy, "per_class": per_class, "seed": seed,
                             "accuracy": accuracy, "seconds": per_class / 10})  # fmt: skip
    return runs


def _table(runs):
    table = []
    for strategy, sizes in SIZES.items():
        for per_class in sizes:
            acc = np.array(
                [
                    r["accuracy"]
                    for r in runs
                    if (r["strategy"], r["per_class"]) == (strategy, per_class)
                ]
            )
            table.append({"strategy": strategy, "per_class": per_class, "runs": len(acc),
                          "mean": float(acc.mean()), "std": float(acc.std(ddof=1)),
                          "min": float(acc.min()), "max": float(acc.max()),
                          "seconds": per_class / 10})  # fmt: skip
    return table


@pytest.fixture()
def explorer():
    runs = _runs()
    return widgets.StrategyExplorer(_table(runs), runs, extraction_seconds_per_image=0.01)


def test_lookup_returns_the_measured_point(explorer):
    row = explorer.lookup(FE, 30)
    assert (row["strategy"], row["per_class"], row["message"]) == (FE, 30, "")
    assert row["mean"] == pytest.approx(next(
        r["mean"] for r in explorer.table if (r["strategy"], r["per_class"]) == (FE, 30)
    ))  # fmt: skip


def test_between_sizes_snaps_to_the_nearest_on_a_log_scale(explorer):
    row = explorer.lookup(S, 60)  # log-nearer to 100 than to 30
    assert row["per_class"] == 100 and "nearest, 100" in row["message"]
    assert explorer.lookup(S, 15)["per_class"] == 10
    assert explorer.lookup(S, 20.0)["per_class"] == 30  # a whole float is accepted


def test_out_of_range_is_clamped_with_a_message(explorer):
    low = explorer.lookup(S, 1)
    assert low["per_class"] == 10 and "out of that range" in low["message"]
    high = explorer.lookup(FT, 500)  # fine-tuning was measured up to 30 only
    assert high["per_class"] == 30 and "from 10 to 30" in high["message"]
    assert explorer.lookup(S, -5)["per_class"] == 10


@pytest.mark.parametrize("bad", [2.5, float("nan"), float("inf"), "ten", None, True])
def test_bad_numbers_are_rejected(explorer, bad):
    with pytest.raises(ValueError, match="whole number"):
        explorer.lookup(S, bad)


def test_unknown_strategy_is_rejected(explorer):
    with pytest.raises(ValueError, match="strategy must be"):
        explorer.lookup("magic", 10)


def test_show_answers_quickly_with_summary_and_marked_figure(explorer):
    start = time.perf_counter()
    figure = explorer.show(FE, 100)
    assert time.perf_counter() - start < 3
    assert "feature extraction, 100 labels per class" in explorer.summary.value
    assert "extract the base's features of its 1,000 images" in explorer.summary.value
    assert figure.axes[0].get_xscale() == "log"
    explorer.show(S, 100)
    assert "extract" not in explorer.summary.value  # scratch uses no features


def test_moving_the_controls_changes_the_answer(explorer):
    assert explorer.strategy_dropdown.value == S and explorer.labels_box.value == 10
    explorer.labels_box.value = 30
    first = dict(explorer.result)
    assert first["per_class"] == 30
    explorer.labels_box.value = 100
    assert explorer.result["per_class"] == 100 and explorer.result["mean"] != first["mean"]
    explorer.strategy_dropdown.value = FT
    assert explorer.result["strategy"] == FT and explorer.result["per_class"] == 30
    assert "out of that range" in explorer.message.value
    explorer.labels_box.value = 0
    assert explorer.result["per_class"] == 10 and explorer.message.value


def test_inconsistent_inputs_are_rejected():
    runs = _runs()
    with pytest.raises(ValueError, match="empty"):
        widgets.StrategyExplorer([], runs)
    with pytest.raises(ValueError, match="same strategies"):
        widgets.StrategyExplorer(_table(runs), [r for r in runs if r["strategy"] != FT])


# --------------------------------------------------------------------------- the figure


def test_accuracy_vs_labels_draws_a_line_and_band_per_strategy():
    curves = {S: {10: [0.6, 0.62, 0.64], 100: [0.8, 0.82, 0.84]}, FE: {10: [0.7, 0.71, 0.72]}}
    figure = plots.accuracy_vs_labels(curves, title="t", highlight=(S, 100))
    ax = figure.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in curves]
    assert [line.get_label() for line in lines] == [S, FE]
    np.testing.assert_allclose(lines[0].get_ydata(), [0.62, 0.82])
    assert len(ax.collections) >= 2  # bands and dots
    assert ax.get_xscale() == "log" and ax.get_title() == "t"


def test_accuracy_vs_labels_rejects_bad_input():
    with pytest.raises(ValueError):
        plots.accuracy_vs_labels({})
    with pytest.raises(ValueError):
        plots.accuracy_vs_labels({S: {}})
    with pytest.raises(ValueError):
        plots.accuracy_vs_labels({S: {10: []}})
    with pytest.raises(ValueError, match="highlight"):
        plots.accuracy_vs_labels({S: {10: [0.5]}}, highlight=(S, 30))
