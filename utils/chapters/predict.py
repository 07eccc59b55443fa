"""From notebook to use: a saved ``.keras`` classifier that answers for image files.

Chapter 08's deployment lesson. :func:`serving_model` joins the preprocessing,
the base and the head into one model, which the chapter saves as one
``.keras`` file; :func:`predict_images` and :func:`predict_image` classify
image files with it (or with a model in memory) and return one
:class:`Prediction` per file. The files are read and checked by
``image_files.load_image`` (its module's docstring lists what a file must be
and how it is converted), the saved model by ``model_files.load_model``.

The model expects Fashion-MNIST-like pictures: a light object on a black
background. A photograph of a shirt on a white table is a different domain,
and the model will answer anyway; validation checks the file, not the content.
Introduced in chapter 08.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utils import data, model_files
from utils.chapters import image_files

# What keras.applications.vgg16.preprocess_input subtracts from the B, G and R channels.
VGG16_BGR_MEANS = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class Prediction:
    """One answer of the classifier for one image file (chapter 08)."""

    path: str
    label: str  # the most probable class name
    class_id: int
    probability: float  # of that class
    probabilities: np.ndarray  # of every class, in the order of the class names

    def __str__(self) -> str:
        return f"{Path(self.path).name}: {self.label} ({self.probability:.1%})"


# --------------------------------------------------------------------------- the model


def serving_model(base, head, input_size: int = 28, name: str = "fashion_classifier"):
    """From raw grey pixels to class probabilities: preprocessing, base, head.

    Input: ``(input_size, input_size, 1)`` grey pixel values 0..255, the format
    of Fashion-MNIST. Inside, the same steps as ``data.make_dataset``: bilinear
    resizing to the base's input size, repeating the grey channel three times,
    and VGG16's preprocessing. For an image whose three channels are equal,
    ``preprocess_input``'s RGB-to-BGR swap changes nothing, so it reduces to
    subtracting VGG16's channel means, which a ``Rescaling`` layer does. Built
    from standard layers only, the model saves to and loads from ``.keras``
    without custom code, and whoever loads it cannot forget the preprocessing.
    ``base`` and ``head`` are copied, without any optimiser state, so the saved
    file holds only what predicting needs. Introduced in chapter 08.
    """
    import keras

    base, head = (model_files.weights_only_copy(model) for model in (base, head))

    height, width = base.input_shape[1:3]
    inputs = keras.Input((input_size, input_size, 1), name="grey_pixels")
    x = keras.layers.Resizing(height, width, interpolation="bilinear", name="resize")(inputs)
    x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    offset = [-mean for mean in VGG16_BGR_MEANS]
    x = keras.layers.Rescaling(1.0, offset=offset, name="vgg16_preprocess")(x)
    outputs = head(base(x))
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------- predicting


def predict_images(
    paths, model, class_names=None, batch_size: int = 64, **image_options
) -> list[Prediction]:
    """Classify image files with a Keras model or a saved ``.keras`` file.

    Every file is read and validated first (``image_files.load_image``, with
    ``image_options`` such as ``min_side`` or ``max_pixels``; the image size
    and channels are the model's input's), so one bad file stops the call
    with a clear error before any prediction is made. ``class_names``, a list
    of strings, defaults to Fashion-MNIST's ten classes; their number must
    match the model's outputs. The model must output probabilities (a softmax
    last): outputs that are negative or do not sum to 1, such as logits, raise
    ``ValueError`` rather than being shown as percentages. Returns one
    :class:`Prediction` per file, in order. Introduced in chapter 08.
    """
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError("predict_images takes a list of paths; use predict_image for one file")
    class_names = _check_class_names(data.CLASS_NAMES if class_names is None else class_names)
    paths = [Path(p) for p in paths]
    if not paths:
        return []
    if isinstance(model, (str, os.PathLike)):
        model = model_files.load_model(model)
    size, channels = _input_format(model)
    n_outputs = model.output_shape[-1]
    if n_outputs != len(class_names):
        raise ValueError(
            f"the model has {n_outputs} outputs but {len(class_names)} class names were given"
        )
    image_options = _image_options(image_options, size, channels)
    pixels = np.stack([image_files.load_image(p, size, channels, **image_options) for p in paths])
    if channels == 1:
        pixels = pixels[..., np.newaxis]
    probabilities = model.predict(pixels.astype(np.float32), batch_size=batch_size, verbose=0)
    _check_probabilities(probabilities, paths)
    results = []
    for path, p in zip(paths, probabilities, strict=True):
        best = int(np.argmax(p))
        results.append(Prediction(str(path), class_names[best], best, float(p[best]), p))
    return results


def _input_format(model) -> tuple[int, int]:
    """(size, channels) of a model that takes square images with 1 or 3 channels."""
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] not in (1, 3) or shape[1] is None:
        raise ValueError(
            f"the model must take square images with 1 or 3 channels, "
            f"(batch, size, size, channels); it takes {shape}"
        )
    return int(shape[1]), int(shape[3])


def _check_class_names(class_names) -> list[str]:
    """``class_names`` as a list of strings, or a TypeError (a single string is not a list)."""
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (Sequence, np.ndarray)):
        raise TypeError(
            "class_names must be a list of strings, one per model output, such as "
            f"['cat', 'dog']; got the {type(class_names).__name__} {class_names!r}"
        )
    names = list(class_names)
    for index, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(
                f"class_names must be strings; class_names[{index}] is the "
                f"{type(name).__name__} {name!r}"
            )
    return names


def _image_options(options: dict, size: int, channels: int) -> dict:
    """``load_image``'s options without ``size``/``channels``, which the model's input sets."""
    for name, value in (("size", size), ("channels", channels)):
        if name in options and options[name] != value:
            raise ValueError(
                f"{name}={options[name]!r} does not fit the model, which takes {size}x{size} "
                f"images with {channels} channel(s); predict_images reads every image at the "
                f"model's input size, so leave {name} out"
            )
    return {k: v for k, v in options.items() if k not in ("size", "channels")}


def _check_probabilities(outputs, paths: list[Path]) -> None:
    """A ValueError unless every row of ``outputs`` is finite, non-negative and sums to 1."""
    outputs = np.asarray(outputs, np.float64)
    sums = outputs.sum(axis=-1)
    fine = np.isfinite(sums) & (outputs >= 0).all(axis=-1) & (np.abs(sums - 1) <= 0.01)
    if fine.all():
        return
    i = int(np.flatnonzero(~fine)[0])
    raise ValueError(
        f"the model's outputs are not probabilities: for {paths[i].name} they range from "
        f"{outputs[i].min():.4g} to {outputs[i].max():.4g} and sum to {sums[i]:.4g}, where "
        "probabilities lie in 0..1 and sum to 1. A model whose last layer has no softmax "
        "outputs logits: end it with keras.layers.Softmax() (or a Dense layer with "
        "activation='softmax') and save it again. NaN outputs mean broken weights."
    )


def predict_image(path: str | os.PathLike, model, class_names=None, **image_options) -> Prediction:
    """Classify one image file; see :func:`predict_images`. Introduced in chapter 08."""
    return predict_images([path], model, class_names, **image_options)[0]
