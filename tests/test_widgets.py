"""Tests of utils.widgets, driven from Python without a browser."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils import data, widgets


@pytest.fixture(scope="module")
def explorer():
    (x_train, y_train), _ = data.load_fashion_mnist()
    return widgets.ClassExplorer(x_train, y_train, max_images=12)


def test_clamp():
    assert widgets.clamp(5, 1, 10, "n") == (5, "")
    value, message = widgets.clamp(50, 1, 10, "n")
    assert value == 10 and "between 1 and 10" in message


def test_show_draws_the_chosen_class(explorer):
    figure = explorer.show("Bag", 6)
    assert len(explorer.shown_indices) == 6
    assert (explorer.labels[explorer.shown_indices] == data.CLASS_NAMES.index("Bag")).all()
    assert "Bag" in figure._suptitle.get_text()


def test_moving_the_controls_changes_the_output(explorer):
    explorer.class_dropdown.value = "Trouser"
    explorer.count_slider.value = 3
    trousers = explorer.shown_indices.copy()
    explorer.class_dropdown.value = "Sandal"
    assert len(trousers) == 3 and not np.array_equal(trousers, explorer.shown_indices)
    assert (explorer.labels[explorer.shown_indices] == data.CLASS_NAMES.index("Sandal")).all()


def test_out_of_range_count_is_clamped_with_a_message(explorer):
    explorer.show("Coat", 500)
    assert len(explorer.shown_indices) == 12
    assert "between 1 and 12" in explorer.message.value
    explorer.show("Coat", 0)
    assert len(explorer.shown_indices) == 1
    explorer.show("Coat", 4)
    assert explorer.message.value == ""


def test_unknown_class_is_rejected(explorer):
    with pytest.raises(ValueError, match="unknown class"):
        explorer.show("Hat", 3)


def test_bad_images_are_rejected():
    with pytest.raises(ValueError):
        widgets.ClassExplorer(np.zeros((3, 28, 28), np.float32), np.zeros(3, np.uint8))
    with pytest.raises(ValueError):
        widgets.ClassExplorer(np.zeros((3, 28, 28), np.uint8), np.array([0, 1, 12]))


def test_the_summary_names_the_training_images_shown(explorer):
    plt.close(explorer.show("Bag", 3))
    indices = ", ".join(str(i) for i in explorer.shown_indices)
    assert explorer.summary.value == (
        f"The first 3 of the 600 training images of class 'Bag': indices {indices}."
    )
    assert explorer.shown_indices.tolist() == np.flatnonzero(explorer.labels == 8)[:3].tolist()
    figure = explorer.show("Bag", 1)
    assert figure._suptitle.get_text() == "1 training image of class 'Bag'"  # not "images"
    assert "The first 1 of the 600" in explorer.summary.value
    plt.close(figure)


def test_a_grid_panel_draws_every_class_and_count_with_their_indices():
    """As chapter 00 draws it: a second explorer, so a displayed one keeps its answer."""
    (x_train, y_train), _ = data.load_fashion_mnist()
    drawer = widgets.ClassExplorer(x_train[:400], y_train[:400])

    def draw(name, count):
        return drawer.show(name, count), drawer.summary.value

    grid = widgets.GridPanel(draw, {"Class": data.CLASS_NAMES[:3], "Images": [1, 5]}, dpi=20)
    assert len(grid.answers) == 6 and len({pngs[0] for pngs in grid.pictures.values()}) == 6
    text = grid.answers[("Trouser", 5)].children[2].value
    trousers = np.flatnonzero(y_train[:400] == 1)[:5]
    assert text.endswith(f"indices {', '.join(map(str, trousers))}.")
    assert grid.alt_texts[("Trouser", 5)] == [
        "Figure for Class Trouser, Images 5: 5 training images of class 'Trouser'"
    ]


def test_the_panel_shows_its_picture_with_alternative_text(explorer):
    """The website draws a panel's picture as an <img>: it needs alt text (axe's image-alt)."""
    before = set(plt.get_fignums())
    explorer.count_slider.value = 4
    explorer.class_dropdown.value = "Sneaker"  # each change redraws
    (output,) = explorer.output.outputs  # the last picture only
    assert output["output_type"] == "display_data"
    bundle = output["data"]
    assert set(bundle) == {"text/html", "text/plain"}
    alt = "Grid of pictures: 4 training images of class 'Sneaker'"
    assert bundle["text/plain"] == alt
    assert bundle["text/html"].startswith(f'<img alt="{alt.replace(chr(39), "&#x27;")}" src=')
    assert "data:image/png;base64,iVBORw0KGgo" in bundle["text/html"]
    assert set(plt.get_fignums()) == before, "the figure was left open"


def test_the_panel_never_captures_into_its_output_widget(explorer, monkeypatch):
    """`with output:` under nbclient can stall a cell until its timeout (utils/widgets/base.py)."""

    def no_capture(self):
        raise AssertionError("the panel captured display() into its Output widget")

    monkeypatch.setattr(type(explorer.output), "__enter__", no_capture)
    monkeypatch.setattr(widgets.base, "display", lambda *objects, **options: None)
    explorer.display()
    explorer.class_dropdown.value = "Bag"
    assert explorer.output.outputs[0]["output_type"] == "display_data"


def test_an_error_in_a_redraw_shows_in_the_panel(explorer, monkeypatch):
    def broken(*values):
        raise ValueError("cannot draw this")

    monkeypatch.setattr(explorer, "show", broken)
    explorer.class_dropdown.value = "Coat"  # a callback: the error must not be lost in a log
    (output,) = explorer.output.outputs
    assert (output["output_type"], output["ename"]) == ("error", "ValueError")
    assert output["evalue"] == "cannot draw this"
    assert "cannot draw this" in output["traceback"][-1]
    monkeypatch.setattr(widgets.base, "display", lambda *objects, **options: None)
    with pytest.raises(ValueError, match="cannot draw this"):  # the first picture: the cell fails
        explorer.display()


def test_figure_bundle_escapes_the_alternative_text():
    figure, _ = plt.subplots(figsize=(1, 1))
    bundle = widgets.figure_bundle(figure, 'a "quoted" <b>text</b> & more')
    assert bundle["text/html"].startswith(
        '<img alt="a &quot;quoted&quot; &lt;b&gt;text&lt;/b&gt; &amp; more" src="data:'
    )
    assert bundle["text/plain"] == 'a "quoted" <b>text</b> & more'
    assert not plt.fignum_exists(figure.number)
