"""Tests of utils.feature_rows: batches, statistics and predictions read a chunk at a time."""

import keras
import numpy as np
import pytest

from utils import feature_rows, models, training


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (50, 2, 2, 3)).astype(np.float32)
    x[:, 0, 0, 0] = 0.0  # a feature that never varies
    return x


@pytest.fixture(scope="module")
def labels():
    return np.arange(50) % 10


@pytest.fixture
def memory_mapped(features, tmp_path):
    path = tmp_path / "features.npy"
    np.save(path, features)
    return np.load(path, mmap_mode="r")


ROWS = np.array([1, 4, 7, 8, 20, 21, 33, 40, 41, 49, 5])


def _epoch(batches):
    return [batches[i] for i in range(len(batches))]


def test_batches_without_shuffle_take_the_rows_in_order(features, labels):
    batches = feature_rows.Batches(features, labels, ROWS, batch_size=4)
    epoch = _epoch(batches)
    assert len(batches) == 3 and [len(y) for _, y in epoch] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in epoch]), features[ROWS])
    np.testing.assert_array_equal(np.concatenate([y for _, y in epoch]), labels[ROWS])
    with pytest.raises(IndexError):
        batches[3]


def test_shuffled_batches_cover_every_row_once_in_a_new_order_each_epoch(features, labels):
    def orders(seed):
        batches = feature_rows.Batches(features, labels, ROWS, 4, shuffle=True, seed=seed)
        seen = []
        for _ in range(3):
            epoch = _epoch(batches)
            x = np.concatenate([x for x, _ in epoch])
            y = np.concatenate([y for _, y in epoch])
            rows = [int(np.flatnonzero((features == row).all(axis=(1, 2, 3)))[0]) for row in x]
            assert sorted(rows) == sorted(ROWS.tolist())  # every row once
            np.testing.assert_array_equal(y, labels[rows])  # labels stay with their rows
            seen.append(rows)
            batches.on_epoch_end()
        return seen

    first = orders(seed=1)
    assert first == orders(seed=1)  # repeatable
    assert first != orders(seed=2)
    assert first[0] != first[1]  # a new order each epoch


def test_batches_read_a_memory_mapped_file(memory_mapped, features, labels):
    x, y = feature_rows.Batches(memory_mapped, labels, ROWS, 8, shuffle=True)[0]
    assert type(x) is np.ndarray and x.shape == (8, 2, 2, 3)
    assert all((features == row).all(axis=(1, 2, 3)).any() for row in x)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"labels": np.arange(49)}, "labels has 49 entries but features has 50 rows"),
        ({"rows": np.array([0, 50])}, r"rows must lie in \[0, 50\)"),
        ({"rows": np.array([0.0, 1.0])}, "rows must be a 1-D array of row numbers"),
        ({"rows": np.array([], dtype=int)}, "rows is empty"),
        ({"batch_size": 0}, "batch_size must be a whole number of at least 1"),
    ],
)
def test_batches_reject_bad_arguments_clearly(features, labels, arguments, message):
    settings = {"labels": labels, "rows": ROWS, "batch_size": 4, **arguments}
    with pytest.raises(ValueError, match=message):
        feature_rows.Batches(features, **settings)


def _small_model():
    training.seed_everything(0)
    model = keras.Sequential(
        [keras.Input((2, 2, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


def test_fit_on_batches_learns_what_fit_on_the_indexed_rows_learns(features, labels):
    in_memory = _small_model()
    in_memory.fit(features[ROWS], labels[ROWS], batch_size=4, epochs=3, shuffle=False, verbose=0)
    batched = _small_model()
    # Batches makes the batches and their order: fit must not reorder them
    batched.fit(feature_rows.Batches(features, labels, ROWS, 4), epochs=3, verbose=0, shuffle=False)
    for a, b in zip(in_memory.get_weights(), batched.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_asks_for_a_new_order_every_epoch(features, labels):
    class Recorded(feature_rows.Batches):
        def __getitem__(self, batch):
            x, y = super().__getitem__(batch)
            self.seen.add(tuple(y))
            return x, y

    batches = Recorded(features, labels, np.arange(50), 10, shuffle=True)
    batches.seen = set()
    _small_model().fit(batches, epochs=3, verbose=0, shuffle=False)
    # one order would give 5 different batches; each epoch's own order gives more
    assert len(batches.seen) > 5


def test_statistics_of_one_chunk_are_numpys_own(features):
    mean, variance = feature_rows.mean_and_variance(features, ROWS)
    flat = features[ROWS].reshape(len(ROWS), -1)
    np.testing.assert_array_equal(mean, flat.mean(axis=0))
    np.testing.assert_array_equal(variance, flat.var(axis=0))


def test_statistics_over_many_chunks_agree_with_numpy(memory_mapped, features):
    mean, variance = feature_rows.mean_and_variance(memory_mapped, max_bytes=3 * 12 * 4)
    flat = features.reshape(len(features), -1).astype(np.float64)
    assert mean.dtype == variance.dtype == np.float32
    np.testing.assert_allclose(mean, flat.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(variance, flat.var(axis=0), rtol=1e-5, atol=1e-6)
    assert variance[0] == 0.0


def test_statistics_need_rows(features):
    with pytest.raises(ValueError, match="no rows"):
        feature_rows.mean_and_variance(features, np.array([], dtype=int))


def test_standardized_head_on_rows_equals_the_head_on_the_indexed_rows(features):
    on_rows = models.standardized_head(features, ROWS, hidden_units=8)
    indexed = models.standardized_head(features[ROWS], hidden_units=8)
    for a, b in zip(on_rows.layers[1].get_weights(), indexed.layers[1].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_predictions_chunk_by_chunk_are_those_of_predict(memory_mapped, features):
    model = _small_model()
    expected = model.predict(features, batch_size=8, verbose=0)
    # 8 rows fit in max_bytes: chunks of one batch each
    chunked = feature_rows.predict(model, memory_mapped, batch_size=8, max_bytes=8 * 12 * 4)
    np.testing.assert_array_equal(chunked, expected)
    with pytest.raises(ValueError, match="features is empty"):
        feature_rows.predict(model, features[:0])
