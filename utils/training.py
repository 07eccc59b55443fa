"""Repeatable training: seeding, a readable epoch log, evaluation.

Introduced in chapter 00.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

# Keras's retracing notices are advice for library authors, not for readers.
tf.get_logger().setLevel("ERROR")

# TensorFlow's own Dataset.__iter__ (also when this module is imported again)
_ITERATE = getattr(tf.data.Dataset.__iter__, "__wrapped__", tf.data.Dataset.__iter__)


def _iterate_without_autotuning(dataset):
    """``iter(dataset)``, with tf.data's autotuning off unless the dataset sets it.

    Keras makes a tf.data iterator for every ``fit`` epoch, every validation
    pass and every ``predict`` or ``evaluate``. With autotuning on (TensorFlow's
    default), each iterator starts a thread that wakes after 10, 20, 40, ...
    milliseconds, and deleting the iterator sometimes waits for its next wake-up:
    on the book's 2-core machine, in runs of 10 to 20 calls, up to two in five
    of the ``predict`` calls that took 2.7 s ended at 5.1 s
    (10 + 20 + ... + 2,560 ms), both cores idle meanwhile
    (``benchmarks/iterator_stall.py``). Autotuning only sizes buffers and
    thread counts, so the batches, their order and every result stay the same;
    chapter 05's three-seed comparison took a quarter less time without it.
    """
    if dataset.options().autotune.enabled is not None:  # the dataset's own choice
        return _ITERATE(dataset)
    options = tf.data.Options()
    options.autotune.enabled = False
    return _ITERATE(dataset.with_options(options))


# Every chapter imports this module before it trains: from then on, in this process.
_iterate_without_autotuning.__wrapped__ = _ITERATE
tf.data.Dataset.__iter__ = _iterate_without_autotuning


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic.

    Call it at the top of a chapter: the same run then prints the same numbers.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class EpochLog(keras.callbacks.Callback):
    """Print one plain line per epoch: no progress-bar control characters.

    Such lines read well in JupyterLab, in the website and in nbval's output.
    """

    def __init__(self, every: int = 1):
        super().__init__()
        self.every = max(1, int(every))
        self._start = 0.0
        self.epoch_seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.epoch_seconds.append(seconds)
        total = self.params.get("epochs", "?")
        if (epoch + 1) % self.every and epoch + 1 != total:
            return
        metrics = "  ".join(f"{name} {value:.4f}" for name, value in (logs or {}).items())
        print(f"epoch {epoch + 1:>3}/{total}  {metrics}  ({seconds:.1f} s)", flush=True)


def fit(
    model: keras.Model, x, y=None, *, log_every: int = 1, **fit_kwargs
) -> keras.callbacks.History:
    """``model.fit`` with a one-line-per-epoch log instead of a progress bar.

    Takes the same arguments as ``model.fit``. The returned history also
    carries the measured seconds of each epoch in ``history.epoch_seconds``.
    """
    log = EpochLog(every=log_every)
    callbacks = list(fit_kwargs.pop("callbacks", [])) + [log]
    history = model.fit(x, y, verbose=0, callbacks=callbacks, **fit_kwargs)
    history.epoch_seconds = log.epoch_seconds
    return history


def accuracy(model: keras.Model, x, y=None, batch_size: int = 256) -> float:
    """Fraction of correct predictions of a softmax classifier.

    ``x`` may be an array with labels ``y``, or (``y`` left out) a dataset of
    (inputs, labels) batches. A dataset is read once: each batch is predicted
    and its own labels are kept, so a dataset that reshuffles on every pass
    (``data.make_dataset(..., shuffle=True)``) is scored correctly. Labels are
    class ids of shape (N,) or (N, 1), or one-hot rows (N, classes). Labels of
    another shape, of a length other than the number of predictions, or that are
    not class ids of the model raise ``ValueError``, and so does an empty array
    or dataset: there is nothing to score.
    """
    if y is None:
        probabilities, labels = _predict_batches(model, x)
    else:
        labels = np.asarray(y)
        if len(x) == 0 or labels.size == 0:
            raise ValueError("accuracy got an empty array: there is nothing to score")
        probabilities = model.predict(x, batch_size=batch_size, verbose=0)
    labels = _class_ids(labels, probabilities.shape)
    return float((probabilities.argmax(axis=1) == labels).mean())


def _predict_batches(model: keras.Model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and labels of every (inputs, labels) batch, from one pass over ``dataset``."""
    probabilities, labels = [], []
    for batch in dataset:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(
                "accuracy needs a dataset of (inputs, labels) batches, or labels y; "
                "this dataset yields images only (make_dataset(x, y) adds the labels)"
            )
        probabilities.append(np.asarray(model.predict_on_batch(batch[0])))
        labels.append(np.asarray(batch[1]))
    if not probabilities:
        raise ValueError("accuracy got an empty dataset: there is nothing to score")
    return np.concatenate(probabilities), np.concatenate(labels)


def _class_ids(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Labels as N class ids for N predictions of ``shape[1]`` classes, or a ValueError."""
    n, n_classes = shape
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]  # (N, 1) class ids
    elif labels.ndim == 2 and labels.shape[1] == n_classes:
        labels = labels.argmax(axis=1)  # one-hot rows
    elif labels.ndim != 1:
        raise ValueError(
            f"labels must be class ids (N,) or (N, 1), or one-hot rows (N, {n_classes}); "
            f"got shape {labels.shape}"
        )
    if len(labels) != n:
        raise ValueError(f"got {len(labels)} labels for {n} predictions; they must match")
    if not np.isin(labels, np.arange(n_classes)).all():
        raise ValueError(f"labels must be class ids 0 to {n_classes - 1} of the model")
    return labels


def paired_bootstrap(a, b, n_resamples=5000, seed=0):
    """Mean of a - b and its 95 % bootstrap interval, resampling test images.

    a and b have one row per seed and one column per test image (1 = correct).
    Introduced in chapter 05.
    """
    per_image = (np.asarray(a, float) - np.asarray(b, float)).mean(axis=0)
    rng = np.random.default_rng(seed)
    n = len(per_image)
    means = [per_image[rng.integers(0, n, n)].mean()  # one resample
             for _ in range(n_resamples)]
    low, high = np.percentile(means, [2.5, 97.5])
    return per_image.mean(), low, high


def compiled(model, learning_rate):
    """Compile ``model`` with Adam at ``learning_rate``; return it.

    The loss is sparse categorical cross-entropy (integer labels) and the
    metric accuracy, as in chapter 05. Introduced in chapter 06.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def early_stopping(patience, monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    restore_best_weights: the model ends with the best epoch's weights, not
    the last's. Introduced in chapter 05.
    """
    return keras.callbacks.EarlyStopping(
        monitor=monitor, patience=patience, restore_best_weights=True)


def correct(model, x, y):
    """One True/False per image: is the most probable class the label?

    Kept per test image for paired comparisons. Introduced in chapter 05.
    """
    return model.predict(x, batch_size=256, verbose=0).argmax(axis=1) == y


def predicted(model, inputs, batch_size=50):
    """Predicted classes of ``model`` for ``inputs``. Calling the model
    directly, in small batches, avoids the set-up cost of ``predict()`` for
    every new model and keeps memory low. Introduced in chapter 09."""
    return np.concatenate([
        keras.ops.convert_to_numpy(model(inputs[i : i + batch_size],
                                         training=False))
        for i in range(0, len(inputs), batch_size)
    ]).argmax(axis=1)
