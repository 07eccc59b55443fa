"""The precomputed grid panel: every answer drawn in advance, so a static page answers too.

Introduced in chapter 00.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from ipywidgets import embed

from utils.validation import whole_number
from utils.widgets.base import figure_title, img_html

# Colab keeps ipywidgets 7 (its front end does not draw ipywidgets 8), which has no
# Stack and no HTMLStyle: there a GridPanel answers through the running kernel
# instead of jslink, and says so. The book's own environment pins ipywidgets 8.
IPYWIDGETS_7 = not hasattr(widgets, "Stack")
if not IPYWIDGETS_7:
    from ipywidgets.widgets.widget_string import HTMLStyle


def _grid_text(value) -> str:
    """How a grid value reads on a control and in a caption: numbers as ``:g``."""
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    return str(value)


def _read_controls(controls) -> tuple[list[str], list[list]]:
    """The labels of ``controls`` and their grid values, checked."""
    if not isinstance(controls, dict) or len(controls) not in (1, 2):
        raise ValueError(f"controls must map one or two labels to values, got {controls!r}")
    labels, grid = [], []
    for label, values in controls.items():
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"each control needs a label (text), got {label!r}")
        not_a_list = isinstance(values, (str, bytes)) or not hasattr(values, "__len__")
        if not_a_list or not len(values):
            raise ValueError(f"{label}: the grid values must be a non-empty list: {values!r}")
        texts = [_grid_text(value) for value in values]
        if len(set(texts)) < len(texts):
            raise ValueError(f"{label}: the grid values repeat: {texts}")
        labels.append(label)
        grid.append(list(values))
    return labels, grid


def _start_indices(start, grid: list[list]) -> list[int]:
    """The index of each control's start value (its first value if ``start`` is None)."""
    start = [values[0] for values in grid] if start is None else list(start)
    if len(start) != len(grid) or any(
        value not in values for value, values in zip(start, grid, strict=True)
    ):
        raise ValueError(f"start must be one grid value per control, got {start!r}")
    return [values.index(value) for value, values in zip(start, grid, strict=True)]


def _check_options(dpi, alt, colors) -> None:
    whole_number(dpi, "dpi", low=10)
    if alt is not None and not callable(alt) and not (isinstance(alt, str) and alt.strip()):
        raise ValueError(f"alt must be a text or a function of the values, got {alt!r}")
    if colors is not None:
        whole_number(colors, "colors (or None)", low=2, high=256)


class GridPanel:
    """Answers drawn in advance on a grid of control values, so a static page answers too.

    ``controls`` maps one or two labels to their grid values, in order;
    ``draw(*values)`` returns the answer for one grid point: a matplotlib
    Figure (kept as a PNG at ``dpi``, then closed), an HTML string, or a tuple
    of them, shown one under the other below a caption naming the point. Every
    point is drawn here, once. Each control is a ``SelectionSlider`` whose
    ``index`` is linked by ``jslink`` to the ``selected_index`` of a ``Stack``
    of answers (nested for two controls: one inner Stack per value of the
    first), so the page's widget manager answers without a kernel.

    Each picture is an ``<img>`` with alternative text (``ipywidgets.Image``
    cannot carry one), kept in ``alt_texts``: by default the point and the
    figure's title ("Figure for Steps 10: <title>"); ``alt`` replaces the
    start, "Loss curve" giving "Loss curve for Steps 10", or is a function of
    the point's values that returns the whole text. ``pictures`` and
    ``alt_texts`` map each point to its PNGs and their texts. ``image_bytes``
    is the size of the PNGs; ``state_bytes`` the size of the widget state a
    page embeds for the panel (PNGs in base64 included). The PNGs keep at
    most ``colors`` colours (a palette PNG, a half to a third of the bytes of
    full colour for figures like these; ``None`` keeps full colour), and what
    is transparent in a figure turns white. Introduced in chapter 00.
    """

    def __init__(
        self,
        draw,
        controls,
        start: Sequence | None = None,
        dpi: int = 72,
        alt=None,
        colors: int | None = 256,
    ):
        if not callable(draw):
            raise ValueError(f"draw must be a function of one value per control, got {draw!r}")
        self.labels, self.values = _read_controls(controls)
        self.start = _start_indices(start, self.values)
        _check_options(dpi, alt, colors)
        self.draw, self.dpi, self.alt, self.colors = draw, int(dpi), alt, colors
        self.sliders = self._make_sliders()
        self.answers: dict[tuple, widgets.VBox] = {}  # grid point -> its answer
        self.pictures: dict[tuple, list[bytes]] = {}  # grid point -> its PNGs
        self.alt_texts: dict[tuple, list[str]] = {}  # grid point -> their alternative texts
        self.links: list = []
        self.image_bytes = 0
        # One layout and one text style shared by every answer keep the saved state small.
        self._shared = {"layout": widgets.Layout()}
        # ipywidgets 7's HTML takes no HTMLStyle (its style holds only a description width)
        self._text_style = {} if IPYWIDGETS_7 else {"style": HTMLStyle()}
        self._image_layout = widgets.Layout(align_self="flex-start")  # not stretched to the text
        stack = self._switcher() if IPYWIDGETS_7 else self._stack(())
        self.widget = self._panel(stack)
        state = embed.dependency_state(self.widget, drop_defaults=False)  # as a notebook saves it
        self.state_bytes = len(json.dumps(state))

    def _make_sliders(self) -> list[widgets.SelectionSlider]:
        """One slider per control, at its start value."""
        # A slider is 300 px wide; longer values get room to show in full beside it.
        longest = max(len(_grid_text(v)) for values in self.values for v in values)
        slider_layout = widgets.Layout(width=f"{min(480, 300 + 7 * max(0, longest - 9))}px")
        return [
            widgets.SelectionSlider(
                options=[(_grid_text(v), v) for v in values], index=index, description=label,
                style={"description_width": "initial"}, layout=slider_layout,
            )
            for label, values, index in zip(self.labels, self.values, self.start, strict=True)
        ]  # fmt: skip

    def _panel(self, stack) -> widgets.VBox:
        """The sliders, a note that says the answers were drawn in advance, and ``stack``."""
        shape = " x ".join(str(len(values)) for values in self.values)
        how = (
            f"with ipywidgets {widgets.__version__} (Colab's) the running kernel shows them"
            if IPYWIDGETS_7
            else "on the website the controls snap to them"
        )
        note = widgets.HTML(
            f"<i>Precomputed on a grid of {shape} values: {how}; the live panel, in "
            "JupyterLab, takes any value.</i>"
        )
        controls = widgets.HBox(self.sliders, layout=widgets.Layout(flex_flow="row wrap"))
        panel = widgets.VBox([controls, note, stack])
        panel.add_class("grid-panel")
        return panel

    def _stack(self, point: tuple):
        """The answer at ``point``, or a Stack of the answers below it, linked to its control."""
        depth = len(point)
        if depth == len(self.values):
            return self._answer(point)
        stack = widgets.Stack(
            [self._stack((*point, value)) for value in self.values[depth]],
            selected_index=self.start[depth], **self._shared,
        )  # fmt: skip
        self.links.append(widgets.jslink((self.sliders[depth], "index"), (stack, "selected_index")))
        return stack

    def _switcher(self) -> widgets.VBox:
        """ipywidgets 7 has no Stack: every answer is drawn, and the kernel puts the one
        at the sliders' point in a box whenever a slider moves (no static page uses this)."""
        points = [()]
        for values in self.values:
            points = [(*point, value) for point in points for value in values]
        for point in points:
            self._answer(point)
        box = widgets.VBox([self.answers[self._point()]], **self._shared)

        def show(_change):
            box.children = [self.answers[self._point()]]

        for slider in self.sliders:
            slider.observe(show, names="index")
        return box

    def _point(self) -> tuple:
        """The grid point the sliders are at."""
        return tuple(values[s.index] for values, s in zip(self.values, self.sliders, strict=True))

    def _answer(self, point: tuple) -> widgets.VBox:
        drawn = self.draw(*point)
        parts = drawn if isinstance(drawn, tuple) else (drawn,)
        if not parts or not all(isinstance(part, (plt.Figure, str)) for part in parts):
            for part in parts:
                if isinstance(part, plt.Figure):
                    plt.close(part)
            raise ValueError(
                f"draw{point} returned {drawn!r}; expected a matplotlib Figure, an HTML "
                "string, or a tuple of them"
            )
        named = zip(self.labels, point, strict=True)
        caption = ", ".join(f"{label} {_grid_text(v)}" for label, v in named)
        figures = [part for part in parts if isinstance(part, plt.Figure)]
        try:
            texts = [self._alt_text(point, caption, figure) for figure in figures]
        except ValueError:
            for figure in figures:
                plt.close(figure)
            raise
        if len(texts) > 1 and self.alt is not None:
            texts = [f"{text} (picture {i} of {len(texts)})" for i, text in enumerate(texts, 1)]
        self.pictures[point], self.alt_texts[point] = [], texts
        shown = iter(texts)
        header = self._text(caption)
        header.add_class("grid-caption")
        rendered = [
            self._picture(point, part, next(shown)) if isinstance(part, plt.Figure)
            else self._text(part)
            for part in parts
        ]  # fmt: skip
        self.answers[point] = widgets.VBox([header, *rendered], **self._shared)
        return self.answers[point]

    def _alt_text(self, point: tuple, caption: str, figure: plt.Figure) -> str:
        """What the picture of ``figure`` at ``point`` shows, in words."""
        if callable(self.alt):
            text = self.alt(*point)
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"alt{point} returned {text!r}; expected a non-empty text")
            return " ".join(text.split())
        if isinstance(self.alt, str):
            return f"{self.alt.strip()} for {caption}"
        title = figure_title(figure)
        return f"Figure for {caption}: {title}" if title else f"Figure for {caption}"

    def _text(self, part: str) -> widgets.HTML:
        return widgets.HTML(part, **self._text_style, **self._shared)

    def _picture(self, point: tuple, figure: plt.Figure, alt: str) -> widgets.HTML:
        """``figure`` as a PNG in an ``<img>`` with ``alt`` as its alternative text."""
        buffer = io.BytesIO()
        no_software = {"Software": None}  # a few bytes less per image
        figure.savefig(
            buffer, format="png", dpi=self.dpi, bbox_inches="tight", metadata=no_software
        )
        plt.close(figure)
        png = buffer.getvalue()
        if self.colors is not None:  # a palette PNG: a half to a third of the bytes
            from PIL import Image

            drawn = Image.open(io.BytesIO(png)).convert("RGBA")
            white = Image.new("RGBA", drawn.size, "white")  # what is transparent turns white
            white.alpha_composite(drawn)
            buffer = io.BytesIO()
            white.convert("RGB").quantize(self.colors).save(buffer, format="png", optimize=True)
            png = buffer.getvalue()
        self.image_bytes += len(png)
        self.pictures[point].append(png)
        picture = widgets.HTML(img_html(png, alt), **self._text_style, layout=self._image_layout)
        picture.add_class("grid-picture")
        return picture

    def display(self) -> None:
        """Show the controls, the note and the answer at the start values."""
        display(self.widget)
