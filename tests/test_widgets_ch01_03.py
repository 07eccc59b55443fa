"""Tests of the widgets of chapters 01 and 03, driven from Python without a browser."""

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils import architecture, data, weights, widgets


@pytest.fixture(scope="module")
def explorer():
    (x_train, y_train), _ = data.load_fashion_mnist()
    bases = {}
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        bases[f"random {seed}"] = weights.load_vgg16(None, (32, 32, 3), verbose=False)
    return widgets.FeatureMapExplorer(bases, x_train[:30], y_train[:30], n_maps=4)


def _pictures(figure):
    return [image.get_array().copy() for ax in figure.axes for image in ax.get_images()]


def test_show_draws_one_row_per_base_and_the_input(explorer):
    figure = explorer.show(3, "block2_conv1")
    assert explorer.shown == (3, "block2_conv1")
    assert len(figure.axes) == 2 * (1 + 4)
    assert figure.axes[0].get_title() == "input"
    assert data.CLASS_NAMES[int(explorer.labels[3])] in figure._suptitle.get_text()
    maps = explorer.maps(3)
    assert maps["random 0"]["block2_conv1"].shape == (16, 16, 128)
    plt.close(figure)


def test_moving_the_controls_changes_the_output(explorer):
    explorer.image_slider.value = 1
    explorer.layer_dropdown.value = "block1_conv1"
    first = explorer.shown
    explorer.layer_dropdown.value = "block4_conv3"
    assert first == (1, "block1_conv1") and explorer.shown == (1, "block4_conv3")
    explorer.image_slider.value = 7
    assert explorer.shown == (7, "block4_conv3")
    plt.close("all")


def test_pictures_differ_between_images_and_layers(explorer):
    a = _pictures(explorer.show(0, "block1_conv2"))
    b = _pictures(explorer.show(5, "block1_conv2"))
    c = _pictures(explorer.show(5, "block3_conv1"))
    assert not np.array_equal(a[0], b[0])  # the input image changed
    assert a[1].shape == (32, 32) and c[1].shape == (8, 8)
    plt.close("all")


def test_out_of_range_image_is_clamped_with_a_message(explorer):
    explorer.show(1000, "block1_conv1")
    assert explorer.shown == (29, "block1_conv1")
    assert "between 0 and 29" in explorer.message.value
    explorer.show(-4, "block1_conv1")
    assert explorer.shown[0] == 0
    explorer.show(2, "block1_conv1")
    assert explorer.message.value == ""
    plt.close("all")


def test_bad_values_are_rejected(explorer):
    with pytest.raises(ValueError, match="unknown layer"):
        explorer.show(0, "block6_conv1")
    with pytest.raises(ValueError, match="whole number"):
        explorer.show(2.5, "block1_conv1")
    with pytest.raises(ValueError, match="whole number"):
        explorer.show("3", "block1_conv1")


def test_bad_construction_is_rejected():
    (x_train, y_train), _ = data.load_fashion_mnist()
    with pytest.raises(ValueError):
        widgets.FeatureMapExplorer({}, x_train[:3], y_train[:3])
    with pytest.raises(ValueError):
        widgets.FeatureMapExplorer({"a": None}, x_train[:3].astype(float), y_train[:3])


# --- chapter 03: freeze depth ----------------------------------------------------------


@pytest.fixture()
def freeze_rows():
    return [
        {
            "frozen blocks": depth,
            "trainable": 1000 - 150 * depth,
            "frozen": 150 * depth,
            "ms per image": 60.0 - 10 * depth,
            "s per epoch": 300.0 - 50 * depth,
        }
        for depth in range(6)
    ]


def test_freeze_explorer_looks_up_the_chosen_depth(freeze_rows):
    explorer = widgets.FreezeDepthExplorer(freeze_rows)
    figure = explorer.show(2)
    assert explorer.row is freeze_rows[2]
    assert "700 trainable" in explorer.summary.value and "300 frozen" in explorer.summary.value
    assert "200 s per epoch" in explorer.summary.value
    assert len(figure.axes) == 2
    plt.close("all")


def test_freeze_explorer_slider_changes_the_output(freeze_rows):
    explorer = widgets.FreezeDepthExplorer(freeze_rows)
    explorer.depth_slider.value = 0
    before = explorer.summary.value
    explorer.depth_slider.value = 4
    assert explorer.row["frozen blocks"] == 4 and explorer.summary.value != before
    plt.close("all")


def test_freeze_explorer_clamps_and_rejects(freeze_rows):
    explorer = widgets.FreezeDepthExplorer(freeze_rows)
    explorer.show(9)
    assert explorer.row["frozen blocks"] == 5 and "between 0 and 5" in explorer.message.value
    explorer.show(-1)
    assert explorer.row["frozen blocks"] == 0
    explorer.show(3)
    assert explorer.message.value == ""
    for bad in (1.5, "2", None, True):
        with pytest.raises(ValueError, match="whole number"):
            explorer.show(bad)
    plt.close("all")


def test_freeze_explorer_needs_every_depth_in_order(freeze_rows):
    with pytest.raises(ValueError):
        widgets.FreezeDepthExplorer(freeze_rows[1:])
    with pytest.raises(ValueError):
        widgets.FreezeDepthExplorer([])


def test_freeze_explorer_static_table_is_formatted(freeze_rows):
    text = architecture.format_table(freeze_rows)
    assert len(text.splitlines()) == 2 + 6


def test_strongest_names_the_channels_drawn_and_leaves_the_panel_alone(explorer):
    plt.close(explorer.show(4, "block1_conv1"))
    explorer.message.value = "kept"
    found = explorer.strongest(3, "block2_conv1")
    line = explorer.describe(3, "block2_conv1")
    assert explorer.shown == (4, "block1_conv1") and explorer.message.value == "kept"
    assert list(found) == ["random 0", "random 1"] and all(len(c) == 4 for c in found.values())
    figure = explorer.show(3, "block2_conv1")
    titles = [ax.get_title() for ax in figure.axes]  # 2 rows of input + 4 maps
    for row, channels in enumerate(found.values()):
        assert titles[5 * row + 1 : 5 * row + 5] == [f"#{c}" for c in channels]
    first, second = (", ".join(f"#{c}" for c in channels) for channels in found.values())
    assert line == (
        f"The 4 strongest maps of block2_conv1, strongest first: random 0 {first}; "
        f"random 1 {second}."
    )
    plt.close(figure)


def test_strongest_rejects_what_show_rejects_or_clamps(explorer):
    with pytest.raises(ValueError, match="unknown layer"):
        explorer.strongest(0, "block6_conv1")
    with pytest.raises(ValueError, match="whole number"):
        explorer.strongest(2.5, "block1_conv1")
    with pytest.raises(ValueError, match="between 0 and 29"):
        explorer.strongest(30, "block1_conv1")  # a grid point off the images is a mistake


def test_a_freeze_depth_grid_panel_shows_each_depth(freeze_rows):
    """As chapter 03 draws it: a second explorer, so the displayed one keeps its answer."""
    drawer = widgets.FreezeDepthExplorer(freeze_rows)

    def draw(depth):
        return drawer.show(depth), drawer.summary.value

    grid = widgets.GridPanel(draw, {"Frozen blocks": list(range(6))}, start=[5], dpi=20)
    assert grid.sliders[0].index == 5 and len(grid.answers) == 6
    assert "700 trainable" in grid.answers[(2,)].children[2].value
    assert len({pngs[0] for pngs in grid.pictures.values()}) == 6  # the outline moves


def test_freeze_explorer_shows_its_chart_with_alternative_text(freeze_rows):
    explorer = widgets.FreezeDepthExplorer(freeze_rows)
    explorer.depth_slider.value = 2  # redraws
    (bundle,) = [output["data"] for output in explorer.output.outputs]
    assert bundle["text/plain"].startswith("Bar charts of the parameters")
    assert bundle["text/plain"].endswith("outlining 2 frozen block(s)")
    assert bundle["text/html"].startswith('<img alt="Bar charts of the parameters')
