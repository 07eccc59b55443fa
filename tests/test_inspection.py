"""Tests of utils.inspection and the plots chapters 01 and 03 add to utils.plots.

Chapter 03's tables and utils.architecture are tested in tests/test_architecture.py.
"""

import keras
import numpy as np
import pytest

from utils import data, features, inspection, network_plots


@pytest.fixture(scope="module")
def images():
    (x_train, _), _ = data.load_fashion_mnist()
    return x_train[:12]


# --- filters ------------------------------------------------------------------


def test_first_layer_filters_are_rgb_and_one_per_filter(random_vgg):
    filters = inspection.first_layer_filters(random_vgg)
    kernel = random_vgg.get_layer("block1_conv1").get_weights()[0]
    assert filters.shape == (64, 3, 3, 3)
    # Keras's kernel reads BGR images; the first filter's red plane is input channel 2.
    np.testing.assert_array_equal(filters[0, :, :, 0], kernel[:, :, 2, 0])
    np.testing.assert_array_equal(filters[5, :, :, 2], kernel[:, :, 0, 5])


def test_first_layer_filters_rejects_a_layer_that_does_not_read_rgb(random_vgg):
    with pytest.raises(ValueError, match="3-channel"):
        inspection.first_layer_filters(random_vgg, "block1_conv2")


# --- feature maps ---------------------------------------------------------------


def test_feature_maps_have_each_layers_shape(random_vgg, images):
    model = inspection.activation_model(random_vgg, ["block1_conv2", "block3_pool"])
    maps = inspection.feature_maps(model, images[:2], 32)
    assert maps["block1_conv2"].shape == (2, 32, 32, 64)
    assert maps["block3_pool"].shape == (2, 4, 4, 256)


def test_feature_maps_match_the_model_run_on_a_prepared_batch(random_vgg, images):
    model = inspection.activation_model(random_vgg, ["block2_conv1"])
    batch = keras.applications.vgg16.preprocess_input(data.to_rgb(images[:3], 32))
    expected = keras.Model(random_vgg.input, random_vgg.get_layer("block2_conv1").output).predict(
        batch, verbose=0
    )
    actual = inspection.feature_maps(model, images[:3], 32)["block2_conv1"]
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-3)


def test_activation_model_rejects_unknown_or_no_layers(random_vgg):
    with pytest.raises(ValueError, match="no layer"):
        inspection.activation_model(random_vgg, ["block9_conv1"])
    with pytest.raises(ValueError, match="empty"):
        inspection.activation_model(random_vgg, [])


def test_feature_maps_needs_a_dict_model(random_vgg, images):
    with pytest.raises(ValueError, match="activation_model"):
        inspection.feature_maps(random_vgg, images[:1], 32)


def test_strongest_channels():
    maps = np.zeros((2, 2, 5))
    maps[..., 3], maps[..., 1], maps[..., 4] = 5.0, 2.0, 2.0
    assert inspection.strongest_channels(maps, 3).tolist() == [3, 1, 4]
    assert len(inspection.strongest_channels(maps, 50)) == 5
    with pytest.raises(ValueError):
        inspection.strongest_channels(maps[None], 2)
    with pytest.raises(ValueError):
        inspection.strongest_channels(maps, 0)


# --- features of several blocks ----------------------------------------------------


def test_cut_model_ends_at_the_block_pool(random_vgg):
    assert inspection.cut_model(random_vgg, "block4").output_shape == (None, 2, 2, 512)
    with pytest.raises(ValueError):
        inspection.cut_model(random_vgg, "block6")


def test_block_features_equal_extract_features_and_share_its_cache(
    random_vgg, images, private_cache
):
    result = inspection.extract_block_features(random_vgg, images, 32, blocks=("block3", "block5"))
    assert result["block3"].shape == (12, 4, 4, 256) and result["block5"].shape == (12, 1, 1, 512)
    assert len(list((private_cache / "features").glob("*.npy"))) == 2
    cut = inspection.cut_model(random_vgg, "block3")
    cut.predict = lambda *a, **k: pytest.fail("extract_features recomputed a cached result")
    np.testing.assert_array_equal(features.extract_features(cut, images, 32), result["block3"])


def test_block_features_match_a_separate_forward_pass(random_vgg, images, private_cache):
    result = inspection.extract_block_features(random_vgg, images, 32, blocks=("block4",))
    direct = features.extract_features(
        inspection.cut_model(random_vgg, "block4"), images, 32, use_cache=False
    )
    np.testing.assert_array_equal(result["block4"], direct)


def test_block_features_compute_only_what_is_missing(
    random_vgg, images, private_cache, monkeypatch
):
    inspection.extract_block_features(random_vgg, images, 32, blocks=("block3",))
    built = []
    original = keras.Model

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append(len(model.outputs))
        return model

    monkeypatch.setattr(inspection.keras, "Model", spy)
    inspection.extract_block_features(random_vgg, images, 32, blocks=("block3", "block4"))
    assert built[-1] == 1  # the multi-output model computed block4 only


def test_block_features_take_one_block_name(random_vgg, images, private_cache):
    result = inspection.extract_block_features(random_vgg, images, 32, blocks="block3")
    assert list(result) == ["block3"] and result["block3"].shape == (12, 4, 4, 256)


def test_block_features_check_their_arguments(random_vgg, images, private_cache):
    with pytest.raises(ValueError, match="expects"):
        inspection.extract_block_features(random_vgg, images, 64)
    with pytest.raises(ValueError, match="empty"):
        inspection.extract_block_features(random_vgg, images, 32, blocks=())
    with pytest.raises(ValueError):
        inspection.extract_block_features(random_vgg, images.astype(np.float32), 32)


def test_damaged_cache_is_recomputed(random_vgg, images, private_cache, capsys):
    first = inspection.extract_block_features(random_vgg, images, 32, blocks=("block3",))["block3"]
    for path in (private_cache / "features").glob("*.npy"):
        path.write_bytes(b"not a numpy file")
    again = inspection.extract_block_features(random_vgg, images, 32, blocks=("block3",))["block3"]
    np.testing.assert_array_equal(first, again)
    assert "damaged" in capsys.readouterr().out


# --- plots -------------------------------------------------------------------------


def test_filter_grids_draw_one_panel_per_set(random_vgg):
    filters = inspection.first_layer_filters(random_vgg)
    # constant filters draw too
    figure = network_plots.filter_grids({"a": filters, "b": filters * 0})
    assert len(figure.subfigs) == 2 and len(figure.subfigs[0].axes) == 64
    with pytest.raises(ValueError):
        network_plots.filter_grids({"a": filters, "b": filters[:3]})
    with pytest.raises(ValueError):
        network_plots.filter_grids({})


def test_feature_map_grid(images):
    maps = np.random.default_rng(0).random((4, 4, 16))
    figure = network_plots.feature_map_grid(
        {"x": maps, "y": maps}, n_maps=5, image=images[0], title="t"
    )
    assert len(figure.axes) == 2 * 6
    assert figure.axes[0].get_title() == "input"
    with pytest.raises(ValueError):
        network_plots.feature_map_grid({"x": maps[0]})


def test_accuracy_by_block_and_the_chapter_03_charts():
    accuracy = {"a": {"b3": 0.8, "b4": 0.7}, "b": {"b3": 0.6, "b4": 0.5}}
    figure = network_plots.accuracy_by_block(accuracy)
    assert len(figure.axes[0].patches) == 4
    with pytest.raises(ValueError):
        network_plots.accuracy_by_block({"a": {"b3": 0.8}, "b": {"b4": 0.6}})
    rows = [  # chapter 03's receptive_field_growth([("a", 3, 1), ("b", 2, 2)])
        {"layer": "a", "kernel": 3, "stride": 1, "jump": 1, "receptive field": 3},
        {"layer": "b", "kernel": 2, "stride": 2, "jump": 2, "receptive field": 4},
    ]
    assert network_plots.receptive_field_chart(rows, image_size=32).axes[0].get_lines()
    cost = {"ms per image": 1.0, "s per epoch": 2.0}
    freeze = [{"frozen blocks": d, "trainable": 6 - d, "frozen": d, **cost} for d in range(6)]
    assert len(network_plots.freeze_depth_chart(freeze, highlight=2).axes) == 2
