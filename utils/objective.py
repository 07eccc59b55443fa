"""The training objective by hand: cross-entropy, gradient descent, learning-rate curves.

Chapter 02 writes training as minimising a number, the regularised empirical
risk of a softmax head on fixed features::

    J(W, b) = (1/N) sum_i -log p_{y_i}(x_i) + weight_decay * ||W||^2,
    p(x) = softmax(W^T u(x) + b),

where ``u(x)`` are standardised, flattened base features. This module computes
that number with NumPy, minimises it with ``tf.GradientTape`` one full-batch
step at a time, and draws loss curves fast enough for a widget.
Introduced in chapter 02.
"""

from __future__ import annotations

import math
from numbers import Real

import keras
import numpy as np
import tensorflow as tf

from utils import data
from utils.validation import positive_number, whole_number

# Keras's Normalization divides by max(std, epsilon); so does standardize().
_EPSILON = 1e-7


# --------------------------------------------------------------------------- NumPy


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably (the largest logit is subtracted first)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _check_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> None:
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (N, classes), got shape {probabilities.shape}")
    if labels.ndim != 1 or len(labels) != len(probabilities):
        raise ValueError(
            f"labels must be (N,) with N = {len(probabilities)}, got shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids, got {labels.dtype}")
    if len(labels) and (labels.min() < 0 or labels.max() >= probabilities.shape[1]):
        raise ValueError(f"labels must be in [0, {probabilities.shape[1]})")
    sums = probabilities.sum(axis=1)
    if (probabilities < 0).any() or (np.abs(sums - 1) > 1e-3).any():  # NaN passes, gives NaN
        raise ValueError(
            f"each row of probabilities must be >= 0 and sum to 1; got values from "
            f"{probabilities.min():.4g} to {probabilities.max():.4g} and row sums from "
            f"{sums.min():.4g} to {sums.max():.4g}. Logits? Apply objective.softmax first."
        )


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy ``-(1/N) sum_i log p_i[y_i]``, by hand with NumPy.

    ``probabilities`` is (N, classes), each row a distribution (rows that are
    not, such as logits, raise ValueError); ``labels`` are integer class ids.
    No clipping: a zero probability for the true class gives ``inf``, as the
    formula says. Introduced in chapter 02.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    _check_probabilities(probabilities, labels)
    with np.errstate(divide="ignore"):
        return float(-np.log(probabilities[np.arange(len(labels)), labels]).mean())


def standardize(train_features: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Flatten features and standardise them with the training set's mean and spread.

    The same transformation as the Normalization layer of
    :func:`utils.models.linear_head` (population standard deviation, floored
    at 1e-7). Returns float32 arrays: the training features first, then each
    of ``others`` transformed with the *training* statistics.
    """
    flat = [np.asarray(f, dtype=np.float32).reshape(len(f), -1) for f in (train_features, *others)]
    mean = flat[0].mean(axis=0, dtype=np.float64)
    std = np.maximum(flat[0].std(axis=0, dtype=np.float64), _EPSILON)
    return tuple(((f - mean) / std).astype(np.float32) for f in flat)


def objective(
    features: np.ndarray,
    labels: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray,
    weight_decay: float = 0.0,
) -> float:
    """J(W, b) on standardised features, by hand: cross-entropy + weight_decay * ||W||^2."""
    probabilities = softmax(np.asarray(features, np.float64) @ kernel + bias)
    penalty = weight_decay * float(np.sum(np.square(kernel, dtype=np.float64)))
    return cross_entropy(probabilities, np.asarray(labels)) + penalty


# --------------------------------------------------------------------------- Keras


def softmax_head(
    train_features: np.ndarray,
    n_classes: int = 10,
    weight_decay: float = 0.0,
    kernel_initializer: str = "glorot_uniform",
    name: str = "softmax_head",
) -> keras.Sequential:
    """:func:`utils.models.linear_head` with weight decay on its kernel.

    Flatten -> Normalization (adapted to ``train_features``) -> Dense(softmax),
    with ``keras.regularizers.L2(weight_decay)``, which adds
    ``weight_decay * sum(W**2)`` to the training loss. ``kernel_initializer=
    "zeros"`` starts from W = 0, where every class has probability 1/n.
    Introduced in chapter 02.
    """
    if not (isinstance(weight_decay, Real) and math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
    flat_dim = int(np.prod(train_features.shape[1:]))
    normalizer = keras.layers.Normalization(axis=-1)
    normalizer.adapt(np.asarray(train_features).reshape(len(train_features), flat_dim))
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    return keras.Sequential(
        [
            keras.Input(shape=train_features.shape[1:]),
            keras.layers.Flatten(),
            normalizer,
            keras.layers.Dense(
                n_classes,
                activation="softmax",
                kernel_initializer=kernel_initializer,
                kernel_regularizer=regularizer,
            ),
        ],
        name=name,
    )


def _check_rate_and_steps(learning_rate, steps) -> tuple[float, int]:
    return positive_number(learning_rate, "learning_rate"), whole_number(steps, "steps", low=1)


def gradient_descent(
    model: keras.Model,
    features: np.ndarray,
    labels: np.ndarray,
    learning_rate: float,
    steps: int,
    weight_decay: float = 0.0,
) -> dict[str, np.ndarray]:
    """Full-batch gradient descent with ``tf.GradientTape``: theta <- theta - lr * grad J.

    ``model`` is a head from :func:`softmax_head` (its last layer is the
    Dense softmax layer whose kernel is decayed). Every step uses all the
    examples. Returns the objective J and the training accuracy *before*
    each step (what ``model.fit`` logs for one batch per epoch).
    Introduced in chapter 02.
    """
    learning_rate, steps = _check_rate_and_steps(learning_rate, steps)
    x = tf.constant(features, dtype=tf.float32)
    y = tf.constant(data.check_labels(np.asarray(labels), n=len(features)).astype(np.int32))
    kernel = model.layers[-1].kernel
    variables = model.trainable_variables

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            probabilities = model(x, training=True)
            risk = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, probabilities))
            loss = risk + weight_decay * tf.reduce_sum(tf.square(kernel))
        gradients = tape.gradient(loss, variables)
        for variable, gradient in zip(variables, gradients, strict=True):
            variable.assign_sub(learning_rate * gradient)
        predicted = tf.argmax(probabilities, axis=1, output_type=tf.int32)
        return loss, tf.reduce_mean(tf.cast(predicted == y, tf.float32))

    history = [step() for _ in range(steps)]
    return {
        "loss": np.array([float(loss) for loss, _ in history]),
        "accuracy": np.array([float(acc) for _, acc in history]),
    }


# --------------------------------------------------------------------------- fast curves


class GradientDescentCurves:
    """Loss curves of full-batch gradient descent on a softmax head, fast.

    The same iteration as :func:`gradient_descent` from W = 0, b = 0 on
    standardised ``features`` (N, D), computed in an equivalent cheaper form:
    starting from W = 0, every gradient of J with respect to W is X^T G for
    some (N, classes) matrix G, so W stays ``X^T A`` and only A (N x classes)
    and the Gram matrix K = X X^T are needed. With N = 1,000 images and
    D = 4,096 features each step costs about a quarter of the direct one.
    Introduced in chapter 02 (the learning-rate widget).
    """

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        weight_decay: float = 0.0,
        n_classes: int = data.NUM_CLASSES,
    ):
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2:
            raise ValueError(f"features must be (N, D) standardised features, got {features.shape}")
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(features):
            raise ValueError(f"labels must be (N,) with N = {len(features)}, got {labels.shape}")
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"labels must be in [0, {n_classes})")
        if not (
            isinstance(weight_decay, Real) and math.isfinite(weight_decay) and weight_decay >= 0
        ):
            raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)
        self.n_classes = n_classes
        self._gram = tf.constant(features @ features.T)
        self._labels = tf.constant(labels.astype(np.int32))
        self._one_hot = tf.one_hot(self._labels, n_classes, dtype=tf.float32)
        self._run = tf.function(self._descend)

    def _descend(self, learning_rate, steps):
        n = tf.cast(tf.shape(self._gram)[0], tf.float32)
        coefficients = tf.zeros((tf.shape(self._gram)[0], self.n_classes))  # W = X^T A
        bias = tf.zeros((self.n_classes,))
        losses = tf.TensorArray(tf.float32, size=steps)
        for step in tf.range(steps):
            gram_a = self._gram @ coefficients  # X W
            logits = gram_a + bias
            risk = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(self._labels, logits)
            )
            penalty = self.weight_decay * tf.reduce_sum(coefficients * gram_a)  # ||W||^2
            losses = losses.write(step, risk + penalty)
            residual = (tf.nn.softmax(logits) - self._one_hot) / n  # dJ/dlogits
            coefficients -= learning_rate * (residual + 2.0 * self.weight_decay * coefficients)
            bias -= learning_rate * tf.reduce_sum(residual, axis=0)
        return losses.stack()

    def losses(self, learning_rate: float, steps: int) -> np.ndarray:
        """J before each of ``steps`` updates with step size ``learning_rate``.

        Once the weights overflow, the remaining values are ``inf`` or ``nan``.
        Raises ValueError for a non-positive rate or a non-integer step count.
        """
        learning_rate, steps = _check_rate_and_steps(learning_rate, steps)
        return self._run(tf.constant(learning_rate, tf.float32), tf.constant(steps)).numpy()


def describe_curve(losses: np.ndarray) -> str:
    """One sentence saying what a loss curve did: fell steadily, bounced, rose, blew up."""
    losses = np.asarray(losses, dtype=np.float64)
    if len(losses) < 2:
        return "only one step: nothing to compare yet."
    if not np.all(np.isfinite(losses)):
        return "the loss blew up to infinity: the learning rate is far too large."
    start, end = losses[0], losses[-1]
    if losses.max() > start:
        trend = "ended above" if end > start else "ended below"
        return (
            f"the loss rose above its start ({start:.3f}) up to {losses.max():.3f} and "
            f"{trend} it ({end:.3f}): the steps overshoot."
        )
    if np.all(np.diff(losses) <= 0):
        return f"the loss fell at every step, from {start:.3f} to {end:.3f}."
    return f"the loss fell from {start:.3f} to {end:.3f}, with some bounces on the way."


# --------------------------------------------------------------------------- non-convexity


def permute_channels(
    conv_weights: list[np.ndarray], next_weights: list[np.ndarray], permutation: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Reorder the filters of one convolution layer and the matching inputs of the next.

    ``conv_weights`` and ``next_weights`` are ``[kernel, bias]`` of two
    consecutive Conv2D layers (kernels in Keras's H, W, in, out layout). The
    network computes exactly the same function afterwards: a different point
    theta_base with the same loss. Introduced in chapter 02.
    """
    kernel, bias = conv_weights
    next_kernel, next_bias = next_weights
    permutation = np.asarray(permutation)
    if sorted(permutation.tolist()) != list(range(kernel.shape[-1])):
        raise ValueError(f"permutation must reorder 0..{kernel.shape[-1] - 1}")
    if next_kernel.shape[2] != kernel.shape[-1]:
        raise ValueError("the next layer's inputs must be this layer's outputs")
    return (
        [kernel[..., permutation], bias[permutation]],
        [next_kernel[:, :, permutation, :], next_bias],
    )
