"""Tests for utils/data.py (Fashion-MNIST); tools/make_subset.py has tests/test_make_subset.py."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tools import prepare_data
from utils import data, full_set, idx
from utils.assets import AssetError, sha256_file

REPO = Path(__file__).resolve().parent.parent


def _full_source() -> Path | None:
    """A folder holding the four official files, or None."""
    for folder in (full_set.DEBIAN_DIR, full_set.KERAS_CACHE_DIR):
        if all((folder / name).is_file() for name in data.FILE_NAMES):
            return folder
    return None


needs_full = pytest.mark.skipif(
    _full_source() is None,
    reason="the official IDX files are not installed "
    "(sudo apt-get install dataset-fashion-mnist, or copy them into Keras's cache)",
)


@pytest.fixture
def bundled_copy(tmp_path, monkeypatch):
    """A copy of the bundled subset that the loader reads instead of data/."""
    folder = tmp_path / "subset"
    shutil.copytree(data.BUNDLED_DIR, folder)
    monkeypatch.setattr(data, "BUNDLED_DIR", folder)
    return folder


def _tiny(n_per_class=5, n_classes=10):
    """Images whose pixels all equal their index (to follow them), labels cycling 0..9."""
    n = n_per_class * n_classes
    x = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, 28, 28)).copy()
    y = (np.arange(n) % n_classes).astype(np.uint8)
    return x, y


# --------------------------------------------------------------------------- bundled subset


def test_bundled_loads_with_expected_shapes_and_counts():
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    assert x_train.shape == (6000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (6000,) and y_train.dtype == np.uint8
    assert x_test.shape == (2000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (2000,) and y_test.dtype == np.uint8
    assert np.bincount(y_train, minlength=10).tolist() == [600] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [200] * 10
    assert x_train.max() == 255 and x_train.min() == 0


def test_bundled_files_match_recorded_checksums_and_size():
    total = 0
    for name in data.FILE_NAMES:
        path = data.BUNDLED_DIR / name
        assert sha256_file(path) == data.BUNDLED_SHA256[name]
        header = path.read_bytes()[:10]
        assert header[3] == 0, f"{name}: gzip header must not store a file name"
        assert header[4:8] == b"\0\0\0\0", f"{name}: gzip time stamp must be 0"
        total += path.stat().st_size
    assert total <= 5_000_000


def test_class_names():
    assert data.NUM_CLASSES == len(data.CLASS_NAMES) == 10
    assert data.CLASS_NAMES[0] == "T-shirt/top" and data.CLASS_NAMES[9] == "Ankle boot"


def test_make_data_reports_the_subset_ok(capsys):
    assert prepare_data.check_subset() == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST subset: OK" in out
    for digest in data.BUNDLED_SHA256.values():
        assert digest in out


def test_import_is_cheap_and_respects_keras_home(tmp_path):
    code = (
        "import sys, utils.data, utils.full_set as d; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; "
        "print(d.KERAS_CACHE_DIR)"
    )
    env = {**os.environ, "KERAS_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert Path(result.stdout.strip()) == tmp_path / "datasets" / "fashion-mnist"


# --------------------------------------------------------------------------- bundled: errors


def test_missing_bundled_file_names_git_checkout(bundled_copy):
    (bundled_copy / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(AssetError, match="t10k-labels-idx1-ubyte.gz") as info:
        data.load_fashion_mnist()
    assert info.value.fix == "git checkout -- data/fashion-mnist-subset"
    assert "git checkout -- data/fashion-mnist-subset" in str(info.value)


def test_wrong_bundled_checksum_names_git_checkout(bundled_copy):
    path = bundled_copy / "train-images-idx3-ubyte.gz"
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    path.write_bytes(bytes(payload))
    with pytest.raises(AssetError, match="train-images-idx3-ubyte.gz") as info:
        data.load_fashion_mnist()
    assert "git checkout -- data/fashion-mnist-subset" in str(info.value)


def test_make_data_fails_on_a_damaged_subset(bundled_copy, capsys):
    (bundled_copy / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    assert prepare_data.check_subset() == 1
    assert "FAILED" in capsys.readouterr().err


def test_unknown_source_is_a_value_error():
    with pytest.raises(ValueError, match="bundled"):
        data.load_fashion_mnist("cifar")


# --------------------------------------------------------------------------- IDX files


def test_truncated_gzip_raises_asset_error(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes((data.BUNDLED_DIR / path.name).read_bytes()[:500])
    with pytest.raises(AssetError, match="t10k-labels-idx1-ubyte.gz") as info:
        idx.read_idx(path, fix="some fix")
    assert "some fix" in str(info.value)


def test_not_gzip_raises_asset_error(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    with pytest.raises(AssetError, match="gzip"):
        idx.read_idx(path)


def test_missing_idx_file_raises_asset_error(tmp_path):
    with pytest.raises(AssetError, match="Missing file"):
        idx.read_idx(tmp_path / "nothing.gz")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x01\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x07", "magic number"),
        (b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"\x07", "type code"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + (5).to_bytes(4, "big"), "ends inside"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x07" * 4, "holds 4 bytes"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x07" * 6, "holds 6 bytes"),
        (b"\x00\x00", "shorter"),
    ],
    ids=["magic", "dtype", "ndim0", "short-header", "short-payload", "long-payload", "tiny"],
)
def test_bad_idx_header_raises_asset_error(tmp_path, raw, message):
    path = tmp_path / "bad-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(AssetError, match=message) as info:
        idx.read_idx(path)
    assert "bad-idx1-ubyte.gz" in str(info.value)


def test_read_idx_folder_rejects_mismatched_pair(tmp_path):
    for name in data.FILE_NAMES:
        shutil.copy(data.BUNDLED_DIR / name, tmp_path / name)
    labels = idx.idx_bytes(np.zeros(5, dtype=np.uint8))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    with pytest.raises(AssetError, match="test files"):
        data.read_idx_folder(tmp_path)


# --------------------------------------------------------------------------- validation


def test_wrong_image_shape_is_a_value_error():
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        data.check_images(np.zeros((3, 32, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        data.check_images(np.zeros((28, 28), dtype=np.uint8))


def test_wrong_image_dtype_is_a_value_error():
    with pytest.raises(ValueError, match="uint8"):
        data.check_images(np.zeros((3, 28, 28), dtype=np.float32))


def test_label_out_of_range_is_a_value_error():
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        data.check_labels(np.array([0, 3, 10]))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        data.check_labels(np.array([0, -1]))


def test_labels_must_be_integers_and_match_images():
    with pytest.raises(ValueError, match="integer"):
        data.check_labels(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="3 entries but there are 4 images"):
        data.check_labels(np.array([0, 1, 2]), n=4)
    x, y = _tiny()
    with pytest.raises(ValueError, match="images"):
        data.stratified_sample(x, y[:-1], 1)


def test_labels_of_shape_n_by_1_get_the_ravel_hint():
    _, y = _tiny()
    with pytest.raises(ValueError, match=r"ravel\(\)") as error:
        data.check_labels(y[:, None])
    assert "argmax" not in str(error.value)
    with pytest.raises(ValueError, match="argmax"):  # one-hot rows keep their hint
        data.check_labels(np.eye(10, dtype=np.uint8)[y])


# --------------------------------------------------------------------------- full set


def test_full_not_found_anywhere_names_apt_get(tmp_path, monkeypatch):
    monkeypatch.setattr(full_set, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(full_set, "KERAS_CACHE_DIR", tmp_path / "keras")

    def no_network():
        raise OSError("URL fetch failure: Name or service not known")

    monkeypatch.setattr(full_set, "_download_with_keras", no_network)
    with pytest.raises(AssetError) as info:
        data.load_fashion_mnist("full")
    message = str(info.value)
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "keras") in message  # where the files may be copied
    assert "Name or service not known" in message


@needs_full
def test_full_from_keras_cache_when_debian_is_absent(tmp_path, monkeypatch):
    cache = tmp_path / "keras"
    cache.mkdir()
    for name in data.FILE_NAMES:
        shutil.copy(_full_source() / name, cache / name)
    monkeypatch.setattr(full_set, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(full_set, "KERAS_CACHE_DIR", cache)
    monkeypatch.setattr(full_set, "_download_with_keras", pytest.fail)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist("full")
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_full_rejects_files_that_are_not_official(tmp_path, monkeypatch):
    fake = tmp_path / "fake"
    shutil.copytree(data.BUNDLED_DIR, fake)  # valid IDX files, but not the full set
    monkeypatch.setattr(full_set, "DEBIAN_DIR", fake)
    monkeypatch.setattr(full_set, "KERAS_CACHE_DIR", tmp_path / "keras")
    monkeypatch.setattr(full_set, "_download_with_keras", lambda: data.load_fashion_mnist())
    with pytest.raises(AssetError, match="not the official") as info:
        data.load_fashion_mnist("full")
    assert str(fake) in str(info.value)


# --------------------------------------------------------------------------- sampling


def test_stratified_sample_counts_order_and_determinism():
    (x, y), _ = data.load_fashion_mnist()
    xs, ys = data.stratified_sample(x, y, 7, seed=3)
    assert xs.shape == (70, 28, 28) and ys.dtype == np.uint8
    assert np.bincount(ys, minlength=10).tolist() == [7] * 10
    again_x, again_y = data.stratified_sample(x, y, 7, seed=3)
    np.testing.assert_array_equal(xs, again_x)
    np.testing.assert_array_equal(ys, again_y)
    other_x, _ = data.stratified_sample(x, y, 7, seed=4)
    assert not np.array_equal(xs, other_x)


def test_stratified_sample_keeps_original_order_and_is_nested():
    x, y = _tiny(n_per_class=20)
    small, _ = data.stratified_sample(x, y, 3, seed=1)
    large, _ = data.stratified_sample(x, y, 8, seed=1)
    small_ids, large_ids = small[:, 0, 0], large[:, 0, 0]
    assert np.all(np.diff(large_ids.astype(int)) > 0)
    assert set(small_ids) <= set(large_ids)


def test_stratified_sample_too_many_names_the_class():
    x, y = _tiny(n_per_class=5)
    x, y = x[y != 3][:-1], y[y != 3][:-1]  # class 3 absent, class 9 has 4 examples
    with pytest.raises(ValueError, match=r"Class 9 \(Ankle boot\) has only 4 .*per_class=5"):
        data.stratified_sample(x, y, 5)


@pytest.mark.parametrize("per_class", [0, -2, 1.5, True])
def test_stratified_sample_rejects_bad_per_class(per_class):
    x, y = _tiny()
    with pytest.raises(ValueError, match="per_class"):
        data.stratified_sample(x, y, per_class)


def test_stratified_sample_of_no_examples_says_so():
    x, y = _tiny()
    with pytest.raises(ValueError, match="no examples"):
        data.stratified_sample(x[:0], y[:0], 5)


@pytest.mark.parametrize("seed", [None, 1.5, "0", True])
def test_stratified_sample_needs_an_integer_seed(seed):
    x, y = _tiny()
    with pytest.raises(ValueError, match="seed must be a whole number"):
        data.stratified_sample(x, y, 2, seed=seed)
    assert len(data.stratified_sample(x, y, 2, seed=np.int64(3))[0]) == 20


# --------------------------------------------------------------------------- to_rgb / tf.data


def test_to_rgb_shape_and_range():
    (x, _), _ = data.load_fashion_mnist()
    rgb = data.to_rgb(x[:4], 48)
    assert rgb.shape == (4, 48, 48, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0.0 and rgb.max() <= 255.0 and rgb.max() > 200
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    flat = data.to_rgb(np.full((1, 28, 28), 77, dtype=np.uint8), 32)
    np.testing.assert_allclose(flat, 77.0)


@pytest.mark.parametrize("size", [31, 225, 32.0, "64"])
def test_to_rgb_rejects_bad_size(size):
    with pytest.raises(ValueError, match="32 to 224"):
        data.to_rgb(np.zeros((1, 28, 28), dtype=np.uint8), size)


def test_make_dataset_shapes_dtypes_and_preprocessing():
    import keras

    (x, y), _ = data.load_fashion_mnist()
    x, y = x[:10], y[:10]
    raw = data.make_dataset(x, y, image_size=40, batch_size=4, preprocess=False)
    batches = list(raw)
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    images, labels = batches[0]
    assert images.shape == (4, 40, 40, 3) and images.dtype.name == "float32"
    assert labels.dtype.name == "int32"
    np.testing.assert_array_equal(labels.numpy(), y[:4])
    np.testing.assert_allclose(images.numpy(), data.to_rgb(x[:4], 40), atol=1e-4)

    cooked, _ = next(iter(data.make_dataset(x, y, image_size=40, batch_size=4)))
    expected = keras.applications.vgg16.preprocess_input(data.to_rgb(x[:4], 40))
    np.testing.assert_allclose(cooked.numpy(), expected, atol=1e-4)
    assert cooked.numpy().min() < 0  # ImageNet means were subtracted


def test_make_dataset_one_hot_and_images_only():
    x, y = _tiny()
    _, one_hot = next(iter(data.make_dataset(x, y, batch_size=8, one_hot=True)))
    assert one_hot.shape == (8, 10) and one_hot.dtype.name == "float32"
    np.testing.assert_array_equal(one_hot.numpy().argmax(axis=1), y[:8])
    images = next(iter(data.make_dataset(x, batch_size=8)))
    assert images.shape == (8, 32, 32, 3)


def test_make_dataset_shuffle_is_deterministic_with_a_seed():
    x, y = _tiny(n_per_class=10)

    def order(dataset):
        return np.concatenate([b.numpy()[:, 0, 0, 0] for b, _ in dataset]).round().astype(int)

    plain = order(data.make_dataset(x, y, batch_size=16, preprocess=False))
    assert plain.tolist() == list(range(100))
    dataset = data.make_dataset(x, y, batch_size=16, shuffle=True, seed=7, preprocess=False)
    epoch1, epoch2 = order(dataset), order(dataset)
    assert sorted(epoch1) == list(range(100))
    assert epoch1.tolist() != plain.tolist()
    assert epoch1.tolist() != epoch2.tolist()  # reshuffled every epoch
    again = data.make_dataset(x, y, batch_size=16, shuffle=True, seed=7, preprocess=False)
    assert order(again).tolist() == epoch1.tolist() and order(again).tolist() == epoch2.tolist()
    other = data.make_dataset(x, y, batch_size=16, shuffle=True, seed=8, preprocess=False)
    assert order(other).tolist() != epoch1.tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": np.zeros((4, 28, 28), dtype=np.float32)}, "uint8"),
        ({"y": np.array([0, 1, 2])}, "entries"),
        ({"y": np.array([0, 1, 2, 12])}, r"\[0, 10\)"),
        ({"image_size": 16}, "32 to 224"),
        ({"batch_size": 0}, "batch_size"),
        ({"preprocess": "no"}, "preprocess must be True or False"),
        ({"shuffle": "yes"}, "shuffle must be True or False"),
        ({"one_hot": 1}, "one_hot must be True or False"),
    ],
    ids=["dtype", "length", "range", "size", "batch", "preprocess", "shuffle", "one_hot"],
)
def test_make_dataset_validates_inputs(kwargs, message):
    args = {"x": np.zeros((4, 28, 28), dtype=np.uint8), "y": np.array([0, 1, 2, 3])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        data.make_dataset(**args)


def test_book_split_asking_too_much_names_the_validation_examples():
    with pytest.raises(ValueError, match=r"500 images per class left .* validation examples"):
        data.book_split(train_per_class=600)


def test_book_split_is_disjoint_stratified_and_nested():
    split = data.book_split(train_per_class=50, val_per_class=20)
    (x_tr, y_tr), (x_val, y_val), (_, y_te) = split["train"], split["val"], split["test"]
    assert np.bincount(y_tr).tolist() == [50] * 10 and np.bincount(y_val).tolist() == [20] * 10
    assert len(y_te) == 2000
    train_rows = {row.tobytes() for row in x_tr}
    assert not train_rows & {row.tobytes() for row in x_val}
    bigger = data.book_split(train_per_class=100, val_per_class=20)["train"][0]
    assert train_rows <= {row.tobytes() for row in bigger}


def test_book_split_indices_select_the_book_split_rows():
    (x_all, y_all), _ = data.load_fashion_mnist()
    for seed in (0, 4):
        index = data.book_split_indices(train_per_class=30, val_per_class=20, seed=seed)
        split = data.book_split(train_per_class=30, val_per_class=20, seed=seed)
        assert not set(index["train"]) & set(index["val"])
        for name in ("train", "val"):
            np.testing.assert_array_equal(x_all[index[name]], split[name][0])
            np.testing.assert_array_equal(y_all[index[name]], split[name][1])


def test_book_split_indices_reject_a_validation_set_that_leaves_nothing():
    with pytest.raises(ValueError, match="val_per_class"):
        data.book_split_indices(train_per_class=10, val_per_class=600)


@pytest.fixture
def small_full_set(monkeypatch):
    """A stand-in for the full set: 700 training and 50 test images per class."""
    rng = np.random.default_rng(0)
    y_train = np.repeat(np.arange(10, dtype=np.uint8), 700)
    y_test = np.repeat(np.arange(10, dtype=np.uint8), 50)
    x_train = rng.integers(0, 256, (len(y_train), 28, 28), dtype=np.uint8)
    x_test = rng.integers(0, 256, (len(y_test), 28, 28), dtype=np.uint8)
    monkeypatch.setattr(full_set, "load", lambda: ((x_train, y_train), (x_test, y_test)))
    return (x_train, y_train), (x_test, y_test)


def test_book_split_from_the_full_set_uses_its_images_and_counts(small_full_set):
    (x_train, y_train), (x_test, _) = small_full_set
    split = data.book_split(train_per_class=550, val_per_class=100, source="full")
    index = data.book_split_indices(550, 100, source="full")
    np.testing.assert_array_equal(split["train"][0], x_train[index["train"]])
    np.testing.assert_array_equal(split["val"][1], y_train[index["val"]])
    assert split["test"][0] is x_test
    assert np.bincount(split["train"][1]).tolist() == [550] * 10  # more than bundled allows
    with pytest.raises(ValueError, match="600 images per class left.*700 full training"):
        data.book_split_indices(601, 100, source="full")


def test_book_split_names_the_sources_it_knows():
    with pytest.raises(ValueError, match="source must be 'bundled' or 'full'"):
        data.book_split(source="mnist")
