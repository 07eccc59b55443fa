"""What every panel shares: figures shown as ``<img>`` with alternative text, the clamping
of values out of range, and the :class:`Panel` base class of the live panels.

Introduced in chapter 00.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib.pyplot as plt
from IPython.display import display


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
