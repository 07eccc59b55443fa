"""Tests of utils.features: features are computed once, cached, checked and keyed correctly."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from utils import cache_files, data, features

pytestmark = pytest.mark.usefixtures("private_cache")  # no test writes the real cache


@pytest.fixture()
def tiny_base():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Conv2D(4, 3, strides=4, name="block1_conv1")(inputs)
    return keras.Model(inputs, outputs)


@pytest.fixture()
def images():
    (x_train, _), _ = data.load_fashion_mnist()
    return x_train[:40]


def test_features_have_the_base_output_shape(tiny_base, images, private_cache):
    result = features.extract_features(tiny_base, images, image_size=32)
    assert result.shape == (40, 8, 8, 4) and result.dtype == np.float32
    assert len(list((private_cache / "features").glob("*.npy"))) == 1


def test_no_images_give_no_features(tiny_base, images, private_cache):
    result = features.extract_features(tiny_base, images[:0], image_size=32)
    assert result.shape == (0, 8, 8, 4) and result.dtype == np.float32


def test_cached_features_are_reused(tiny_base, images, private_cache, monkeypatch):
    first = features.extract_features(tiny_base, images, image_size=32)
    monkeypatch.setattr(tiny_base, "predict", lambda *a, **k: pytest.fail("recomputed"))
    np.testing.assert_array_equal(features.extract_features(tiny_base, images, 32), first)


def test_cache_key_changes_with_weights_images_and_preprocessing(tiny_base, images, private_cache):
    features.extract_features(tiny_base, images, 32)
    features.extract_features(tiny_base, images[:20], 32)
    features.extract_features(tiny_base, images, 32, preprocess=False)
    kernel, bias = tiny_base.layers[-1].get_weights()
    tiny_base.layers[-1].set_weights([kernel + 1.0, bias])
    features.extract_features(tiny_base, images, 32)
    assert len(list((private_cache / "features").glob("*.npy"))) == 4


def test_damaged_cache_is_recomputed_not_trusted(tiny_base, images, private_cache, capsys):
    first = features.extract_features(tiny_base, images, 32)
    (cached,) = (private_cache / "features").glob("*.npy")
    cached.write_bytes(cached.read_bytes()[:100])
    again = features.extract_features(tiny_base, images, 32)
    np.testing.assert_array_equal(again, first)
    assert "damaged" in capsys.readouterr().out


def test_wrong_image_size_is_rejected(tiny_base, images):
    with pytest.raises(ValueError, match="image_size"):
        features.extract_features(tiny_base, images, image_size=64)


def test_wrong_image_shape_is_rejected(tiny_base):
    with pytest.raises(ValueError, match="28, 28"):
        features.extract_features(tiny_base, np.zeros((4, 32, 32), np.uint8), 32)


# --- reliability: a cache that cannot be written, content checks, the oneDNN key -------


@pytest.fixture()
def fresh_warnings(monkeypatch):
    """Forget the one-time warnings given earlier in this process."""
    monkeypatch.setattr(cache_files, "_warned", set())


def _disk_full(path, *payload):
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


@pytest.mark.parametrize("fault", ["a file where the features folder goes", "disk full"])
def test_features_survive_a_cache_that_cannot_be_written(
    tiny_base, images, private_cache, monkeypatch, fresh_warnings, fault
):
    expected = features.extract_features(tiny_base, images, 32, use_cache=False)
    if fault == "disk full":
        monkeypatch.setattr(cache_files, "atomic_replace", _disk_full)
    else:
        (private_cache / "features").write_text("not a folder")
    with pytest.warns(UserWarning, match="TLBOOK_CACHE_DIR") as caught:
        first = features.extract_features(tiny_base, images, 32)
        second = features.extract_features(tiny_base, images[:20], 32)
    ours = [w for w in caught if "TLBOOK_CACHE_DIR" in str(w.message)]
    assert len(ours) == 1  # one warning, not one per call
    assert ours[0].filename == __file__  # naming the reader's line
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected[:20])
    assert not list(private_cache.rglob("*.npy"))


def _save_over(path, array):
    with open(path, "wb") as handle:  # in place, as a damaged disk or an editor would
        np.save(handle, array, allow_pickle=False)


def _flip_one_bit(array):
    flipped = array.copy()
    flipped.reshape(-1).view(np.uint8)[1001] ^= 0x10
    return flipped


def _one_nan(array):
    changed = array.copy()
    changed.reshape(-1)[7] = np.nan
    return changed


@pytest.mark.parametrize(
    "change",
    [_flip_one_bit, _one_nan, lambda a: a.astype(np.float64), lambda a: a.astype(np.int8)],
    ids=["one bit flipped", "one NaN", "float64", "int8"],
)
def test_cached_features_that_fail_their_checksum_are_recomputed(
    tiny_base, images, private_cache, change
):
    first = features.extract_features(tiny_base, images, 32)
    (path,) = (private_cache / "features").glob("*.npy")
    _save_over(path, change(first))
    with pytest.warns(UserWarning, match=f"{path.name} do not match the checksum") as record:
        again = features.extract_features(tiny_base, images, 32)
    ours = [w for w in record if "do not match the checksum" in str(w.message)]
    assert ours[0].filename == __file__  # the warning names the reader's line
    np.testing.assert_array_equal(again, first)
    assert again.dtype == np.float32
    reread = np.load(path)  # the bad file was replaced by the recomputed features
    np.testing.assert_array_equal(reread, first)
    assert path.with_suffix(".sha256").read_text().strip() == cache_files.checksum(reread)


def test_cache_file_without_checksum_is_stale(tiny_base, images, private_cache, monkeypatch):
    """A file from before checksums existed is computed again, quietly, then checksummed."""
    first = features.extract_features(tiny_base, images, 32)
    (path,) = (private_cache / "features").glob("*.npy")
    path.with_suffix(".sha256").unlink()
    calls = []
    predict = tiny_base.predict
    monkeypatch.setattr(tiny_base, "predict", lambda *a, **k: calls.append(1) or predict(*a, **k))
    np.testing.assert_array_equal(features.extract_features(tiny_base, images, 32), first)
    assert calls == [1]
    assert path.with_suffix(".sha256").read_text().strip() == cache_files.checksum(first)
    features.extract_features(tiny_base, images, 32)
    assert calls == [1]  # checksummed now: read from the cache


def test_the_key_records_the_onednn_setting_tensorflow_runs_with():
    """TensorFlow imported first, then the variable changed: the key must not follow it."""
    from tensorflow.python.util import _pywrap_util_port

    running = "on" if _pywrap_util_port.IsMklEnabled() else "off"
    assert features.numerical_settings() == [tf.__version__, running]
    child = (
        "import json, os, tensorflow\n"
        f"os.environ['TF_ENABLE_ONEDNN_OPTS'] = {'0' if running == 'on' else '1'!r}\n"
        "from utils import features\n"
        "print(json.dumps(features.numerical_settings()))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if "TF_ENABLE_ONEDNN_OPTS" in os.environ:  # let the child start as this process did
        env["TF_ENABLE_ONEDNN_OPTS"] = os.environ["TF_ENABLE_ONEDNN_OPTS"]
    result = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, env=env,
        cwd=Path(features.__file__).parent.parent, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(result.stdout.splitlines()[-1]) == [tf.__version__, running]


def test_an_unknown_onednn_setting_is_keyed_on_the_variable_and_said(
    monkeypatch, fresh_warnings
):
    from tensorflow.python.util import _pywrap_util_port

    monkeypatch.delattr(_pywrap_util_port, "IsMklEnabled")
    monkeypatch.setattr(features, "_ONEDNN_VARIABLE_AT_IMPORT", "0")
    with pytest.warns(UserWarning, match="cannot say whether oneDNN is on"):
        assert features.onednn_setting() == "TF_ENABLE_ONEDNN_OPTS='0'"


# --- features larger than memory: chunks, streamed to the cache, memory-mapped ---------


def test_features_in_chunks_equal_features_in_one_go(tiny_base, images):
    whole = features.extract_features(tiny_base, images, 32, batch_size=8, use_cache=False)
    chunked = features.extract_features(
        tiny_base, images, 32, batch_size=8, use_cache=False, chunk_size=12
    )  # rounded up to 16: chunks of 16, 16 and 8 images
    np.testing.assert_array_equal(chunked, whole)


def test_memory_mapped_features_come_from_the_cache_file(tiny_base, images, monkeypatch):
    expected = features.extract_features(tiny_base, images, 32, use_cache=False)
    mapped = features.extract_features(tiny_base, images, 32, memory_map=True, chunk_size=16)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    path = features.cache_path(tiny_base, images, 32, preprocess=True)
    assert Path(mapped.filename) == path
    np.testing.assert_array_equal(mapped, expected)
    # the streamed checksum is the checksum of the whole array
    assert path.with_suffix(".sha256").read_text().strip() == cache_files.checksum(expected)
    monkeypatch.setattr(features, "_chunks", _must_not_run)
    again = features.extract_features(tiny_base, images, 32, memory_map=True)
    np.testing.assert_array_equal(again, expected)  # read and checked, not computed
    np.testing.assert_array_equal(features.extract_features(tiny_base, images, 32), expected)


def _must_not_run(*args):
    raise AssertionError("the features were computed again")


def test_a_damaged_memory_mapped_cache_is_recomputed(tiny_base, images):
    first = np.array(features.extract_features(tiny_base, images, 32, memory_map=True))
    path = features.cache_path(tiny_base, images, 32, preprocess=True)
    _save_over(path, _flip_one_bit(first))
    with pytest.warns(UserWarning, match=f"{path.name} do not match the checksum"):
        again = features.extract_features(tiny_base, images, 32, memory_map=True)
    np.testing.assert_array_equal(again, first)


def test_an_interrupted_stream_leaves_no_cache_file(tiny_base, images, monkeypatch):
    def one_chunk_then_fail(*args):
        yield [np.zeros((16, *tiny_base.output_shape[1:]), np.float32)]
        raise RuntimeError("interrupted")

    monkeypatch.setattr(features, "_chunks", one_chunk_then_fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        features.extract_features(tiny_base, images, 32, memory_map=True)
    folder = features.cache_path(tiny_base, images, 32, preprocess=True).parent
    assert not list(folder.iterdir())  # no features, no checksum, no temporary file


def test_memory_mapping_needs_a_cache_that_can_be_written(
    tiny_base, images, private_cache, monkeypatch
):
    with pytest.raises(ValueError, match="needs use_cache=True"):
        features.extract_features(tiny_base, images, 32, memory_map=True, use_cache=False)
    monkeypatch.setattr(cache_files, "atomic_replace", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        features.extract_features(tiny_base, images, 32, memory_map=True)
    assert not list(private_cache.rglob("*.npy"))


# --- several cuts of one network from one pass ------------------------------------------


@pytest.fixture()
def two_cuts():
    """Two models cut from one small network: after its first and its second layer."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    first = keras.layers.Conv2D(4, 3, strides=2, name="block1_conv1")(inputs)
    second = keras.layers.Conv2D(6, 3, strides=2, name="block2_conv1")(first)
    return keras.Model(inputs, first), keras.Model(inputs, second)


def test_cuts_together_give_what_each_gives_alone_and_share_its_cache(
    two_cuts, images, monkeypatch
):
    alone = [features.extract_features(cut, images, 32, use_cache=False) for cut in two_cuts]
    together = features.extract_features(two_cuts, images, 32, batch_size=8, chunk_size=12)
    for one, other in zip(alone, together, strict=True):
        np.testing.assert_array_equal(other, one)  # to the last bit
    monkeypatch.setattr(features, "_chunks", _must_not_run)
    for cut, one in zip(two_cuts, alone, strict=True):
        np.testing.assert_array_equal(features.extract_features(cut, images, 32), one)


def test_cuts_together_compute_only_the_missing_cut(two_cuts, images, monkeypatch):
    features.extract_features(two_cuts[1], images, 32)
    outputs = []
    real_chunks = features._chunks

    def spy(model, *args):
        outputs.append(len(model.outputs))
        return real_chunks(model, *args)

    monkeypatch.setattr(features, "_chunks", spy)
    features.extract_features(two_cuts, images, 32)
    assert outputs == [1]


def test_cuts_together_stream_to_memory_mapped_files(two_cuts, images, monkeypatch):
    expected = features.extract_features(two_cuts, images, 32, use_cache=False)
    mapped = features.extract_features(two_cuts, images, 32, memory_map=True, chunk_size=16)
    for cut, array, want in zip(two_cuts, mapped, expected, strict=True):
        assert isinstance(array, np.memmap) and not array.flags.writeable
        path = features.cache_path(cut, images, 32, preprocess=True)
        assert Path(array.filename) == path
        np.testing.assert_array_equal(array, want)
        assert path.with_suffix(".sha256").read_text().strip() == cache_files.checksum(want)


def test_an_interrupted_stream_of_two_cuts_leaves_no_cache_file(two_cuts, images, monkeypatch):
    def one_chunk_then_fail(*args):
        yield [np.zeros((16, *cut.output_shape[1:]), np.float32) for cut in two_cuts]
        raise RuntimeError("interrupted")

    monkeypatch.setattr(features, "_chunks", one_chunk_then_fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        features.extract_features(two_cuts, images, 32, memory_map=True)
    folder = features.cache_path(two_cuts[0], images, 32, preprocess=True).parent
    assert not list(folder.iterdir())  # no features, no checksums, no temporary files


def test_cuts_must_share_their_input(two_cuts, tiny_base, images):
    with pytest.raises(ValueError, match="models cut from the same input"):
        features.extract_features([two_cuts[0], tiny_base], images, 32)
    with pytest.raises(ValueError, match="models cut from the same input"):
        features.extract_features([], images, 32)


@pytest.mark.parametrize("chunk_size", [0, -5, 2.5, True, "64"])
def test_chunk_size_must_be_a_positive_integer(tiny_base, images, chunk_size):
    with pytest.raises(ValueError, match="chunk_size must be a whole number of at least 1"):
        features.extract_features(tiny_base, images, 32, chunk_size=chunk_size)
