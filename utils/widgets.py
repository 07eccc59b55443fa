"""Interactive panels for the chapters, each usable without a browser.

Every panel keeps its logic in plain methods (``show(...)``) that tests call
directly; the ipywidgets controls only call those methods. Values out of
range are clamped with a message instead of raising inside a callback.
Static pages cannot run Python, so each chapter also shows a static result
beside the panel; a ``GridPanel`` answers there too, from answers drawn in
advance on a grid of values. Introduced in chapter 00.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from ipywidgets import embed

from utils import data, plots

# Colab keeps ipywidgets 7 (its front end does not draw ipywidgets 8), which has no
# Stack and no HTMLStyle: there a GridPanel answers through the running kernel
# instead of jslink, and says so. The book's own environment pins ipywidgets 8.
IPYWIDGETS_7 = not hasattr(widgets, "Stack")
if not IPYWIDGETS_7:
    from ipywidgets.widgets.widget_string import HTMLStyle


def figure_title(figure: plt.Figure) -> str:
    """The first title of ``figure`` (its suptitle, else an axes title), on one line, or ""."""
    titles = [figure.get_suptitle()] + [ax.get_title() for ax in figure.axes]
    return " ".join(next((t for t in titles if t.strip()), "").split())


def show_figure(figure: plt.Figure, alt: str) -> None:
    """Display ``figure`` as a PNG ``<img>`` whose alternative text is ``alt``, then close it.

    ``display(figure)`` gives an ``<img>`` without alt on the website (a
    panel's Output widget draws it), which screen readers cannot describe.
    Introduced in chapter 00.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")  # as the notebook draws it
    plt.close(figure)
    display({"text/html": img_html(buffer.getvalue(), alt), "text/plain": alt}, raw=True)


def img_html(png: bytes, alt: str) -> str:
    """An ``<img>`` that holds ``png`` inline, with ``alt`` as its alternative text."""
    source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="{source}">'


def clamp(value: float, low: float, high: float, name: str) -> tuple[float, str]:
    """``value`` limited to [low, high], and a message when it had to be moved."""
    if value < low or value > high:
        limited = min(max(value, low), high)
        return limited, f"{name} must be between {low} and {high}; using {limited}."
    return value, ""


class ClassExplorer:
    """Pick a class and a number of images; see that many examples of it.

    Below the pictures, ``summary`` names their indices in the training set.
    Introduced in chapter 00.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        class_names: Sequence[str] = data.CLASS_NAMES,
        max_images: int = 20,
    ):
        data.check_images(images)
        data.check_labels(labels, n=len(images))
        self.images, self.labels = images, labels
        self.class_names = list(class_names)
        self.max_images = max_images
        self.class_dropdown = widgets.Dropdown(options=self.class_names, description="Class")
        self.count_slider = widgets.IntSlider(value=10, min=1, max=max_images, description="Images")
        self.message = widgets.HTML()
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.shown_indices: np.ndarray = np.array([], dtype=int)
        for control in (self.class_dropdown, self.count_slider):
            control.observe(lambda _change: self._redraw(), names="value")

    def show(self, class_name: str, count: int) -> plt.Figure:
        """Draw ``count`` examples of ``class_name``; clamps count, rejects unknown classes."""
        if class_name not in self.class_names:
            raise ValueError(f"unknown class {class_name!r}; choose one of {self.class_names}")
        count, self.message.value = clamp(int(count), 1, self.max_images, "The number of images")
        class_id = self.class_names.index(class_name)
        of_class = np.flatnonzero(self.labels == class_id)
        self.shown_indices = of_class[: int(count)]
        n = len(self.shown_indices)
        images = "image" if n == 1 else "images"
        self.summary.value = (
            f"The first {n} of the {len(of_class):,} training images of class "
            f"'{class_name}': indices {', '.join(map(str, self.shown_indices))}."
        )
        return plots.image_grid(
            self.images[self.shown_indices],
            ncols=10,
            title=f"{n} training {images} of class '{class_name}'",
        )

    def _redraw(self) -> None:
        with self.output:
            self.output.clear_output(wait=True)
            figure = self.show(self.class_dropdown.value, self.count_slider.value)
            show_figure(figure, f"Grid of pictures: {figure_title(figure)}")

    def display(self) -> None:
        """Show the controls and the first picture in the notebook."""
        display(
            widgets.VBox(
                [
                    widgets.HBox([self.class_dropdown, self.count_slider]),
                    self.message,
                    self.output,
                    self.summary,
                ]
            )
        )
        self._redraw()


class LearningRateExplorer:
    """Choose a learning rate and a number of steps; see gradient descent's loss curve.

    ``curves`` is a :class:`utils.objective.GradientDescentCurves` (precomputed
    Gram matrix of cached features), so each curve takes well under a second.
    A ``reference_rate`` curve, computed once, is drawn faintly for comparison.
    Learning rates outside [1e-5, 10] and step counts outside [1, max_steps]
    are clamped with a message; a learning rate that is not a positive number
    and a step count that is not a whole number are rejected with ValueError.
    Introduced in chapter 02.
    """

    MIN_RATE = 1e-5
    MAX_RATE = 10.0

    def __init__(
        self,
        curves,
        reference_rate: float | None = None,
        max_steps: int = 300,
        initial_rate: float = 0.03,
        initial_steps: int = 100,
    ):
        from utils import objective

        if not isinstance(curves, objective.GradientDescentCurves):
            raise ValueError("curves must be a utils.objective.GradientDescentCurves")
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)):
            raise ValueError(f"max_steps must be a whole number, got {max_steps!r}")
        if not 1 <= max_steps <= 2000:
            raise ValueError(f"max_steps must be between 1 and 2000, got {max_steps}")
        self.curves = curves
        self.max_steps = int(max_steps)
        self.reference = None
        if reference_rate is not None:
            self.reference = (reference_rate, curves.losses(reference_rate, self.max_steps))
        self.rate_slider = widgets.FloatLogSlider(
            value=initial_rate,
            base=10,
            min=np.log10(self.MIN_RATE),
            max=np.log10(self.MAX_RATE),
            step=0.1,
            description="Learning rate",
            readout_format=".1e",
            continuous_update=False,
        )
        self.steps_slider = widgets.IntSlider(
            value=min(initial_steps, self.max_steps),
            min=1,
            max=self.max_steps,
            description="Steps",
            continuous_update=False,
        )
        self.message = widgets.HTML()
        self.verdict = widgets.HTML()
        self.output = widgets.Output()
        self.losses: np.ndarray = np.array([])
        for control in (self.rate_slider, self.steps_slider):
            control.observe(lambda _change: self._redraw(), names="value")

    def _check(self, learning_rate, steps) -> tuple[float, int, str]:
        number = (int, float, np.number)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, number):
            raise ValueError(f"the learning rate must be a number, got {learning_rate!r}")
        if not np.isfinite(learning_rate) or learning_rate <= 0:
            raise ValueError(f"the learning rate must be a positive number, got {learning_rate!r}")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
            raise ValueError(f"the number of steps must be a whole number, got {steps!r}")
        rate, rate_message = clamp(
            float(learning_rate), self.MIN_RATE, self.MAX_RATE, "The learning rate"
        )
        count, steps_message = clamp(int(steps), 1, self.max_steps, "The number of steps")
        return rate, int(count), " ".join(m for m in (rate_message, steps_message) if m)

    def show(self, learning_rate: float, steps: int) -> plt.Figure:
        """Run ``steps`` steps of gradient descent at ``learning_rate``; draw the loss curve."""
        from utils import objective

        rate, steps, self.message.value = self._check(learning_rate, steps)
        self.losses = self.curves.losses(rate, steps)
        self.verdict.value = objective.describe_curve(self.losses)
        curves = {f"learning rate {rate:.3g}": self.losses}
        styles = {}
        if self.reference is not None and self.reference[0] != rate:
            name = f"reference: learning rate {self.reference[0]:.3g}"
            curves[name] = self.reference[1][:steps]
            styles[name] = {"color": "0.6", "linestyle": "--"}
        return plots.loss_curves(
            curves,
            log_y=True,
            styles=styles,
            title=f"{steps} steps at learning rate {rate:.3g}: J ends at {self.losses[-1]:.3g}",
        )

    def _redraw(self) -> None:
        with self.output:
            self.output.clear_output(wait=True)
            figure = self.show(self.rate_slider.value, self.steps_slider.value)
            show_figure(figure, f"Loss curve, log scale: {figure_title(figure)}")

    def display(self) -> None:
        """Show the controls and the first curve in the notebook."""
        display(
            widgets.VBox(
                [
                    widgets.HBox([self.rate_slider, self.steps_slider]),
                    self.message,
                    self.verdict,
                    self.output,
                ]
            )
        )
        self._redraw()


def _grid_text(value) -> str:
    """How a grid value reads on a control and in a caption: numbers as ``:g``."""
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    return str(value)


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
        if not isinstance(controls, dict) or len(controls) not in (1, 2):
            raise ValueError(f"controls must map one or two labels to values, got {controls!r}")
        self.labels, self.values = [], []
        for label, values in controls.items():
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"each control needs a label (text), got {label!r}")
            not_a_list = isinstance(values, (str, bytes)) or not hasattr(values, "__len__")
            if not_a_list or not len(values):
                raise ValueError(f"{label}: the grid values must be a non-empty list: {values!r}")
            texts = [_grid_text(value) for value in values]
            if len(set(texts)) < len(texts):
                raise ValueError(f"{label}: the grid values repeat: {texts}")
            self.labels.append(label)
            self.values.append(list(values))
        start = [values[0] for values in self.values] if start is None else list(start)
        if len(start) != len(self.values) or any(
            value not in values for value, values in zip(start, self.values, strict=True)
        ):
            raise ValueError(f"start must be one grid value per control, got {start!r}")
        if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or dpi < 10:
            raise ValueError(f"dpi must be a whole number of at least 10, got {dpi!r}")
        if alt is not None and not callable(alt) and not (isinstance(alt, str) and alt.strip()):
            raise ValueError(f"alt must be a text or a function of the values, got {alt!r}")
        if colors is not None and (
            isinstance(colors, bool) or not isinstance(colors, (int, np.integer))
            or not 2 <= colors <= 256
        ):  # fmt: skip
            raise ValueError(f"colors must be a whole number from 2 to 256, or None: {colors!r}")
        self.draw, self.dpi, self.alt, self.colors = draw, int(dpi), alt, colors
        self.start = [values.index(value) for value, values in zip(start, self.values, strict=True)]
        # A slider is 300 px wide; longer values get room to show in full beside it.
        longest = max(len(_grid_text(v)) for values in self.values for v in values)
        slider_layout = widgets.Layout(width=f"{min(480, 300 + 7 * max(0, longest - 9))}px")
        self.sliders = [
            widgets.SelectionSlider(
                options=[(_grid_text(v), v) for v in values], index=index, description=label,
                style={"description_width": "initial"}, layout=slider_layout,
            )
            for label, values, index in zip(self.labels, self.values, self.start, strict=True)
        ]  # fmt: skip
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
        self.widget = widgets.VBox([controls, note, stack])
        self.widget.add_class("grid-panel")
        state = embed.dependency_state(self.widget, drop_defaults=False)  # as a notebook saves it
        self.state_bytes = len(json.dumps(state))

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


class FeatureMapExplorer:
    """Pick an image and a layer; see that layer's strongest feature maps for each base.

    ``bases`` maps a name to a VGG16 base, for example ``{"ImageNet": ...,
    "random": ...}``; each row of the picture shows one base's response to the
    same image. One image through VGG16 at 32 px takes a fraction of a second,
    so nothing is precomputed but the models. An image number out of range is
    clamped with a message; an unknown layer or a number that is not a whole
    number raises ValueError. Introduced in chapter 01.
    """

    def __init__(
        self,
        bases,
        images: np.ndarray,
        labels: np.ndarray,
        image_size: int = 32,
        layers: Sequence[str] | None = None,
        n_maps: int = 8,
    ):
        from utils import inspection

        data.check_images(images)
        data.check_labels(labels, n=len(images))
        if not bases:
            raise ValueError("bases is empty")
        self.images, self.labels = images, labels
        self.image_size = image_size
        self.layers = list(layers or inspection.VGG16_CONV_LAYERS)
        self.n_maps = n_maps
        self.models = {
            name: inspection.activation_model(base, self.layers) for name, base in bases.items()
        }
        self.image_slider = widgets.IntSlider(
            value=0, min=0, max=len(images) - 1, description="Image", continuous_update=False
        )
        self.layer_dropdown = widgets.Dropdown(options=self.layers, description="Layer")
        self.message = widgets.HTML()
        self.output = widgets.Output()
        self.shown: tuple[int, str] | None = None
        self._maps_index: int | None = None
        self._maps: dict[str, dict[str, np.ndarray]] = {}
        for control in (self.image_slider, self.layer_dropdown):
            control.observe(lambda _change: self._redraw(), names="value")

    def maps(self, index: int) -> dict[str, dict[str, np.ndarray]]:
        """``{base name: {layer: (height, width, channels)}}`` for image ``index`` (kept)."""
        from utils import inspection

        if self._maps_index != index:
            picked = self.images[index : index + 1]
            self._maps = {
                name: {layer: maps[0] for layer, maps in inspection.feature_maps(
                    model, picked, self.image_size).items()}
                for name, model in self.models.items()
            }  # fmt: skip
            self._maps_index = index
        return self._maps

    def show(self, index: int, layer: str) -> plt.Figure:
        """Draw the strongest maps of ``layer`` for image ``index``, one row per base."""
        if layer not in self.layers:
            raise ValueError(f"unknown layer {layer!r}; choose one of {self.layers}")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValueError(f"the image number must be a whole number, got {index!r}")
        index, self.message.value = clamp(int(index), 0, len(self.images) - 1, "The image number")
        index = int(index)
        rows = {name: layers[layer] for name, layers in self.maps(index).items()}
        self.shown = (index, layer)
        label = data.CLASS_NAMES[int(self.labels[index])]
        return plots.feature_map_grid(
            rows,
            n_maps=self.n_maps,
            image=self.images[index],
            title=f"Image {index} ({label}): the {self.n_maps} strongest maps of {layer}",
        )

    def strongest(self, index: int, layer: str) -> dict[str, list[int]]:
        """The channels ``show`` draws for image ``index`` and ``layer``, strongest first, by base.

        Leaves the panel as it is (no message, nothing shown).
        """
        from utils import inspection

        if layer not in self.layers:
            raise ValueError(f"unknown layer {layer!r}; choose one of {self.layers}")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValueError(f"the image number must be a whole number, got {index!r}")
        if not 0 <= index < len(self.images):
            raise ValueError(f"the image number must be between 0 and {len(self.images) - 1}")
        return {
            name: [int(c) for c in inspection.strongest_channels(layers[layer], self.n_maps)]
            for name, layers in self.maps(int(index)).items()
        }

    def describe(self, index: int, layer: str) -> str:
        """One line of HTML naming the channels of ``strongest``, as the picture's titles do."""
        channels = self.strongest(index, layer)
        rows = "; ".join(
            f"{name} {', '.join(f'#{c}' for c in found)}" for name, found in channels.items()
        )
        return f"The {self.n_maps} strongest maps of {layer}, strongest first: {rows}."

    def _redraw(self) -> None:
        with self.output:
            self.output.clear_output(wait=True)
            figure = self.show(self.image_slider.value, self.layer_dropdown.value)
            show_figure(
                figure,
                f"{figure_title(figure)}; top row ImageNet weights, bottom row random weights",
            )

    def display(self) -> None:
        """Show the controls and the first picture in the notebook."""
        display(
            widgets.VBox(
                [widgets.HBox([self.image_slider, self.layer_dropdown]), self.message, self.output]
            )
        )
        self._redraw()


class FreezeDepthExplorer:
    """Choose how many VGG16 blocks stay frozen; see what trains and what an epoch costs.

    ``rows`` are the measurements of ``inspection.freeze_depth_costs`` (one per
    depth, 0 to 5), taken once in the chapter; the panel only looks them up,
    so it answers at once. A depth out of range is clamped with a message; one
    that is not a whole number raises ValueError. Introduced in chapter 03.
    """

    def __init__(self, rows: Sequence[dict]):
        depths = [row.get("frozen blocks") for row in rows]
        if depths != list(range(len(rows))) or not rows:
            raise ValueError(f"rows must cover the depths 0, 1, 2, ... in order, got {depths}")
        self.rows = list(rows)
        self.max_depth = len(rows) - 1
        self.depth_slider = widgets.IntSlider(
            value=self.max_depth, min=0, max=self.max_depth, description="Frozen blocks"
        )
        self.message = widgets.HTML()
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.row: dict = {}
        self.depth_slider.observe(lambda _change: self._redraw(), names="value")

    def show(self, n_frozen: int) -> plt.Figure:
        """Look up depth ``n_frozen``: sets ``row`` and ``summary``, returns the chart."""
        if isinstance(n_frozen, bool) or not isinstance(n_frozen, (int, np.integer)):
            raise ValueError(f"frozen blocks must be a whole number, got {n_frozen!r}")
        depth, self.message.value = clamp(int(n_frozen), 0, self.max_depth, "Frozen blocks")
        self.row = self.rows[int(depth)]
        total = self.row["trainable"] + self.row["frozen"]
        self.summary.value = (
            f"<b>{int(depth)} frozen block(s)</b>: {self.row['trainable']:,} trainable and "
            f"{self.row['frozen']:,} frozen parameters ({self.row['trainable'] / total:.1%} "
            f"train); about {self.row['s per epoch']:.0f} s per epoch "
            f"({self.row['ms per image']:.1f} ms per image, measured)."
        )
        return plots.freeze_depth_chart(self.rows, highlight=int(depth))

    def _redraw(self) -> None:
        with self.output:
            self.output.clear_output(wait=True)
            figure = self.show(self.depth_slider.value)
            show_figure(
                figure,
                "Bar charts of the parameters (trainable and frozen) and of the seconds per "
                f"epoch at every freeze depth, outlining {self.row['frozen blocks']} frozen "
                "block(s)",
            )

    def display(self) -> None:
        """Show the slider, the summary and the chart in the notebook."""
        display(widgets.VBox([self.depth_slider, self.message, self.summary, self.output]))
        self._redraw()


class HeadExplorer:
    """Choose the head's hyper-parameters, train it on cached features, see how it learns.

    The head is the recipe's head (Flatten -> Dense(hidden, relu) ->
    [Dropout] -> Dense(10, softmax)), trained with Adam on ``train_features``
    and validated on ``val_features`` after every epoch, on the raw features or
    on standardised ones (each feature minus its training mean, divided by its
    training standard deviation). Each answer also reports the share of *dead*
    hidden units: those whose ReLU outputs zero for every validation example.

    Because the features are cached, an answer takes seconds: in the panel
    (``show``), training stops early, with a message, when the next epoch would
    not leave time to draw the answer within ``time_budget`` seconds. ``train``
    runs all the epochs asked for unless given a budget (static tables use it
    without one). Values out of range are clamped with a message; values of
    the wrong kind (text, NaN, a fractional number of epochs or units) raise
    ValueError. The same settings always give the same result. Introduced in
    chapter 04.
    """

    LIMITS = {
        "hidden_units": (1, 4096),
        "dropout": (0.0, 0.9),
        "learning_rate": (1e-5, 1e-1),
        "epochs": (1, 40),
    }
    UNIT_CHOICES = (16, 32, 64, 128, 256, 512, 1024, 2048)
    DRAW_SECONDS = 0.5  # kept free for drawing the answer

    def __init__(
        self,
        train_features: np.ndarray,
        train_labels: np.ndarray,
        val_features: np.ndarray,
        val_labels: np.ndarray,
        *,
        batch_size: int = 128,
        seed: int = 0,
        time_budget: float = 3.0,
        hidden_units: int = 256,
        dropout: float = 0.0,
        learning_rate: float = 1e-3,
        epochs: int = 10,
    ):
        for name, x, y in (
            ("train", train_features, train_labels),
            ("validation", val_features, val_labels),
        ):
            if not isinstance(x, np.ndarray) or x.ndim < 2 or not len(x):
                raise ValueError(f"{name} features must be a non-empty array (N, ...)")
            data.check_labels(np.asarray(y), n=len(x), name=f"{name} labels")
        if train_features.shape[1:] != val_features.shape[1:]:
            raise ValueError(
                f"train and validation features differ in shape: "
                f"{train_features.shape[1:]} and {val_features.shape[1:]}"
            )
        if time_budget <= self.DRAW_SECONDS:
            raise ValueError(f"time_budget must exceed {self.DRAW_SECONDS} s, got {time_budget}")
        if hidden_units not in self.UNIT_CHOICES:
            raise ValueError(f"hidden_units must start at one of {self.UNIT_CHOICES}")
        self.train_features = train_features.astype(np.float32, copy=False)
        self.train_labels = np.asarray(train_labels)
        self.val_features = val_features.astype(np.float32, copy=False)
        self.val_labels = np.asarray(val_labels)
        mean = self.train_features.mean(axis=0)
        std = self.train_features.std(axis=0)
        std = np.where(std > 0, std, 1.0)  # a constant feature stays constant (zero)
        self._standardised = (
            (self.train_features - mean) / std,
            (self.val_features - mean) / std,
        )
        self.batch_size, self.seed, self.time_budget = int(batch_size), seed, float(time_budget)
        self.result: dict = {}

        style = {"description_width": "110px"}
        self.units_dropdown = widgets.Dropdown(
            options=list(self.UNIT_CHOICES), value=hidden_units, description="Hidden units",
            style=style,
        )  # fmt: skip
        self.dropout_slider = widgets.FloatSlider(
            value=dropout, min=0.0, max=0.9, step=0.05, description="Dropout",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.rate_slider = widgets.FloatLogSlider(
            value=learning_rate, base=10, min=-5, max=-1, step=0.25, description="Learning rate",
            readout_format=".1e", continuous_update=False, style=style,
        )  # fmt: skip
        self.epochs_slider = widgets.IntSlider(
            value=epochs, min=1, max=self.LIMITS["epochs"][1], description="Epochs",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.standardise_box = widgets.Checkbox(value=False, description="Standardise features")
        self.train_button = widgets.Button(description="Train", button_style="primary")
        self.train_button.on_click(lambda _button: self._redraw())
        self.message = widgets.HTML()
        self.summary = widgets.HTML()
        self.output = widgets.Output()

    @staticmethod
    def _whole(value, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        if not np.isfinite(value) or float(value) != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(value)

    @staticmethod
    def _number(value, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return float(value)

    def check(self, hidden_units, dropout, learning_rate, epochs) -> tuple[dict, str]:
        """Validated settings (clamped into range) and the messages about any clamping."""
        raw = {
            "hidden_units": self._whole(hidden_units, "hidden_units"),
            "dropout": self._number(dropout, "dropout"),
            "learning_rate": self._number(learning_rate, "learning_rate"),
            "epochs": self._whole(epochs, "epochs"),
        }
        settings, messages = {}, []
        for name, value in raw.items():
            low, high = self.LIMITS[name]
            settings[name], message = clamp(value, low, high, name.replace("_", " ").capitalize())
            if message:
                messages.append(message)
        settings["hidden_units"] = int(settings["hidden_units"])
        settings["epochs"] = int(settings["epochs"])
        return settings, " ".join(messages)

    def train(
        self,
        hidden_units,
        dropout,
        learning_rate,
        epochs,
        standardise: bool = False,
        time_budget: float | None = None,
    ) -> dict:
        """Train a fresh head; return the settings, accuracies, dead units, history and time.

        With ``time_budget`` (seconds, counted from the call), training stops
        after the epoch that would make the next one end too late;
        ``epochs_run`` says how many ran.
        """
        import time

        import keras

        from utils import models, training

        start = time.perf_counter()
        settings, message = self.check(hidden_units, dropout, learning_rate, epochs)
        if not isinstance(standardise, (bool, np.bool_)):
            raise ValueError(f"standardise must be True or False, got {standardise!r}")
        settings["standardise"] = bool(standardise)
        x_train, x_val = (
            self._standardised if standardise else (self.train_features, self.val_features)
        )
        training.seed_everything(self.seed)
        head = models.recipe_head(
            x_train.shape[1:], hidden_units=settings["hidden_units"], dropout=settings["dropout"]
        )
        head.compile(
            optimizer=keras.optimizers.Adam(settings["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        callbacks = []
        if time_budget is not None:
            epoch_start = [start]

            def on_epoch_begin(_epoch, _logs=None):
                epoch_start[0] = time.perf_counter()

            def on_epoch_end(_epoch, _logs=None):
                now = time.perf_counter()
                if now - start + (now - epoch_start[0]) > time_budget:
                    head.stop_training = True

            callbacks.append(
                keras.callbacks.LambdaCallback(
                    on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end
                )
            )
        history = head.fit(
            x_train,
            self.train_labels,
            epochs=settings["epochs"],
            batch_size=self.batch_size,
            validation_data=(x_val, self.val_labels),
            callbacks=callbacks,
            verbose=0,
        ).history
        epochs_run = len(history["accuracy"])
        if epochs_run < settings["epochs"]:
            stop = (
                f"Stopped after {epochs_run} of {settings['epochs']} epochs "
                f"to answer within {self.time_budget:g} s."
            )
            message = f"{message} {stop}".strip()
        return {
            **settings,
            "epochs_run": epochs_run,
            "train_accuracy": float(history["accuracy"][-1]),
            "val_accuracy": float(history["val_accuracy"][-1]),
            "best_val_accuracy": float(max(history["val_accuracy"])),
            "dead_share": dead_unit_share(head, x_val),
            "history": {key: [float(v) for v in values] for key, values in history.items()},
            "seconds": time.perf_counter() - start,
            "message": message,
        }

    def show(self, hidden_units, dropout, learning_rate, epochs, standardise=False) -> plt.Figure:
        """Train within the time budget and draw training and validation accuracy per epoch."""
        self.result = r = self.train(
            hidden_units,
            dropout,
            learning_rate,
            epochs,
            standardise=standardise,
            time_budget=self.time_budget - self.DRAW_SECONDS,
        )
        self.message.value = r["message"]
        self.summary.value = self.describe(r)
        return self.curves(r)

    @staticmethod
    def describe(r: dict) -> str:
        """The summary line of a result of ``train``: accuracy, dead units, seconds."""
        return (
            f"Validation accuracy {r['val_accuracy']:.3f} after {r['epochs_run']} epochs "
            f"(best {r['best_val_accuracy']:.3f}); {r['dead_share']:.0%} of the "
            f"{r['hidden_units']} hidden units are dead (never active on a validation "
            f"image); {r['seconds']:.1f} s."
        )

    @staticmethod
    def curves(r: dict) -> plt.Figure:
        """Training and validation accuracy per epoch of a result of ``train``."""
        features = "standardised" if r["standardise"] else "raw"
        return plots.accuracy_curves(
            r["history"],
            title=(
                f"{features} features, {r['hidden_units']} units, dropout {r['dropout']:.2f}, "
                f"learning rate {r['learning_rate']:.1e}: validation accuracy "
                f"{r['val_accuracy']:.3f} after {r['epochs_run']} epochs"
            ),
        )

    def _redraw(self) -> None:
        with self.output:
            self.output.clear_output(wait=True)
            figure = self.show(
                self.units_dropdown.value,
                self.dropout_slider.value,
                self.rate_slider.value,
                self.epochs_slider.value,
                self.standardise_box.value,
            )
            show_figure(
                figure, f"Training and validation accuracy per epoch: {figure_title(figure)}"
            )

    def display(self) -> None:
        """Show the controls, train once with their values and show the result."""
        controls = widgets.VBox(
            [
                widgets.HBox([self.units_dropdown, self.dropout_slider]),
                widgets.HBox([self.rate_slider, self.epochs_slider]),
                widgets.HBox([self.standardise_box, self.train_button]),
            ]
        )
        display(widgets.VBox([controls, self.message, self.summary, self.output]))
        self._redraw()


def dead_unit_share(head, inputs: np.ndarray) -> float:
    """Share of the first dense layer's ReLU units that output zero for every one of ``inputs``.

    ``head`` is a head like the recipe's (Flatten -> Dense(relu) -> ...). A
    dead unit passes no gradient, so it no longer learns. Introduced in chapter 04.
    """
    dense = next(layer for layer in head.layers if hasattr(layer, "kernel"))
    kernel, bias = (np.asarray(w) for w in dense.get_weights())
    flat = np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)
    alive = np.zeros(kernel.shape[1], dtype=bool)
    for begin in range(0, len(flat), 256):  # in chunks, to keep memory small
        alive |= ((flat[begin : begin + 256] @ kernel + bias) > 0).any(axis=0)
    return float(1.0 - alive.mean())
