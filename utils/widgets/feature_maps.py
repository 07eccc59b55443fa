"""Chapter 01's panel: the strongest feature maps of a layer, for each base."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from utils import data, network_plots
from utils.validation import whole_number
from utils.widgets.base import Panel, clamp


class FeatureMapExplorer(Panel):
    """Pick an image and a layer; see that layer's strongest feature maps for each base.

    ``bases`` maps a name to a VGG16 base, for example ``{"ImageNet": ...,
    "random": ...}``; each row of the picture shows one base's response to the
    same image. One image through VGG16 at 32 px takes a fraction of a second,
    so nothing is precomputed but the models. An image number out of range is
    clamped with a message; an unknown layer or a number that is not a whole
    number raises ValueError. Introduced in chapter 01.
    """

    ALT = "{title}; top row ImageNet weights, bottom row random weights"

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
        super().__init__()
        self.shown: tuple[int, str] | None = None
        self._maps_index: int | None = None
        self._maps: dict[str, dict[str, np.ndarray]] = {}
        self._watch(self.image_slider, self.layer_dropdown)

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

    def _check(self, index, layer) -> None:
        """Reject an unknown layer, and an image number that is not a whole number."""
        if layer not in self.layers:
            raise ValueError(f"unknown layer {layer!r}; choose one of {self.layers}")
        whole_number(index, "the image number")

    def show(self, index: int, layer: str) -> plt.Figure:
        """Draw the strongest maps of ``layer`` for image ``index``, one row per base."""
        self._check(index, layer)
        index, self.message.value = clamp(int(index), 0, len(self.images) - 1, "The image number")
        index = int(index)
        rows = {name: layers[layer] for name, layers in self.maps(index).items()}
        self.shown = (index, layer)
        label = data.CLASS_NAMES[int(self.labels[index])]
        return network_plots.feature_map_grid(
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

        self._check(index, layer)
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

    def _values(self) -> tuple:
        return self.image_slider.value, self.layer_dropdown.value

    def _controls(self) -> widgets.HBox:
        return widgets.HBox([self.image_slider, self.layer_dropdown])
