"""Tests of utils.features: features are computed once, cached, and keyed correctly."""

import keras
import numpy as np
import pytest

from utils import data, features


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


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_features_have_the_base_output_shape(tiny_base, images, private_cache):
    result = features.extract_features(tiny_base, images, image_size=32)
    assert result.shape == (40, 8, 8, 4) and result.dtype == np.float32
    assert len(list((private_cache / "features").glob("*.npy"))) == 1


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
