"""Training on rows of cached features without reading them all into memory.

At the laptop preset the cached features of the bundled images are arrays in
memory. With the full set (the ``gpu`` preset) they are memory-mapped cache
files of several gigabytes (``features.extract_features(...,
memory_map=True)``): indexing every training row (``f_all[train]``) would read
them all into memory, and so would handing a whole file to Keras's ``fit`` or
``predict``, which copy arrays into one tensor. The helpers here read a batch
or a chunk at a time, so memory holds one batch or chunk, whatever the number
of rows; they work the same on arrays in memory. Introduced in chapter 05.
"""

from __future__ import annotations

import keras
import numpy as np

from utils.validation import flag, row_numbers, whole_number

# The largest chunk of rows read at once (bytes of float32 features).
CHUNK_BYTES = 256 * 2**20


def chunk_rows(features: np.ndarray, max_bytes: int = CHUNK_BYTES) -> int:
    """How many rows of ``features`` make a chunk of at most ``max_bytes`` (at least 1)."""
    row_bytes = int(np.prod(features.shape[1:], dtype=np.int64)) * features.dtype.itemsize
    return max(1, int(max_bytes) // max(1, row_bytes))


def mean_and_variance(features: np.ndarray, rows=None, max_bytes: int = CHUNK_BYTES):
    """Mean and variance of every feature over ``rows`` of ``features`` (all rows if None).

    Returns two float32 vectors, one value per flattened feature. The rows
    are read ``max_bytes`` at a time. When they fit in one chunk the result is
    exactly NumPy's ``mean(axis=0)`` and ``var(axis=0)`` of the rows; with
    several chunks, each chunk's statistics are combined in float64 (the
    pairwise update of Chan, Golub and LeVeque), which agrees with NumPy to
    float32 rounding.
    """
    index = np.arange(len(features)) if rows is None else row_numbers(rows, len(features))
    if len(index) == 0:
        raise ValueError("there are no rows to compute a mean and a variance from.")
    step = chunk_rows(features, max_bytes)
    if len(index) <= step:  # one chunk: NumPy's own numbers
        flat = np.asarray(features[index]).reshape(len(index), -1)
        return flat.mean(axis=0), flat.var(axis=0)
    count = 0
    mean = m2 = np.zeros(int(np.prod(features.shape[1:])), np.float64)
    for start in range(0, len(index), step):
        flat = np.asarray(features[index[start : start + step]]).reshape(-1, len(mean))
        chunk_mean = flat.mean(axis=0, dtype=np.float64)
        chunk_m2 = ((flat - chunk_mean) ** 2).sum(axis=0)
        total = count + len(flat)
        delta = chunk_mean - mean
        mean = mean + delta * len(flat) / total
        m2 = m2 + chunk_m2 + delta**2 * count * len(flat) / total
        count = total
    return mean.astype(np.float32), (m2 / count).astype(np.float32)


def predict(
    model: keras.Model, features: np.ndarray, batch_size: int = 256, max_bytes: int = CHUNK_BYTES
) -> np.ndarray:
    """``model.predict`` on every row of ``features``, one chunk of rows at a time.

    Chunks are whole batches, so the batches, and the predictions, are those
    of ``model.predict(features, batch_size=batch_size)``.
    """
    batch_size = whole_number(batch_size, "batch_size", low=1)
    if len(features) == 0:
        raise ValueError("there are no rows to predict: features is empty.")
    step = max(1, chunk_rows(features, max_bytes) // batch_size) * batch_size
    parts = [
        model.predict(np.asarray(features[start : start + step]), batch_size=batch_size, verbose=0)
        for start in range(0, len(features), step)
    ]
    return np.concatenate(parts)


class Batches(keras.utils.PyDataset):
    """``(features[rows], labels[rows])`` for ``fit``, one batch read at a time.

    ``Batches(f_all, y_all, train, batch_size=128, shuffle=True, seed=0)``
    stands for ``f_all[train], y_all[train]`` with ``fit``'s ``batch_size``
    and shuffling, but reads a batch's rows only when ``fit`` asks for it. With
    ``shuffle=True`` the order of the rows changes every epoch and is the same
    in every run for the same ``seed``; without, the batches take the rows in
    the order given. Each epoch covers every row once; the last batch may be
    smaller.
    """

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        rows,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if len(labels) != len(features):
            raise ValueError(
                f"labels has {len(labels)} entries but features has {len(features)} rows."
            )
        self.features, self.labels = features, np.asarray(labels)
        self.rows = row_numbers(rows, len(features))
        if len(self.rows) == 0:
            raise ValueError("rows is empty: there is nothing to train on.")
        self.batch_size = whole_number(batch_size, "batch_size", low=1)
        self.shuffle = flag(shuffle, "shuffle")
        self._random = np.random.default_rng(whole_number(seed, "seed"))
        self._order = self._new_order()

    def _new_order(self) -> np.ndarray:
        return self._random.permutation(self.rows) if self.shuffle else self.rows

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def __getitem__(self, batch: int):
        if not 0 <= batch < len(self):
            raise IndexError(f"batch {batch} of {len(self)}")
        picked = self._order[batch * self.batch_size : (batch + 1) * self.batch_size]
        # a memory-mapped file is read fastest in increasing order; the batch is the same
        picked = np.sort(picked) if self.shuffle else picked
        return np.asarray(self.features[picked]), self.labels[picked]

    def on_epoch_end(self) -> None:
        self._order = self._new_order()
