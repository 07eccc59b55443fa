"""Chapter 00's panel: examples of one class of the training set."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from utils import data, plots
from utils.widgets.base import Panel, clamp


class ClassExplorer(Panel):
    """Pick a class and a number of images; see that many examples of it.

    Below the pictures, ``summary`` names their indices in the training set.
    Introduced in chapter 00.
    """

    ALT = "Grid of pictures: {title}"

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
        super().__init__(after=("summary",))
        self.shown_indices: np.ndarray = np.array([], dtype=int)
        self._watch(self.class_dropdown, self.count_slider)

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

    def _values(self) -> tuple:
        return self.class_dropdown.value, self.count_slider.value

    def _controls(self) -> widgets.HBox:
        return widgets.HBox([self.class_dropdown, self.count_slider])
