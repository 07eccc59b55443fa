"""VGG16's tables, receptive fields and top (the code chapter 03 writes out, read from the
chapter), and utils.architecture's multiply-adds, table printing and freeze depths."""

import keras
import numpy as np
import pytest
from chapter_code import definitions

from utils import architecture, models

ch03 = definitions("03_inside_vgg16", keras=keras, np=np, models=models)

# Receptive fields of VGG16's layers, as published for the original network
# (e.g. conv5_3: 196 px, pool5: 212 px) and derivable by hand.
VGG16_RECEPTIVE_FIELDS = {
    "block1_conv1": 3, "block1_conv2": 5, "block1_pool": 6,
    "block2_conv1": 10, "block2_conv2": 14, "block2_pool": 16,
    "block3_conv1": 24, "block3_conv2": 32, "block3_conv3": 40, "block3_pool": 44,
    "block4_conv1": 60, "block4_conv2": 76, "block4_conv3": 92, "block4_pool": 100,
    "block5_conv1": 132, "block5_conv2": 164, "block5_conv3": 196, "block5_pool": 212,
}  # fmt: skip


# --- tables -----------------------------------------------------------------------


def test_block_table_adds_up_to_count_params(random_vgg):
    rows = ch03.block_table(random_vgg)
    assert [row["block"] for row in rows] == list(models.VGG16_BLOCKS)
    assert [row["convs"] for row in rows] == [2, 2, 3, 3, 3]
    assert sum(row["parameters"] for row in rows) == random_vgg.count_params() == 14_714_688
    assert rows[0]["parameters"] == (3 * 3 * 3 * 64 + 64) + (3 * 3 * 64 * 64 + 64)
    assert [row["output shape"] for row in rows] == [
        (16, 16, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512), (1, 1, 512)
    ]  # fmt: skip


def test_multiply_adds_of_a_convolution_and_a_block(random_vgg):
    conv = random_vgg.get_layer("block1_conv2")
    assert architecture.multiply_adds(conv) == 32 * 32 * 3 * 3 * 64 * 64
    assert architecture.multiply_adds(random_vgg.get_layer("block1_pool")) == 0
    block1 = ch03.block_table(random_vgg)[0]
    assert block1["multiply-adds"] == 32 * 32 * 9 * (3 * 64 + 64 * 64)
    dense = keras.layers.Dense(5)
    dense.build((None, 7))
    assert architecture.multiply_adds(dense) == 35


def test_layer_table_lists_every_layer(random_vgg):
    rows = ch03.layer_table(random_vgg)
    assert len(rows) == len(random_vgg.layers)
    assert sum(row["parameters"] for row in rows) == random_vgg.count_params()
    conv = next(row for row in rows if row["layer"] == "block2_conv1")
    assert conv["block"] == "block2" and conv["kind"] == "Conv2D"
    assert conv["output shape"] == (16, 16, 128)
    assert rows[0]["block"] == "-"


def test_format_table():
    text = architecture.format_table(
        [{"name": "a", "count": 1234567, "share": 0.5}, {"name": "bb", "count": 7, "share": 1.25}]
    )
    lines = text.splitlines()
    assert lines[0].split() == ["name", "count", "share"]
    assert "1,234,567" in lines[2] and lines[3].endswith("1.25")
    assert len(lines[2]) == len(lines[3])  # numbers right-aligned
    assert "4 x 4 x 256" in architecture.format_table([{"shape": (4, 4, 256)}])
    floats = [{"x": 0.2634}, {"x": 40.06}, {"x": 534.4}]
    assert architecture.format_table(floats).splitlines()[2:] == ["0.26", "40.1", " 534"]
    assert architecture.format_table(floats, decimals={"x": 3}).splitlines()[2] == "  0.263"
    with pytest.raises(ValueError):
        architecture.format_table([])


# --- receptive field ---------------------------------------------------------------


def test_receptive_fields_of_vgg16(random_vgg):
    rows = ch03.receptive_field_growth(ch03.layer_specs(random_vgg))
    assert {row["layer"]: row["receptive field"] for row in rows} == VGG16_RECEPTIVE_FIELDS
    assert rows[-1]["jump"] == 32


def test_receptive_field_growth_by_hand():
    rows = ch03.receptive_field_growth([("a", 3, 1), ("b", 2, 2), ("c", 3, 1), ("d", 7, 4)])
    assert [row["receptive field"] for row in rows] == [3, 4, 8, 20]
    assert [row["jump"] for row in rows] == [1, 2, 2, 8]
    with pytest.raises(ValueError):
        ch03.receptive_field_growth([("bad", 0, 1)])


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
    assert ch03.layer_specs(model) == [("dilated", 5, 1), ("avg", 2, 2), ("strided", 5, 2)]
    rows = ch03.receptive_field_growth(ch03.layer_specs(model))
    assert rows[-1]["receptive field"] == 5 + 1 + 4 * 2


def test_non_square_kernels_are_rejected():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, (1, 3))])
    with pytest.raises(ValueError, match="square"):
        ch03.layer_specs(model)


# --- the top -----------------------------------------------------------------------


def test_top_parameters_match_keras_at_a_small_size():
    model = keras.applications.VGG16(include_top=True, weights=None, input_shape=(64, 64, 3))
    counts = ch03.vgg16_top_parameters(64)
    for name, value in counts.items():
        assert model.get_layer(name).count_params() == value
    assert model.count_params() == 14_714_688 + sum(counts.values())


def test_top_parameters_at_224_give_the_published_total():
    assert 14_714_688 + sum(ch03.vgg16_top_parameters(224).values()) == 138_357_544
    assert ch03.dense_parameters(25088, 4096) == 102_764_544
    with pytest.raises(ValueError):
        ch03.vgg16_top_parameters(16)


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
    rows = architecture.freeze_depth_costs(base, model, batches, epoch_size=100)
    assert [row["frozen blocks"] for row in rows] == [0, 1, 2, 3, 4, 5]
    trainable = [row["trainable"] for row in rows]
    assert trainable == sorted(trainable, reverse=True) and trainable[-1] == 8 * 8 * 2 * 3 + 3
    assert all(row["trainable"] + row["frozen"] == model.count_params() for row in rows)
    assert all(row["s per epoch"] == pytest.approx(row["ms per image"] / 10) for row in rows)
    assert all(layer.trainable for layer in base.layers if models.block_of(layer))  # unfrozen
    with pytest.raises(ValueError):
        architecture.freeze_depth_costs(base, model, [], epoch_size=100)
