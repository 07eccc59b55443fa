"""Tests of the precomputed grid panel (utils.widgets.GridPanel), from Python.

tests/test_browser.py shows the same panel answering in headless Chromium with
no kernel (test_grid_panel_answers_without_a_kernel).
"""

import base64
import html
import io
import json
import re

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
from ipywidgets import embed

from utils import widgets


def draw_line(a, b):
    """A small figure and a line of HTML that both name the grid point."""
    figure, ax = plt.subplots(figsize=(1.6, 1.2))
    ax.plot([0, 1], [0, a], color="C0" if b == "x" else "C3")
    ax.set_title(f"{a} {b}", fontsize=7)
    return figure, f"<p>a is {a}, b is {b}</p>"


@pytest.fixture()
def panel():
    return widgets.GridPanel(
        draw_line, {"Alpha": [0.1, 0.2, 0.5], "Beta": ["x", "y"]}, start=(0.2, "y"), dpi=50
    )


def test_every_grid_point_is_drawn_once_and_its_figure_closed():
    calls = []

    def draw(a, b):
        calls.append((a, b))
        return draw_line(a, b)

    before = set(plt.get_fignums())
    panel = widgets.GridPanel(draw, {"Alpha": np.array([0.1, 0.2, 0.5]), "Beta": ["x", "y"]})
    assert sorted(calls) == sorted((a, b) for a in (0.1, 0.2, 0.5) for b in "xy")
    assert set(panel.answers) == set(calls) and len(panel.answers) == 6
    assert set(plt.get_fignums()) == before, "the drawn figures were left open"


IMG = re.compile(r'^<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">$')


def _img(picture):
    """The alternative text and the PNG of a picture widget's ``<img>``."""
    match = IMG.match(picture.value)
    assert match, f"not one <img> with alt and a PNG: {picture.value[:120]}"
    return html.unescape(match[1]), base64.b64decode(match[2])


def test_each_answer_shows_its_caption_picture_and_text(panel):
    caption, picture, text = panel.answers[(0.5, "x")].children
    assert caption.value == "Alpha 0.5, Beta x" and "grid-caption" in caption._dom_classes
    assert isinstance(picture, ipywidgets.HTML) and "grid-picture" in picture._dom_classes
    alt, png = _img(picture)
    assert png.startswith(b"\x89PNG") and panel.pictures[(0.5, "x")] == [png]
    assert alt == panel.alt_texts[(0.5, "x")][0] == "Figure for Alpha 0.5, Beta x: 0.5 x"
    assert text.value == "<p>a is 0.5, b is x</p>"
    images = [png for pngs in panel.pictures.values() for png in pngs]
    assert len(set(images)) == len(images) == 6, "two grid points have the same picture"


def test_every_picture_has_alternative_text_naming_its_point(panel):
    """An <img> without alt fails axe-core's image-alt rule: every picture has one."""
    for point, answer in panel.answers.items():
        alt, _ = _img(answer.children[1])
        assert alt == f"Figure for Alpha {point[0]}, Beta {point[1]}: {point[0]} {point[1]}"
        assert panel.alt_texts[point] == [alt]


def _two_figures(a, b):
    first, _ = draw_line(a, b)
    second, _ = draw_line(b, a)  # no title below
    second.axes[0].set_title("")
    return first, second


@pytest.mark.parametrize(
    "alt, expected",
    [
        (None, ["Figure for A 2, B 3: 2 3", "Figure for A 2, B 3"]),
        (
            "Line",
            ["Line for A 2, B 3 (picture 1 of 2)", "Line for A 2, B 3 (picture 2 of 2)"],
        ),
        (
            lambda a, b: f'A line up to {a}\n & "{b}"',
            ['A line up to 2 & "3" (picture 1 of 2)', 'A line up to 2 & "3" (picture 2 of 2)'],
        ),
    ],
)
def test_alternative_texts_by_default_from_a_text_or_from_a_function(alt, expected):
    panel = widgets.GridPanel(_two_figures, {"A": [2], "B": [3]}, dpi=20, alt=alt)
    assert panel.alt_texts[(2, 3)] == expected
    shown = [_img(picture)[0] for picture in panel.answers[(2, 3)].children[1:]]
    # Quotes and ampersands are escaped in the HTML (IMG reads no raw quote in
    # alt), and read back as the same text.
    assert shown == expected


@pytest.mark.parametrize("alt", ["", "  ", 7, ["a"]])
def test_a_bad_alt_is_rejected(alt):
    with pytest.raises(ValueError, match="alt must be a text or a function"):
        widgets.GridPanel(_draw_one, {"A": [1, 2]}, alt=alt)


def test_an_alt_function_that_returns_no_text_is_rejected_and_closes_the_figures():
    before = set(plt.get_fignums())
    with pytest.raises(ValueError, match=r"alt\(1,\) returned None"):
        widgets.GridPanel(lambda a: draw_line(a, "x"), {"A": [1, 2]}, alt=lambda a: None)
    assert set(plt.get_fignums()) == before


def test_nested_stacks_are_linked_to_the_controls_indices(panel):
    alpha, beta = panel.sliders
    assert [alpha.label, beta.label] == ["0.2", "y"] and [alpha.index, beta.index] == [1, 1]
    assert list(alpha.options) == [("0.1", 0.1), ("0.2", 0.2), ("0.5", 0.5)]
    controls, note, outer = panel.widget.children
    assert list(controls.children) == [alpha, beta]
    assert "snap" in note.value and "takes any value" in note.value
    assert isinstance(outer, ipywidgets.Stack) and outer.selected_index == 1
    assert len(outer.children) == 3 and all(
        isinstance(inner, ipywidgets.Stack)
        and len(inner.children) == 2
        and inner.selected_index == 1
        for inner in outer.children
    )
    # The answer shown first is the start point.
    assert outer.children[1].children[1] is panel.answers[(0.2, "y")]
    for a_index, a in enumerate((0.1, 0.2, 0.5)):
        for b_index, b in enumerate("xy"):
            assert outer.children[a_index].children[b_index] is panel.answers[(a, b)]
    ends = {
        (link.source[0], link.source[1], link.target[0], link.target[1]) for link in panel.links
    }
    expected = {(alpha, "index", outer, "selected_index")} | {
        (beta, "index", inner, "selected_index") for inner in outer.children
    }
    assert len(panel.links) == 4 and ends == expected
    assert {link._model_name for link in panel.links} == {"LinkModel"}  # jslink, not jsdlink


def test_one_control_needs_one_stack_and_one_link():
    panel = widgets.GridPanel(lambda n: f"<b>{n * n}</b>", {"Number": [1, 2, 3, 4]}, start=[3])
    slider, stack = panel.sliders[0], panel.widget.children[2]
    assert [child.children[1].value for child in stack.children] == [
        f"<b>{n * n}</b>" for n in (1, 2, 3, 4)
    ]
    assert stack.selected_index == 2 == slider.index
    assert [(link.source, link.target) for link in panel.links] == [
        ((slider, "index"), (stack, "selected_index"))
    ]
    assert panel.image_bytes == 0


def test_the_embedded_state_holds_the_pictures_and_the_links(panel):
    pictures = [png for pngs in panel.pictures.values() for png in pngs]
    assert panel.image_bytes == sum(len(picture) for picture in pictures) > 0
    state = embed.dependency_state(panel.widget, drop_defaults=False)
    assert panel.state_bytes == len(json.dumps(state))
    assert panel.state_bytes > 4 / 3 * panel.image_bytes  # the PNGs go in as base64
    links = [s for s in state.values() if s["model_name"] == "LinkModel"]
    assert len(links) == 4
    assert not any(s["model_name"] == "ImageModel" for s in state.values())  # no alt there
    saved = [s["state"]["value"] for s in state.values() if s["model_name"] == "HTMLModel"]
    for png in pictures:
        assert sum(base64.b64encode(png).decode() in value for value in saved) == 1
    # The answers share one layout (their pictures another), their texts one style.
    parts = [part for answer in panel.answers.values() for part in (answer, *answer.children)]
    assert len({part.layout.model_id for part in parts}) == 2
    assert len({part.style.model_id for part in parts if hasattr(part, "style")}) == 1
    # Six layouts: the answers', their pictures', the sliders', their row's, the note's
    # and the panel's (a Stack takes the answers' layout).
    assert sum(s["model_name"] == "LayoutModel" for s in state.values()) == 6


def test_the_sliders_make_room_for_long_values_and_wrap():
    short = widgets.GridPanel(_draw_one, {"A": [1, 2], "B": ["x", "y"]})
    long = widgets.GridPanel(_draw_one, {"A": [1, 2], "Head": ["default", "learning rate 0.01"]})
    assert [slider.layout.width for slider in short.sliders] == ["300px", "300px"]
    assert [slider.layout.width for slider in long.sliders] == ["363px", "363px"]
    assert long.widget.children[0].layout.flex_flow == "row wrap"  # one under the other


def test_a_lower_dpi_gives_smaller_pictures():
    big = widgets.GridPanel(draw_line, {"Alpha": [0.1], "Beta": ["x"]}, dpi=100)
    small = widgets.GridPanel(draw_line, {"Alpha": [0.1], "Beta": ["x"]}, dpi=40)
    assert small.image_bytes < big.image_bytes


def _draw_one(*values):
    return f"{values}"


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((None, {"A": [1]}), "draw must be a function"),
        ((_draw_one, {}), "one or two labels"),
        ((_draw_one, [("A", [1])]), "one or two labels"),
        ((_draw_one, {"A": [1], "B": [2], "C": [3]}), "one or two labels"),
        ((_draw_one, {"": [1]}), "needs a label"),
        ((_draw_one, {3: [1]}), "needs a label"),
        ((_draw_one, {"A": []}), "non-empty list"),
        ((_draw_one, {"A": np.array([])}), "non-empty list"),
        ((_draw_one, {"A": "abc"}), "non-empty list"),
        ((_draw_one, {"A": 5}), "non-empty list"),
        ((_draw_one, {"A": [1, 2, 1]}), "repeat"),
        ((_draw_one, {"A": [0.1, 0.10000001]}), "repeat"),  # both read 0.1 on the control
    ],
)
def test_bad_controls_are_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        widgets.GridPanel(*arguments)


@pytest.mark.parametrize("start", [(1,), (1, "x", 3), (4, "x"), (1, "z"), "ab"])
def test_a_start_off_the_grid_is_rejected(start):
    with pytest.raises(ValueError, match="start must be one grid value per control"):
        widgets.GridPanel(_draw_one, {"A": [1, 2], "B": ["x", "y"]}, start=start)


@pytest.mark.parametrize("dpi", [0, 5, 72.5, True, "72"])
def test_a_bad_dpi_is_rejected(dpi):
    with pytest.raises(ValueError, match="dpi"):
        widgets.GridPanel(_draw_one, {"A": [1, 2]}, dpi=dpi)


@pytest.mark.parametrize("answer", [None, 3.5, (), ["<b>a list</b>"], ("<b>ok</b>", 7)])
def test_a_draw_that_returns_something_else_is_rejected(answer):
    with pytest.raises(ValueError, match=r"draw\(1,\) returned .*expected a matplotlib Figure"):
        widgets.GridPanel(lambda _value: answer, {"A": [1, 2]})


def test_a_rejected_answer_closes_its_figures():
    before = set(plt.get_fignums())
    with pytest.raises(ValueError, match="expected a matplotlib Figure"):
        widgets.GridPanel(lambda _value: (plt.figure(), 7), {"A": [1, 2]})
    assert set(plt.get_fignums()) == before


def test_pictures_keep_at_most_the_colours_asked_for_on_white():
    from PIL import Image

    def draw(a):
        figure, ax = plt.subplots(figsize=(1.6, 1.2))
        figure.patch.set_alpha(0.0)  # a transparent background turns white
        ax.imshow(np.arange(400).reshape(20, 20) * a, cmap="viridis")
        return figure

    full = widgets.GridPanel(draw, {"A": [1]}, dpi=60, colors=None)
    few = widgets.GridPanel(draw, {"A": [1]}, dpi=60, colors=16)
    default = widgets.GridPanel(draw, {"A": [1]}, dpi=60)
    assert few.image_bytes < default.image_bytes < full.image_bytes
    picture = Image.open(io.BytesIO(few.pictures[(1,)][0]))
    assert picture.mode == "P" and len(picture.getcolors()) <= 16
    assert picture.convert("RGB").getpixel((0, 0)) == (255, 255, 255)
    assert Image.open(io.BytesIO(full.pictures[(1,)][0])).mode == "RGBA"


@pytest.mark.parametrize("colors", [0, 1, 257, 2.5, True, "256"])
def test_a_bad_number_of_colours_is_rejected(colors):
    with pytest.raises(ValueError, match=r"colors \(or None\) must be"):
        widgets.GridPanel(_draw_one, {"A": [1, 2]}, colors=colors)


def test_with_ipywidgets_7_the_kernel_shows_the_answer_of_the_sliders_point(monkeypatch):
    """Colab keeps ipywidgets 7, which has no Stack: the panel swaps its answer from
    the kernel when a slider moves, and its note says so (tests/test_colab_path.py
    runs chapter 00 with ipywidgets 7 itself)."""
    monkeypatch.setattr(widgets.grid, "IPYWIDGETS_7", True)
    grid = widgets.GridPanel(
        draw_line, {"Alpha": [0.1, 0.2, 0.5], "Beta": ["x", "y"]}, start=(0.2, "y"), dpi=30
    )
    _, note, box = grid.widget.children
    assert not grid.links and not isinstance(box, ipywidgets.Stack)
    assert "the running kernel shows them" in note.value
    assert box.children == (grid.answers[0.2, "y"],)
    grid.sliders[0].index, grid.sliders[1].index = 2, 0
    assert box.children == (grid.answers[0.5, "x"],)
    assert len(grid.answers) == 6 and all(len(p) == 1 for p in grid.pictures.values())
