"""Tests of utils.widgets.HeadExplorer (chapter 04), driven from Python without a browser."""

import matplotlib
import numpy as np
import pytest

from utils import widgets


@pytest.fixture(scope="module")
def explorer():
    """A head explorer on small, learnable synthetic features (two informative numbers)."""
    rng = np.random.default_rng(0)

    def make(n):
        labels = rng.integers(0, 10, n)
        feats = rng.normal(size=(n, 2, 2, 4)).astype(np.float32)
        feats[:, 0, 0, 0] += labels  # the class is readable from one feature
        return feats, labels

    (x_train, y_train), (x_val, y_val) = make(300), make(200)
    return widgets.HeadExplorer(x_train, y_train, x_val, y_val, batch_size=64, time_budget=30.0)


def test_train_returns_settings_accuracies_and_history(explorer):
    result = explorer.train(hidden_units=32, dropout=0.0, learning_rate=1e-2, epochs=4)
    assert result["epochs_run"] == 4 and result["message"] == ""
    assert len(result["history"]["val_accuracy"]) == 4
    assert result["best_val_accuracy"] == max(result["history"]["val_accuracy"])
    assert result["hidden_units"] == 32 and result["learning_rate"] == 1e-2


def test_same_settings_give_the_same_result(explorer):
    first = explorer.train(16, 0.2, 1e-2, 3)
    second = explorer.train(16, 0.2, 1e-2, 3)
    assert first["history"] == second["history"]


def test_a_kept_head_trains_as_a_new_one(explorer):
    """The panel starts its kept compiled head of a shape over: the history of a new head."""
    new_panel = widgets.HeadExplorer(
        explorer.train_features, explorer.train_labels,
        explorer.val_features, explorer.val_labels, batch_size=64,
    )  # fmt: skip
    expected = new_panel.train(32, 0.5, 3e-3, 3)  # its first head of this shape
    explorer.train(32, 0.5, 1e-2, 2)  # the same shape, another learning rate
    explorer.train(64, 0.0, 1e-2, 2)  # another shape in between
    assert explorer.train(32, 0.5, 3e-3, 3)["history"] == expected["history"]


def test_the_panel_keeps_only_its_last_head_shapes(explorer):
    units = [16, 32, 64, 128, 256][: explorer.HEADS_KEPT + 1]
    for hidden_units in units:
        explorer.train(hidden_units, 0.0, 1e-3, 1)
    assert list(explorer._heads) == [(n, 0.0) for n in units[1:]]


def test_the_time_limit_does_not_count_building_the_step(monkeypatch):
    """The first batch of a new head builds TensorFlow's step; the next epoch will not."""
    from types import SimpleNamespace

    from utils.widgets import base

    clock = [10.0]
    monkeypatch.setattr(base.time, "perf_counter", lambda: clock[0])
    model = SimpleNamespace(stop_training=False)
    limit = base.time_limit(model, start=10.0, budget=2.5)

    def epoch(train_seconds, test_seconds):
        limit.on_epoch_begin(0)
        for s in train_seconds:  # each batch runs until the next one begins
            limit.on_train_batch_begin(0)
            clock[0] += s
        limit.on_test_begin()
        for s in test_seconds:
            limit.on_test_batch_begin(0)
            clock[0] += s
        limit.on_epoch_end(0)
        return model.stop_training

    # 1.57 s, 1.34 s of it one-time: about 0.23 s per epoch from now on (counting the whole
    # first epoch, the next would end 3.14 s in)
    assert not epoch([1.2, 0.05, 0.05, 0.05], [0.2, 0.01, 0.01])
    assert not epoch([0.05] * 4, [0.01] * 3)  # 1.80 s: the next ends about 2.03 s in
    clock[0] += 0.3  # the machine got busy
    assert epoch([0.05] * 4, [0.01] * 3)  # 2.33 s: the next would end after 2.5 s
    # no batch-end hook: with one, Keras would wait for every batch's logs
    assert not {"on_train_batch_end", "on_test_batch_end"} & set(vars(type(limit)))


def test_moving_the_controls_changes_the_output(explorer):
    explorer.units_dropdown.value = 16
    explorer.dropout_slider.value = 0.0
    explorer.rate_slider.value = 1e-2
    explorer.epochs_slider.value = 3
    explorer.train_button.click()
    before = explorer.result
    assert before["hidden_units"] == 16 and before["epochs_run"] == 3
    explorer.epochs_slider.value = 5
    explorer.rate_slider.value = 1e-3
    explorer.train_button.click()
    after = explorer.result
    assert after["epochs_run"] == 5 and after["learning_rate"] == pytest.approx(1e-3)
    assert after["history"] != before["history"]


def test_show_draws_curves_with_the_settings_in_the_title(explorer):
    figure = explorer.show(64, 0.1, 1e-2, 2)
    title = figure.axes[0].get_title()
    assert "64 units" in title and "dropout 0.10" in title and "after 2 epochs" in title
    assert len(figure.axes[0].get_lines()) == 2
    matplotlib.pyplot.close(figure)


def test_out_of_range_values_are_clamped_with_a_message(explorer):
    result = explorer.train(hidden_units=100_000, dropout=0.99, learning_rate=5.0, epochs=0)
    assert result["hidden_units"] == 4096 and result["dropout"] == 0.9
    assert result["learning_rate"] == 0.1 and result["epochs"] == 1
    for phrase in ("Hidden units", "Dropout", "Learning rate", "Epochs"):
        assert phrase in result["message"]
    explorer.show(16, 0.0, 1e-3, 0)
    assert "between 1 and 40" in explorer.message.value
    explorer.show(16, 0.0, 1e-3, 2)
    assert explorer.message.value == ""


@pytest.mark.parametrize(
    "bad",
    [
        {"hidden_units": 12.5},
        {"hidden_units": "many"},
        {"dropout": float("nan")},
        {"learning_rate": "fast"},
        {"learning_rate": float("inf")},
        {"epochs": 2.5},
        {"epochs": True},
    ],
)
def test_values_of_the_wrong_kind_are_rejected(explorer, bad):
    settings = {"hidden_units": 16, "dropout": 0.0, "learning_rate": 1e-3, "epochs": 2}
    settings.update(bad)
    with pytest.raises(ValueError):
        explorer.train(**settings)


def test_time_budget_stops_training_early_with_a_message(explorer):
    result = explorer.train(16, 0.0, 1e-3, 40, time_budget=1e-6)
    assert result["epochs_run"] == 1
    assert "Stopped after 1 of 40 epochs" in result["message"]


def test_bad_features_are_rejected():
    x = np.zeros((20, 4), np.float32)
    y = np.zeros(20, np.int64)
    with pytest.raises(ValueError):
        widgets.HeadExplorer(x, y[:10], x, y)
    with pytest.raises(ValueError):
        widgets.HeadExplorer(x, y, np.zeros((20, 5), np.float32), y)
    with pytest.raises(ValueError):
        widgets.HeadExplorer(x, y + 12, x, y)
    with pytest.raises(ValueError):
        widgets.HeadExplorer(x, y, x, y, time_budget=0.1)
    with pytest.raises(ValueError):
        widgets.HeadExplorer(x, y, x, y, hidden_units=100)


def test_standardising_changes_the_result_and_is_reported(explorer):
    raw = explorer.train(16, 0.0, 1e-2, 3)
    standardised = explorer.train(16, 0.0, 1e-2, 3, standardise=True)
    assert raw["standardise"] is False and standardised["standardise"] is True
    assert raw["history"] != standardised["history"]
    explorer.standardise_box.value = True
    explorer.epochs_slider.value = 2
    explorer.train_button.click()
    assert explorer.result["standardise"] is True
    assert "dead" in explorer.summary.value and "Validation accuracy" in explorer.summary.value
    with pytest.raises(ValueError, match="standardise"):
        explorer.train(16, 0.0, 1e-2, 3, standardise="yes")


def test_standardised_features_have_zero_mean_and_unit_spread(explorer):
    train, _ = explorer._standardised
    flat = train.reshape(len(train), -1)
    np.testing.assert_allclose(flat.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(flat.std(axis=0), 1, atol=1e-4)


def test_dead_unit_share_by_hand():
    from utils import models

    head = models.recipe_head((2,), hidden_units=4)
    kernel = np.array([[1.0, -1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]], np.float32)
    bias = np.array([0.0, 0.0, -1.0, -10.0], np.float32)
    head.layers[1].set_weights([kernel, bias])
    inputs = np.array([[1.0, 0.0], [2.0, 3.0]], np.float32)
    # unit 0 fires (x0 > 0); unit 1 never (-x0 <= 0); unit 2 never (bias -1); unit 3 never
    assert widgets.dead_unit_share(head, inputs) == 0.75


def test_describe_and_curves_draw_a_result_without_touching_the_panel(explorer):
    explorer.summary.value = "kept"
    result = explorer.train(32, 0.0, 1e-2, 3)
    line = explorer.describe(result)
    figure = explorer.curves(result)
    assert explorer.summary.value == "kept"
    assert line.startswith(f"Validation accuracy {result['val_accuracy']:.3f} after 3 epochs")
    assert "of the 32 hidden units are dead" in line
    assert "raw features, 32 units" in figure.axes[0].get_title()
    matplotlib.pyplot.close(figure)
    shown = explorer.show(32, 0.0, 1e-2, 3)
    assert explorer.summary.value.split(";")[:2] == line.split(";")[:2]  # all but the time
    matplotlib.pyplot.close(shown)
