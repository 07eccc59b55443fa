"""Tests of utils.training: determinism, the one-line epoch log, accuracy."""

import keras
import numpy as np
import pytest

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


def _softmax_model(n_classes=3):
    return keras.Sequential([keras.Input((n_classes,)), keras.layers.Activation("softmax")])


def _three_quarters_right(n=200, seed=0):
    """Scores whose argmax is the label for exactly 3/4 of the rows."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = x.argmax(axis=1)
    y[: n // 4] = (y[: n // 4] + 1) % 3
    return x, y


def test_accuracy_on_a_dataset_that_reshuffles_every_pass():
    import tensorflow as tf

    x, y = _three_quarters_right()
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=0, reshuffle_each_iteration=True)
        .batch(16)
    )
    first, second = ([int(b) for _, ys in dataset for b in ys] for _ in range(2))
    assert first != second  # each pass is another order
    assert training.accuracy(_softmax_model(), dataset) == 0.75


def test_accuracy_on_a_shuffled_make_dataset():
    from utils import data

    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).integers(0, 256, size=(96, 28, 28), dtype=np.uint8)
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    labels = model.predict(data.make_dataset(images), verbose=0).argmax(axis=1)
    labels[:24] = (labels[:24] + 1) % 10  # the model is right on exactly 3/4 of the images
    shuffled = data.make_dataset(images, labels, batch_size=16, shuffle=True)
    assert training.accuracy(model, shuffled) == 0.75
    one_hot = data.make_dataset(images, labels, batch_size=16, shuffle=True, one_hot=True)
    assert training.accuracy(model, one_hot) == 0.75


def test_accuracy_takes_labels_of_shape_n_by_1_as_class_ids():
    import tensorflow as tf

    x, y = _three_quarters_right()
    model = _softmax_model()
    assert training.accuracy(model, x, y[:, None]) == 0.75
    dataset = tf.data.Dataset.from_tensor_slices((x, y[:, None])).batch(32)
    assert training.accuracy(model, dataset) == 0.75


def test_accuracy_of_an_empty_array_is_refused():
    model = _softmax_model()
    with pytest.raises(ValueError, match="empty array: there is nothing to score"):
        training.accuracy(model, np.zeros((0, 3), "float32"), np.zeros(0, int))


def test_accuracy_refuses_labels_that_do_not_fit():
    x, y = _three_quarters_right(8)
    model = _softmax_model()
    with pytest.raises(ValueError, match="1 labels for 8 predictions"):
        training.accuracy(model, x, y[:1])
    with pytest.raises(ValueError, match="9 labels for 8 predictions"):
        training.accuracy(model, x, np.append(y, 0))
    with pytest.raises(ValueError, match="class ids 0 to 2"):
        training.accuracy(model, x, y + 10)
    with pytest.raises(ValueError, match="got shape"):
        training.accuracy(model, x, y.reshape(2, 2, 2))


def test_accuracy_refuses_a_dataset_without_labels_or_without_batches():
    import tensorflow as tf

    x, _ = _three_quarters_right(8)
    with pytest.raises(ValueError, match="images only"):
        training.accuracy(_softmax_model(), tf.data.Dataset.from_tensor_slices(x).batch(4))
    with pytest.raises(ValueError, match="empty dataset"):
        training.accuracy(_softmax_model(), tf.data.Dataset.from_tensor_slices((x, x)).take(0))


def test_iterating_a_dataset_turns_autotuning_off(monkeypatch):
    import tensorflow as tf

    seen = []
    monkeypatch.setattr(training, "_ITERATE", lambda d: seen.append(d) or iter([]))
    iter(tf.data.Dataset.range(3))
    assert seen[-1].options().autotune.enabled is False
    options = tf.data.Options()
    options.autotune.enabled = True  # a dataset's own choice is kept
    iter(tf.data.Dataset.range(3).with_options(options))
    assert seen[-1].options().autotune.enabled is True


def test_datasets_and_keras_give_the_same_batches_without_autotuning():
    import tensorflow as tf

    assert tf.data.Dataset.__iter__ is training._iterate_without_autotuning
    # a second import of the module finds TensorFlow's own __iter__ here
    assert tf.data.Dataset.__iter__.__wrapped__ is training._ITERATE
    assert training._ITERATE is not training._iterate_without_autotuning
    assert [int(x) for x in tf.data.Dataset.range(5).shuffle(5, seed=1)] == [
        int(x) for x in training._ITERATE(tf.data.Dataset.range(5).shuffle(5, seed=1))
    ]
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    x = np.arange(10, dtype="float32").reshape(5, 2)
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x).numpy(), rtol=1e-6)


def test_predicted_gives_the_classes_of_predict_in_uneven_batches():
    training.seed_everything(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(0).normal(size=(23, 4)).astype("float32")
    expected = model.predict(x, verbose=0).argmax(axis=1)
    for batch_size in (1, 5, 50):  # 23 images: the last batch is smaller
        got = training.predicted(model, x, batch_size=batch_size)
        assert got.shape == (23,)
        np.testing.assert_array_equal(got, expected)
