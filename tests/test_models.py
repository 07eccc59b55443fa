"""Tests of utils.models: heads, freezing by block, parameter counts, the small CNN."""

import keras
import numpy as np
import pytest

from utils import models


@pytest.fixture(scope="module")
def vgg_base():
    return keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))


def test_recipe_head_is_flatten_dense_dense():
    head = models.recipe_head((4, 4, 256), n_classes=10)
    kinds = [type(layer).__name__ for layer in head.layers]
    assert kinds == ["Flatten", "Dense", "Dense"]
    assert head.layers[1].units == 1024 and head.layers[2].units == 10
    assert head.layers[2].activation.__name__ == "softmax"
    assert head.output_shape == (None, 10)


def test_recipe_head_with_dropout_and_bad_values():
    head = models.recipe_head((8,), hidden_units=16, dropout=0.5)
    assert [type(layer).__name__ for layer in head.layers] == [
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    with pytest.raises(ValueError, match="dropout"):
        models.recipe_head((8,), dropout=1.0)
    for units in (0, 2.5, True):  # a whole number of at least 1, not a bool
        with pytest.raises(ValueError, match="hidden_units must be a whole number"):
            models.recipe_head((8,), hidden_units=units)


def test_linear_head_standardises_features():
    rng = np.random.default_rng(0)
    features = rng.normal(50.0, 10.0, size=(64, 2, 2, 3)).astype("float32")
    probe = models.linear_head(features, n_classes=4)
    normalised = probe.layers[1](probe.layers[0](features))
    assert abs(float(np.mean(normalised))) < 1e-3
    assert probe.output_shape == (None, 4)
    assert models.parameter_counts(probe)["trainable"] == 12 * 4 + 4


def test_standardization_floors_the_variance_of_a_feature_that_never_varies():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 2.0, size=(50, 6)).astype("float32")
    train[:, 2] = 0.0  # a ReLU that never fires on the training images
    mean, variance = models.standardization_stats(train)
    np.testing.assert_allclose(variance[[0, 1, 3, 4, 5]], train.var(axis=0)[[0, 1, 3, 4, 5]])
    assert variance[2] == pytest.approx(0.01 * train.var(axis=0).mean())
    new = np.array([[5.0, 5.0, 1.0, 5.0, 5.0, 5.0]], dtype="float32")  # it fires here
    layer = models.standardization_layer(mean, variance)
    by_layer = keras.ops.convert_to_numpy(layer(new))
    np.testing.assert_allclose(by_layer, models.standardize(new, mean, variance), atol=1e-5)
    assert abs(by_layer[0, 2]) < 10  # without the floor: 1 / sqrt(1e-6) = 1,000
    assert not layer.trainable and len(layer.weights) == 2


def test_transfer_model_joins_base_and_head(vgg_base):
    model = models.transfer_model(vgg_base, n_classes=10, hidden_units=32)
    assert model.output_shape == (None, 10)
    assert model.predict(np.zeros((2, 32, 32, 3)), verbose=0).shape == (2, 10)


@pytest.mark.parametrize("n_trainable", range(6))
def test_set_trainable_blocks_counts(vgg_base, n_trainable):
    counts = models.set_trainable_blocks(vgg_base, n_trainable)
    expected_trainable = sum(
        int(np.prod(w.shape))
        for layer in vgg_base.layers
        if models.block_of(layer) in models.VGG16_BLOCKS[5 - n_trainable :]
        for w in layer.weights
    )
    assert counts["trainable"] == expected_trainable
    assert counts["total"] == vgg_base.count_params() == 14_714_688
    trainable_layers = {
        layer.name for layer in vgg_base.layers if layer.trainable and layer.weights
    }
    assert all(
        models.block_of(vgg_base.get_layer(n)) in models.VGG16_BLOCKS[5 - n_trainable :]
        for n in trainable_layers
    )


def test_set_trainable_blocks_rejects_out_of_range(vgg_base):
    for bad in (-1, 6):
        with pytest.raises(ValueError, match="n_trainable must be a whole number from 0 to 5"):
            models.set_trainable_blocks(vgg_base, bad)


@pytest.mark.parametrize("bad", [2.5, "2", True, None])
def test_set_trainable_blocks_rejects_non_integers(vgg_base, bad):
    with pytest.raises(ValueError, match="n_trainable must be a whole number from 0 to 5"):
        models.set_trainable_blocks(vgg_base, bad)


def test_set_trainable_blocks_on_a_joined_model_keeps_the_head_trainable(vgg_base):
    joined = models.transfer_model(vgg_base, hidden_units=8)
    head = joined.get_layer("head")
    counts = models.set_trainable_blocks(joined, 1)
    assert head.trainable and all(layer.trainable for layer in head.layers)
    block5 = 3 * (3 * 3 * 512 * 512 + 512)
    assert counts["trainable"] == block5 + head.count_params()
    assert counts["total"] == 14_714_688 + head.count_params()


def test_set_trainable_blocks_keeps_a_frozen_head_layer_frozen(vgg_base):
    head = models.standardized_head(np.random.default_rng(0).random((4, 1, 1, 512)), hidden_units=8)
    joined = keras.Model(vgg_base.input, head(vgg_base.output))
    models.set_trainable_blocks(joined, 5)
    frozen = [layer.name for layer in head.layers if not layer.trainable]
    assert frozen == [head.layers[1].name]  # the standardising BatchNormalization


def test_set_trainable_blocks_rejects_a_model_without_vgg16_blocks():
    with pytest.raises(ValueError, match="no VGG16 block layers"):
        models.set_trainable_blocks(models.small_cnn(), 1)


def test_block_five_only_is_the_known_count(vgg_base):
    counts = models.set_trainable_blocks(vgg_base, 1)
    assert counts["trainable"] == 3 * (3 * 3 * 512 * 512 + 512)


def test_small_cnn_shapes_and_size():
    cnn = models.small_cnn((32, 32, 3), n_classes=10)
    assert cnn.output_shape == (None, 10)
    assert models.parameter_counts(cnn)["trainable"] < 600_000
