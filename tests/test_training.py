"""Tests of utils.training: determinism, the one-line epoch log, accuracy."""

import keras
import numpy as np

from utils import training


def _tiny_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return x, y


def _train_once(seed):
    training.seed_everything(seed)
    x, y = _tiny_problem()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = training.fit(model, x, y, epochs=3, batch_size=32, shuffle=True)
    return model, history


def test_same_seed_same_weights():
    first, _ = _train_once(1)
    second, _ = _train_once(1)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_different_seed_different_weights():
    first, _ = _train_once(1)
    second, _ = _train_once(2)
    assert not np.array_equal(first.get_weights()[0], second.get_weights()[0])


def test_fit_logs_one_plain_line_per_epoch(capsys):
    _, history = _train_once(0)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("epoch   1/3") and "loss" in lines[0] and "accuracy" in lines[0]
    assert all("\r" not in line and "\x1b" not in line and "\x08" not in line for line in lines)
    assert len(history.epoch_seconds) == 3 and all(s > 0 for s in history.epoch_seconds)


def test_fit_log_every_keeps_the_last_epoch(capsys):
    training.seed_everything(0)
    x, y = _tiny_problem()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    training.fit(model, x, y, epochs=5, log_every=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["2/5", "4/5", "5/5"]


def test_accuracy_from_arrays_and_one_hot():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Activation("softmax")])
    x = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]], dtype="float32")
    y = np.array([0, 1, 1, 1])
    assert training.accuracy(model, x, y) == 0.75
    assert training.accuracy(model, x, keras.utils.to_categorical(y, 2)) == 0.75
