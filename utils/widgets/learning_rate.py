"""Chapter 02's panel: gradient descent's loss curve at a chosen learning rate."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from utils import learning_curves
from utils.validation import positive_number, whole_number
from utils.widgets.base import Panel, clamp


class LearningRateExplorer(Panel):
    """Choose a learning rate and a number of steps; see gradient descent's loss curve.

    ``curves`` is a :class:`utils.chapters.objective.GradientDescentCurves` (precomputed
    Gram matrix of cached features), so each curve takes well under a second.
    A ``reference_rate`` curve, computed once, is drawn faintly for comparison.
    Learning rates outside [1e-5, 10] and step counts outside [1, max_steps]
    are clamped with a message; a learning rate that is not a positive number
    and a step count that is not a whole number are rejected with ValueError.
    Introduced in chapter 02.
    """

    MIN_RATE = 1e-5
    MAX_RATE = 10.0
    ALT = "Loss curve, log scale: {title}"

    def __init__(
        self,
        curves,
        reference_rate: float | None = None,
        max_steps: int = 300,
        initial_rate: float = 0.03,
        initial_steps: int = 100,
    ):
        from utils.chapters import objective

        if not isinstance(curves, objective.GradientDescentCurves):
            raise ValueError("curves must be a utils.chapters.objective.GradientDescentCurves")
        self.curves = curves
        self.max_steps = whole_number(max_steps, "max_steps", low=1, high=2000)
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
        super().__init__(before=("verdict",))
        self.losses: np.ndarray = np.array([])
        self._watch(self.rate_slider, self.steps_slider)

    def _check(self, learning_rate, steps) -> tuple[float, int, str]:
        learning_rate = positive_number(learning_rate, "the learning rate")
        steps = whole_number(steps, "the number of steps")
        rate, rate_message = clamp(learning_rate, self.MIN_RATE, self.MAX_RATE, "The learning rate")
        count, steps_message = clamp(steps, 1, self.max_steps, "The number of steps")
        return rate, int(count), " ".join(m for m in (rate_message, steps_message) if m)

    def show(self, learning_rate: float, steps: int) -> plt.Figure:
        """Run ``steps`` steps of gradient descent at ``learning_rate``; draw the loss curve."""
        from utils.chapters import objective

        rate, steps, self.message.value = self._check(learning_rate, steps)
        self.losses = self.curves.losses(rate, steps)
        self.verdict.value = objective.describe_curve(self.losses)
        curves = {f"learning rate {rate:.3g}": self.losses}
        styles = {}
        if self.reference is not None and self.reference[0] != rate:
            name = f"reference: learning rate {self.reference[0]:.3g}"
            curves[name] = self.reference[1][:steps]
            styles[name] = {"color": "0.6", "linestyle": "--"}
        return learning_curves.loss_curves(
            curves,
            log_y=True,
            styles=styles,
            title=f"{steps} steps at learning rate {rate:.3g}: J ends at {self.losses[-1]:.3g}",
        )

    def _values(self) -> tuple:
        return self.rate_slider.value, self.steps_slider.value

    def _controls(self) -> widgets.HBox:
        return widgets.HBox([self.rate_slider, self.steps_slider])
