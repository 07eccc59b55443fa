"""Tests of utils.inspection and the plots chapters 01 and 03 add to utils.plots."""

import keras
import matplotlib
import numpy as np
import pytest

from utils import data, features, inspection, models, plots, weights

matplotlib.use("Agg")

# Receptive fields of VGG16's layers, as published for the original network
# (e.g. conv5_3: 196 px, pool5: 212 px) and derivable by hand.
VGG16_RECEPTIVE_FIELDS = {
    "block1_conv1": 3, "block1_conv2": 5, "block1_pool": 6,
    "block2_conv1": 10, "block2_conv2": 14, "block2_pool": 16,
    "block3_conv1": 24, "block3_conv2": 32, "block3_conv3": 40, "block3_pool": 44,
    "block4_conv1": 60, "block4_conv2": 76, "block4_conv3": 92, "block4_pool": 100,
    "block5_conv1": 132, "block5_conv2": 164, "block5_conv3": 196, "block5_pool": 212,
}  # fmt: skip


@pytest.fixture(scope="module")
def vgg():
    keras.utils.set_random_seed(0)
    return weights.load_vgg16(None, input_shape=(32, 32, 3), verbose=False)


@pytest.fixture(scope="module")
def images():
    (x_train, _), _ = data.load_fashion_mnist()
    return x_train[:12]


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path))
    return tmp_path


# --- filters ------------------------------------------------------------------


def test_first_layer_filters_are_rgb_and_one_per_filter(vgg):
    filters = inspection.first_layer_filters(vgg)
    kernel = vgg.get_layer("block1_conv1").get_weights()[0]
    assert filters.shape == (64, 3, 3, 3)
    # Keras's kernel reads BGR images; the first filter's red plane is input channel 2.
    np.testing.assert_array_equal(filters[0, :, :, 0], kernel[:, :, 2, 0])
    np.testing.assert_array_equal(filters[5, :, :, 2], kernel[:, :, 0, 5])


def test_first_layer_filters_rejects_a_layer_that_does_not_read_rgb(vgg):
    with pytest.raises(ValueError, match="3-channel"):
        inspection.first_layer_filters(vgg, "block1_conv2")


def test_grey_visible_share_extremes():
    same = np.ones((1, 3, 3, 3))
    opponent = np.zeros((1, 3, 3, 3))
    opponent[..., 0], opponent[..., 1] = 1.0, -1.0
    red_only = np.zeros((1, 3, 3, 3))
    red_only[..., 0] = np.arange(9).reshape(3, 3)
    shares = inspection.grey_visible_share(np.concatenate([same, opponent, red_only]))
    np.testing.assert_allclose(shares, [1.0, 0.0, 1 / 3])
    with pytest.raises(ValueError):
        inspection.grey_visible_share(np.ones((2, 3, 3)))


def test_neighbour_correlation_separates_smooth_from_noise():
    ramp = np.broadcast_to(np.add.outer(np.arange(3.0), np.arange(3.0))[..., None], (3, 3, 3))
    noise = np.random.default_rng(0).normal(size=(200, 3, 3, 3))
    assert inspection.neighbour_correlation(ramp[None])[0] > 0.4
    assert abs(inspection.neighbour_correlation(noise).mean()) < 0.1
    with pytest.raises(ValueError):
        inspection.neighbour_correlation(np.ones((1, 1, 3, 3)))


# --- feature maps ---------------------------------------------------------------


def test_feature_maps_have_each_layers_shape(vgg, images):
    model = inspection.activation_model(vgg, ["block1_conv2", "block3_pool"])
    maps = inspection.feature_maps(model, images[:2], 32)
    assert maps["block1_conv2"].shape == (2, 32, 32, 64)
    assert maps["block3_pool"].shape == (2, 4, 4, 256)


def test_feature_maps_match_the_model_run_on_a_prepared_batch(vgg, images):
    model = inspection.activation_model(vgg, ["block2_conv1"])
    batch = keras.applications.vgg16.preprocess_input(data.to_rgb(images[:3], 32))
    expected = keras.Model(vgg.input, vgg.get_layer("block2_conv1").output).predict(
        batch, verbose=0
    )
    actual = inspection.feature_maps(model, images[:3], 32)["block2_conv1"]
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-3)


def test_activation_model_rejects_unknown_or_no_layers(vgg):
    with pytest.raises(ValueError, match="no layer"):
        inspection.activation_model(vgg, ["block9_conv1"])
    with pytest.raises(ValueError, match="empty"):
        inspection.activation_model(vgg, [])


def test_feature_maps_needs_a_dict_model(vgg, images):
    with pytest.raises(ValueError, match="activation_model"):
        inspection.feature_maps(vgg, images[:1], 32)


def test_strongest_channels():
    maps = np.zeros((2, 2, 5))
    maps[..., 3], maps[..., 1], maps[..., 4] = 5.0, 2.0, 2.0
    assert inspection.strongest_channels(maps, 3).tolist() == [3, 1, 4]
    assert len(inspection.strongest_channels(maps, 50)) == 5
    with pytest.raises(ValueError):
        inspection.strongest_channels(maps[None], 2)
    with pytest.raises(ValueError):
        inspection.strongest_channels(maps, 0)


def test_edge_correlation_scores_an_edge_map_above_a_copy_of_the_image(images):
    grey = keras.ops.convert_to_numpy(
        keras.ops.image.resize(images[..., None].astype("float32"), (32, 32))
    )
    rows, cols = np.gradient(grey[..., 0], axis=(1, 2))
    edges = np.hypot(rows, cols)[..., None]
    assert inspection.edge_correlation(edges, images) == pytest.approx(1.0)
    assert inspection.edge_correlation(edges, images) > inspection.edge_correlation(grey, images)
    with pytest.raises(ValueError):
        inspection.edge_correlation(edges[:3], images)
    with pytest.raises(ValueError, match="constant"):
        inspection.edge_correlation(np.zeros_like(edges), images)


# --- features of several blocks ----------------------------------------------------


def test_cut_model_ends_at_the_block_pool(vgg):
    assert inspection.cut_model(vgg, "block4").output_shape == (None, 2, 2, 512)
    with pytest.raises(ValueError):
        inspection.cut_model(vgg, "block6")


def test_block_features_equal_extract_features_and_share_its_cache(vgg, images, private_cache):
    result = inspection.extract_block_features(vgg, images, 32, blocks=("block3", "block5"))
    assert result["block3"].shape == (12, 4, 4, 256) and result["block5"].shape == (12, 1, 1, 512)
    assert len(list((private_cache / "features").glob("*.npy"))) == 2
    cut = inspection.cut_model(vgg, "block3")
    cut.predict = lambda *a, **k: pytest.fail("extract_features recomputed a cached result")
    np.testing.assert_array_equal(features.extract_features(cut, images, 32), result["block3"])


def test_block_features_match_a_separate_forward_pass(vgg, images, private_cache):
    result = inspection.extract_block_features(vgg, images, 32, blocks=("block4",))
    direct = features.extract_features(
        inspection.cut_model(vgg, "block4"), images, 32, use_cache=False
    )
    np.testing.assert_allclose(result["block4"], direct, rtol=1e-5, atol=1e-4)


def test_block_features_compute_only_what_is_missing(vgg, images, private_cache, monkeypatch):
    inspection.extract_block_features(vgg, images, 32, blocks=("block3",))
    built = []
    original = keras.Model

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append(len(model.outputs))
        return model

    monkeypatch.setattr(inspection.keras, "Model", spy)
    inspection.extract_block_features(vgg, images, 32, blocks=("block3", "block4"))
    assert built[-1] == 1  # the multi-output model computed block4 only


def test_block_features_take_one_block_name(vgg, images, private_cache):
    result = inspection.extract_block_features(vgg, images, 32, blocks="block3")
    assert list(result) == ["block3"] and result["block3"].shape == (12, 4, 4, 256)


def test_block_features_check_their_arguments(vgg, images, private_cache):
    with pytest.raises(ValueError, match="expects"):
        inspection.extract_block_features(vgg, images, 64)
    with pytest.raises(ValueError, match="empty"):
        inspection.extract_block_features(vgg, images, 32, blocks=())
    with pytest.raises(ValueError):
        inspection.extract_block_features(vgg, images.astype(np.float32), 32)


def test_damaged_cache_is_recomputed(vgg, images, private_cache, capsys):
    first = inspection.extract_block_features(vgg, images, 32, blocks=("block3",))["block3"]
    for path in (private_cache / "features").glob("*.npy"):
        path.write_bytes(b"not a numpy file")
    again = inspection.extract_block_features(vgg, images, 32, blocks=("block3",))["block3"]
    np.testing.assert_array_equal(first, again)
    assert "damaged" in capsys.readouterr().out


# --- tables -----------------------------------------------------------------------


def test_block_table_adds_up_to_count_params(vgg):
    rows = inspection.block_table(vgg)
    assert [row["block"] for row in rows] == list(models.VGG16_BLOCKS)
    assert [row["convolutions"] for row in rows] == [2, 2, 3, 3, 3]
    assert sum(row["parameters"] for row in rows) == vgg.count_params() == 14_714_688
    assert rows[0]["parameters"] == (3 * 3 * 3 * 64 + 64) + (3 * 3 * 64 * 64 + 64)
    assert [row["output shape"] for row in rows] == [
        (16, 16, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512), (1, 1, 512)
    ]  # fmt: skip


def test_multiply_adds_of_a_convolution_and_a_block(vgg):
    conv = vgg.get_layer("block1_conv2")
    assert inspection.multiply_adds(conv) == 32 * 32 * 3 * 3 * 64 * 64
    assert inspection.multiply_adds(vgg.get_layer("block1_pool")) == 0
    assert inspection.block_table(vgg)[0]["multiply-adds"] == 32 * 32 * 9 * (3 * 64 + 64 * 64)
    dense = keras.layers.Dense(5)
    dense.build((None, 7))
    assert inspection.multiply_adds(dense) == 35


def test_layer_table_lists_every_layer(vgg):
    rows = inspection.layer_table(vgg)
    assert len(rows) == len(vgg.layers)
    assert sum(row["parameters"] for row in rows) == vgg.count_params()
    conv = next(row for row in rows if row["layer"] == "block2_conv1")
    assert conv["block"] == "block2" and conv["kind"] == "Conv2D"
    assert conv["output shape"] == (16, 16, 128)
    assert rows[0]["block"] == "-"


def test_format_table():
    text = inspection.format_table(
        [{"name": "a", "count": 1234567, "share": 0.5}, {"name": "bb", "count": 7, "share": 1.25}]
    )
    lines = text.splitlines()
    assert lines[0].split() == ["name", "count", "share"]
    assert "1,234,567" in lines[2] and lines[3].endswith("1.25")
    assert len(lines[2]) == len(lines[3])  # numbers right-aligned
    assert "4 x 4 x 256" in inspection.format_table([{"shape": (4, 4, 256)}])
    floats = [{"x": 0.2634}, {"x": 40.06}, {"x": 534.4}]
    assert inspection.format_table(floats).splitlines()[2:] == ["0.26", "40.1", " 534"]
    assert inspection.format_table(floats, decimals={"x": 3}).splitlines()[2] == "  0.263"
    with pytest.raises(ValueError):
        inspection.format_table([])


# --- receptive field ---------------------------------------------------------------


def test_receptive_fields_of_vgg16(vgg):
    rows = inspection.receptive_fields(vgg)
    assert {row["layer"]: row["receptive field"] for row in rows} == VGG16_RECEPTIVE_FIELDS
    assert rows[-1]["jump"] == 32


def test_receptive_field_growth_by_hand():
    rows = inspection.receptive_field_growth([("a", 3, 1), ("b", 2, 2), ("c", 3, 1), ("d", 7, 4)])
    assert [row["receptive field"] for row in rows] == [3, 4, 8, 20]
    assert [row["jump"] for row in rows] == [1, 2, 2, 8]
    with pytest.raises(ValueError):
        inspection.receptive_field_growth([("bad", 0, 1)])


def test_layer_specs_handle_dilation_and_stop_at_flatten():
    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Conv2D(2, 3, dilation_rate=2, padding="same", name="dilated"),
            keras.layers.ReLU(name="relu"),
            keras.layers.AveragePooling2D(2, name="avg"),
            keras.layers.Conv2D(2, 5, strides=2, name="strided"),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    assert inspection.layer_specs(model) == [("dilated", 5, 1), ("avg", 2, 2), ("strided", 5, 2)]
    assert inspection.receptive_fields(model)[-1]["receptive field"] == 5 + 1 + 4 * 2


def test_non_square_kernels_are_rejected():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, (1, 3))])
    with pytest.raises(ValueError, match="square"):
        inspection.layer_specs(model)


# --- the top -----------------------------------------------------------------------


def test_top_parameters_match_keras_at_a_small_size():
    model = keras.applications.VGG16(include_top=True, weights=None, input_shape=(64, 64, 3))
    counts = inspection.vgg16_top_parameters(64)
    for name, value in counts.items():
        assert model.get_layer(name).count_params() == value
    assert model.count_params() == 14_714_688 + sum(counts.values())


def test_top_parameters_at_224_give_the_published_total():
    assert 14_714_688 + sum(inspection.vgg16_top_parameters(224).values()) == 138_357_544
    assert inspection.dense_parameters(25088, 4096) == 102_764_544
    with pytest.raises(ValueError):
        inspection.vgg16_top_parameters(16)
    with pytest.raises(ValueError):
        inspection.dense_parameters(0, 3)


# --- freeze depth ------------------------------------------------------------------


def test_freeze_depth_costs_measure_every_depth():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for block in models.VGG16_BLOCKS:
        x = keras.layers.Conv2D(2, 3, padding="same", name=f"{block}_conv1")(x)
    base = keras.Model(inputs, x)
    model = keras.Sequential([base, keras.layers.Flatten(), keras.layers.Dense(3)])
    batches = [(np.zeros((4, 8, 8, 3), "float32"), np.array([0, 1, 2, 0]))] * 2
    rows = inspection.freeze_depth_costs(base, model, batches, epoch_size=100)
    assert [row["frozen blocks"] for row in rows] == [0, 1, 2, 3, 4, 5]
    trainable = [row["trainable"] for row in rows]
    assert trainable == sorted(trainable, reverse=True) and trainable[-1] == 8 * 8 * 2 * 3 + 3
    assert all(row["trainable"] + row["frozen"] == model.count_params() for row in rows)
    assert all(row["s per epoch"] == pytest.approx(row["ms per image"] / 10) for row in rows)
    assert all(layer.trainable for layer in base.layers if models.block_of(layer))  # unfrozen
    with pytest.raises(ValueError):
        inspection.freeze_depth_costs(base, model, [], epoch_size=100)


# --- plots -------------------------------------------------------------------------


def test_filter_grids_draw_one_panel_per_set(vgg):
    filters = inspection.first_layer_filters(vgg)
    figure = plots.filter_grids({"a": filters, "b": filters * 0})  # constant filters draw too
    assert len(figure.subfigs) == 2 and len(figure.subfigs[0].axes) == 64
    with pytest.raises(ValueError):
        plots.filter_grids({"a": filters, "b": filters[:3]})
    with pytest.raises(ValueError):
        plots.filter_grids({})


def test_feature_map_grid(images):
    maps = np.random.default_rng(0).random((4, 4, 16))
    figure = plots.feature_map_grid({"x": maps, "y": maps}, n_maps=5, image=images[0], title="t")
    assert len(figure.axes) == 2 * 6
    assert figure.axes[0].get_title() == "input"
    with pytest.raises(ValueError):
        plots.feature_map_grid({"x": maps[0]})


def test_accuracy_by_block_and_the_chapter_03_charts():
    figure = plots.accuracy_by_block({"a": {"b3": 0.8, "b4": 0.7}, "b": {"b3": 0.6, "b4": 0.5}})
    assert len(figure.axes[0].patches) == 4
    with pytest.raises(ValueError):
        plots.accuracy_by_block({"a": {"b3": 0.8}, "b": {"b4": 0.6}})
    rows = inspection.receptive_field_growth([("a", 3, 1), ("b", 2, 2)])
    assert plots.receptive_field_chart(rows, image_size=32).axes[0].get_lines()
    cost = {"ms per image": 1.0, "s per epoch": 2.0}
    freeze = [{"frozen blocks": d, "trainable": 6 - d, "frozen": d, **cost} for d in range(6)]
    assert len(plots.freeze_depth_chart(freeze, highlight=2).axes) == 2
