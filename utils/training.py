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

    ``x`` may be an array (with integer labels ``y``) or a dataset of
    (inputs, labels) batches.
    """
    if y is None:
        labels = np.concatenate([np.asarray(batch[1]) for batch in x])
        probabilities = model.predict(x, verbose=0)
    else:
        labels = np.asarray(y)
        probabilities = model.predict(x, batch_size=batch_size, verbose=0)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    return float((probabilities.argmax(axis=1) == labels).mean())
