"""What every panel shares: figures shown as ``<img>`` with alternative text, the clamping
of values out of range, a time limit for panels that train, and :class:`Panel`, the base
class of the live panels.

Introduced in chapter 00.
"""

from __future__ import annotations

import base64
import html
import io
import time
import traceback

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display


def figure_title(figure: plt.Figure) -> str:
    """The first title of ``figure`` (its suptitle, else an axes title), on one line, or ""."""
    titles = [figure.get_suptitle()] + [ax.get_title() for ax in figure.axes]
    return " ".join(next((t for t in titles if t.strip()), "").split())


def figure_bundle(figure: plt.Figure, alt: str) -> dict[str, str]:
    """``figure`` as a PNG ``<img>`` whose alternative text is ``alt`` (a display bundle).

    The figure is closed. ``display(figure)`` gives an ``<img>`` without alt on
    the website (a panel's Output widget draws it), which screen readers cannot
    describe. Introduced in chapter 00.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")  # as the notebook draws it
    plt.close(figure)
    return {"text/html": img_html(buffer.getvalue(), alt), "text/plain": alt}


def img_html(png: bytes, alt: str) -> str:
    """An ``<img>`` that holds ``png`` inline, with ``alt`` as its alternative text."""
    source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="{source}">'


def error_output(error: BaseException) -> dict:
    """``error`` as a notebook output: what a cell shows for it, traceback included."""
    return {
        "output_type": "error",
        "ename": type(error).__name__,
        "evalue": str(error),
        "traceback": traceback.format_exception(error),
    }


def clamp(value: float, low: float, high: float, name: str) -> tuple[float, str]:
    """``value`` limited to [low, high], and a message when it had to be moved."""
    if value < low or value > high:
        limited = min(max(value, low), high)
        return limited, f"{name} must be between {low} and {high}; using {limited}."
    return value, ""


class Panel:
    """A live panel: its controls, a message line, HTML lines and a picture, one under another.

    ``message`` says when a value had to be clamped; ``output`` holds the
    picture; ``before`` and ``after`` name the HTML lines shown above and
    below it (``before=("summary",)`` makes ``self.summary``). A subclass
    gives ``show(*values)``, which draws the picture, ``_values()``, the
    controls' values in the order ``show`` takes them, ``_controls()``, the
    controls as one widget (made when the panel is displayed), and the
    picture's alternative text: ``ALT``, in which ``{title}`` stands for the
    figure's title, or ``_alt(figure)``. ``_watch(*controls)`` redraws
    whenever one of their values changes. Introduced in chapter 00.
    """

    ALT = "{title}"

    def __init__(self, before: tuple[str, ...] = (), after: tuple[str, ...] = ()):
        self.message = widgets.HTML()
        for name in (*before, *after):
            setattr(self, name, widgets.HTML())
        self.output = widgets.Output()
        self._lines = [self.message, *(getattr(self, name) for name in before), self.output]
        self._lines += [getattr(self, name) for name in after]

    def show(self, *values) -> plt.Figure:
        """Draw the answer at ``values`` (clamped, with a message, where out of range)."""
        raise NotImplementedError

    def _values(self) -> tuple:
        """The controls' values, in the order ``show`` takes them."""
        raise NotImplementedError

    def _controls(self) -> widgets.Widget:
        """The controls, as one widget above the panel's lines."""
        raise NotImplementedError

    def _alt(self, figure: plt.Figure) -> str:
        """The alternative text of the picture of ``figure``."""
        return self.ALT.format(title=figure_title(figure))

    def _watch(self, *controls: widgets.Widget) -> None:
        for control in controls:
            control.observe(lambda _change: self._redraw(), names="value")

    def _draw(self) -> None:
        """Put the picture for the controls' values in the panel, replacing the last one."""
        figure = self.show(*self._values())
        bundle = figure_bundle(figure, self._alt(figure))
        # Set in one step rather than displayed under `with self.output:`. Under
        # nbclient (nbconvert, papermill, `make run`) such a capture makes the
        # client send on the kernel's shell channel, which can leave it blind to
        # the cell's reply until the cell's timeout (900 s in `make bench`).
        self.output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)

    def _redraw(self) -> None:
        """Redraw after a control changed; an error shows in the panel, as in a cell."""
        try:
            self._draw()
        except Exception as error:  # shown to the reader (a callback's error goes to a log)
            self.output.outputs = (error_output(error),)

    def display(self) -> None:
        """Show the controls, the message, the panel's lines and its first picture.

        An error in drawing the first picture is raised, so the cell fails.
        """
        display(widgets.VBox([self._controls(), *self._lines]))
        self._draw()


def time_limit(model, start: float, budget: float):
    """A callback that stops ``model`` after the epoch that would make the next one end more
    than ``budget`` seconds after ``start``: a panel that trains answers in time.

    The next epoch is estimated from this one without its one-time costs: the first training
    and the first validation batch of a new model also build TensorFlow's step functions
    (close to a second), so each counts as long as the typical batch after it. Batches are
    timed from one ``*_batch_begin`` to the next: a ``*_batch_end`` hook would make Keras
    wait for every batch's logs.
    """
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()
            self.begins = {"train": [], "test": []}  # when each batch began
            self.train_end = None

        def on_train_batch_begin(self, batch, logs=None):
            self.begins["train"].append(time.perf_counter())

        def on_test_begin(self, logs=None):
            self.train_end = time.perf_counter()

        def on_test_batch_begin(self, batch, logs=None):
            self.begins["test"].append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            ends = {"train": self.train_end or now, "test": now}
            one_time = 0.0
            for kind, begins in self.begins.items():
                seconds = np.diff([*begins, ends[kind]])
                if len(seconds) > 1:  # the first batch, less a typical one
                    one_time += max(0.0, seconds[0] - float(np.median(seconds[1:])))
            if now - start + (now - self.epoch_start - one_time) > budget:
                model.stop_training = True

    return TimeLimit()
