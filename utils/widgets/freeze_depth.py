"""Chapter 03's panel: what trains, and what an epoch costs, at each freeze depth."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt

from utils import network_plots
from utils.validation import whole_number
from utils.widgets.base import Panel, clamp


class FreezeDepthExplorer(Panel):
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
        super().__init__(before=("summary",))
        self.row: dict = {}
        self._watch(self.depth_slider)

    def show(self, n_frozen: int) -> plt.Figure:
        """Look up depth ``n_frozen``: sets ``row`` and ``summary``, returns the chart."""
        n_frozen = whole_number(n_frozen, "frozen blocks")
        depth, self.message.value = clamp(n_frozen, 0, self.max_depth, "Frozen blocks")
        self.row = self.rows[int(depth)]
        total = self.row["trainable"] + self.row["frozen"]
        self.summary.value = (
            f"<b>{int(depth)} frozen block(s)</b>: {self.row['trainable']:,} trainable and "
            f"{self.row['frozen']:,} frozen parameters ({self.row['trainable'] / total:.1%} "
            f"train); about {self.row['s per epoch']:.0f} s per epoch "
            f"({self.row['ms per image']:.1f} ms per image, measured)."
        )
        return network_plots.freeze_depth_chart(self.rows, highlight=int(depth))

    def _values(self) -> tuple:
        return (self.depth_slider.value,)

    def _controls(self) -> widgets.IntSlider:
        return self.depth_slider

    def _alt(self, figure: plt.Figure) -> str:
        return (
            "Bar charts of the parameters (trainable and frozen) and of the seconds per "
            f"epoch at every freeze depth, outlining {self.row['frozen blocks']} frozen "
            "block(s)"
        )
