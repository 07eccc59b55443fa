"""Chapter 02's objective: the code the chapter writes out (cross-entropy, the head,
gradient descent; read from the chapter) and utils.chapters.objective's fast loss curves."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from chapter_code import definitions

from utils import data, feature_rows, models, training
from utils.chapters import objective
from utils.validation import positive_number, whole_number

ch02 = definitions(
    "02_the_objective", keras=keras, np=np, tf=tf, data=data, feature_rows=feature_rows,
    positive_number=positive_number, whole_number=whole_number,
    STANDARDIZATION_EPSILON=models.STANDARDIZATION_EPSILON,
)


@pytest.fixture(scope="module")
def problem():
    """A small, class-structured problem: 60 examples of (3, 3, 8) features, 10 classes."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 6)
    centres = rng.normal(size=(10, 72))
    features = centres[labels] + 2.0 * rng.normal(size=(60, 72))
    features[:, 5] = 3.0  # a constant feature, as dead ReLUs give
    return features.reshape(60, 3, 3, 8).astype(np.float32), labels


def test_softmax_is_a_distribution_even_for_huge_scores():
    p = ch02.softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]]))
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1.0)
    assert p[0, 0] == pytest.approx(1.0)


def test_cross_entropy_by_hand_matches_keras():
    rng = np.random.default_rng(1)
    probabilities = ch02.softmax(rng.normal(size=(50, 10)))
    labels = rng.integers(0, 10, size=50)
    expected = float(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities))
    assert ch02.cross_entropy(probabilities, labels) == pytest.approx(expected, abs=1e-6)
    assert ch02.cross_entropy(np.full((4, 10), 0.1), np.arange(4)) == pytest.approx(np.log(10))


def test_cross_entropy_rejects_bad_input():
    p = np.full((3, 10), 0.1)
    with pytest.raises(ValueError):
        ch02.cross_entropy(p, np.array([0, 1]))
    with pytest.raises(ValueError):
        ch02.cross_entropy(p, np.array([0, 1, 10]))
    with pytest.raises(ValueError):
        ch02.cross_entropy(p, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError):
        ch02.cross_entropy(p[0], np.array([0]))


@pytest.mark.parametrize(
    "rows",
    [[[5.0, 5.0, 5.0]], [[-0.5, 1.0, 0.5]], [[0.2, 0.2, 0.2]]],
    ids=["logits", "negative", "sum"],
)
def test_cross_entropy_refuses_rows_that_are_not_distributions(rows):
    with pytest.raises(ValueError, match="softmax first"):
        ch02.cross_entropy(rows, [0])


def test_standardize_matches_the_linear_head(problem):
    features, _ = problem
    train, other = objective.standardize(features[:40], features[40:])
    normalizer = models.linear_head(features[:40]).layers[1]
    expected = keras.ops.convert_to_numpy(normalizer(features[40:].reshape(20, -1)))
    np.testing.assert_allclose(other, expected, atol=1e-4)
    assert train.shape == (40, 72) and np.allclose(train.mean(axis=0), 0, atol=1e-5)
    assert np.all(train[:, 5] == 0)  # a constant feature becomes 0, not nan


def test_linear_head_adds_weight_decay_to_the_loss(problem):
    features, labels = problem
    head = ch02.linear_head(features, weight_decay=0.1)
    head.compile(loss="sparse_categorical_crossentropy")
    kernel, bias = head.layers[-1].get_weights()
    by_keras = head.evaluate(features, labels, batch_size=60, verbose=0)
    standardised = objective.standardize(features)[0]
    assert by_keras == pytest.approx(
        ch02.regularised_risk(standardised, labels, kernel, bias, 0.1), abs=1e-4
    )
    with pytest.raises(ValueError):
        ch02.linear_head(features, weight_decay=-1.0)


def test_zero_head_starts_at_log_n_classes(problem):
    features, labels = problem
    head = ch02.linear_head(features, kernel_initializer="zeros")
    history = ch02.gradient_descent(head, features, labels, 0.1, 1)
    assert history["loss"][0] == pytest.approx(np.log(10), abs=1e-6)
    assert history["accuracy"][0] == pytest.approx(0.1)


def test_gradient_descent_equals_model_fit(problem):
    features, labels = problem
    heads = []
    for _ in range(2):
        training.seed_everything(0)
        heads.append(ch02.linear_head(features, weight_decay=0.01))
    heads[1].set_weights(heads[0].get_weights())
    by_hand = ch02.gradient_descent(heads[0], features, labels, 0.05, 20, 0.01)
    heads[1].compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    dataset = tf.data.Dataset.from_tensors((features, labels.astype(np.int32)))
    by_fit = heads[1].fit(dataset, epochs=20, shuffle=False, verbose=0)
    np.testing.assert_allclose(by_hand["loss"], by_fit.history["loss"], atol=1e-5)
    for a, b in zip(heads[0].get_weights(), heads[1].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert by_hand["loss"][-1] < by_hand["loss"][0]
    assert by_hand["accuracy"][-1] > by_hand["accuracy"][0]


@pytest.mark.parametrize(
    "rate, steps", [(0.0, 5), (-0.1, 5), (float("nan"), 5), ("0.1", 5), (0.1, 2.5), (0.1, 0)]
)
def test_bad_learning_rates_and_steps_are_rejected(problem, rate, steps):
    features, labels = problem
    head = ch02.linear_head(features)
    with pytest.raises(ValueError):
        ch02.gradient_descent(head, features, labels, rate, steps)
    curves = objective.GradientDescentCurves(objective.standardize(features)[0], labels)
    with pytest.raises(ValueError):
        curves.losses(rate, steps)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_fast_curves_equal_plain_gradient_descent(problem, weight_decay):
    features, labels = problem
    head = ch02.linear_head(features, weight_decay=weight_decay, kernel_initializer="zeros")
    plain = ch02.gradient_descent(head, features, labels, 0.05, 30, weight_decay)
    curves = objective.GradientDescentCurves(
        objective.standardize(features)[0], labels, weight_decay
    )
    np.testing.assert_allclose(curves.losses(0.05, 30), plain["loss"], atol=1e-4)
    assert curves.losses(0.05, 30).shape == (30,)


def test_fast_curves_show_slow_good_and_overshooting_rates(problem):
    features, labels = problem
    curves = objective.GradientDescentCurves(objective.standardize(features)[0], labels, 0.01)
    small, good, large = (curves.losses(rate, 50) for rate in (0.001, 0.05, 20.0))
    assert np.all(np.diff(small) <= 0) and small[-1] > good[-1]
    assert large.max() > large[0]
    assert "fell at every step" in objective.describe_curve(small)
    assert "overshoot" in objective.describe_curve(large)


def test_describe_curve():
    assert "blew up" in objective.describe_curve(np.array([2.0, 5.0, np.inf]))
    assert "bounces" in objective.describe_curve(np.array([2.0, 1.0, 1.5, 0.5]))
    assert "only one step" in objective.describe_curve(np.array([2.0]))


def test_curves_reject_bad_construction(problem):
    features, labels = problem
    flat = objective.standardize(features)[0]
    with pytest.raises(ValueError):
        objective.GradientDescentCurves(features, labels)  # not flattened
    with pytest.raises(ValueError):
        objective.GradientDescentCurves(flat, labels[:10])
    with pytest.raises(ValueError):
        objective.GradientDescentCurves(flat, labels, weight_decay=-1)


def test_permuting_channels_keeps_the_function():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(6, 3, activation="relu", name="a"),
            keras.layers.Conv2D(4, 3, activation="relu", name="b"),
        ]
    )
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 3)).astype(np.float32)
    before = model.predict(x, verbose=0)
    a, b = model.get_layer("a"), model.get_layer("b")
    original = a.get_weights(), b.get_weights()
    new_a, new_b = ch02.permute_channels(*original, np.array([3, 1, 5, 0, 2, 4]))
    a.set_weights(new_a)
    b.set_weights(new_b)
    np.testing.assert_allclose(model.predict(x, verbose=0), before, atol=1e-5)
    assert not np.allclose(new_a[0], original[0][0])
