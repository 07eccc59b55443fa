"""Look inside a trained network: its filters, feature maps and the features of each block.

Everything here *measures* a model that already exists. The only training is
that of a linear probe (a measuring instrument: how much a linear classifier
can read from frozen features). Chapter 01 uses the filters, the feature maps
and the features of several blocks at once; chapters 03, 04 and 09 cut VGG16
after a block. What a network is built of (layer tables, receptive fields) is
written out in chapter 03.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import keras
import numpy as np

from utils import data, features, models

# The 13 convolution layers of VGG16, in order (Keras's names).
VGG16_CONV_LAYERS = tuple(
    f"block{block}_conv{conv}"
    for block, n_conv in zip(range(1, 6), (2, 2, 3, 3, 3), strict=True)
    for conv in range(1, n_conv + 1)
)


# --------------------------------------------------------------------------- filters


def first_layer_filters(base: keras.Model, layer: str = "block1_conv1") -> np.ndarray:
    """The first convolution's filters as (n_filters, height, width, 3) in **RGB** order.

    Keras stores a kernel as (height, width, in_channels, filters), and VGG16's
    input channels are in BGR order (see ``preprocess_input``, chapter 03), so
    the channels are reversed here to show each filter in the colours it
    responds to. Introduced in chapter 01.
    """
    kernel = np.asarray(base.get_layer(layer).get_weights()[0])
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(f"{layer} does not read a 3-channel image (kernel {kernel.shape}).")
    return np.transpose(kernel[:, :, ::-1, :], (3, 0, 1, 2))


# --------------------------------------------------------------------------- feature maps


def activation_model(base: keras.Model, layer_names: Sequence[str]) -> keras.Model:
    """A model with the same input as ``base`` that returns the named layers' outputs.

    Outputs come as a dict ``{layer name: array}``. Introduced in chapter 01.
    """
    names = list(layer_names)
    if not names:
        raise ValueError("layer_names is empty.")
    known = {layer.name for layer in base.layers}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"{base.name} has no layer(s) {unknown}.")
    outputs = {name: base.get_layer(name).output for name in names}
    return keras.Model(base.input, outputs, name=f"{base.name}_activations")


def feature_maps(
    model: keras.Model, images: np.ndarray, image_size: int, preprocess: bool = True
) -> dict[str, np.ndarray]:
    """Run a few 28x28 grey ``images`` through an :func:`activation_model`.

    The images are prepared exactly as for training (resized, repeated to RGB
    and, with ``preprocess=True``, VGG16-preprocessed). Returns ``{layer name:
    (N, height, width, channels)}``. Introduced in chapter 01.
    """
    data.check_images(images)
    batch = data.to_rgb(images, image_size)
    if preprocess:
        batch = keras.applications.vgg16.preprocess_input(batch)
    outputs = model(batch, training=False)
    if not isinstance(outputs, Mapping):
        raise ValueError("model must return a dict of layer outputs: use activation_model.")
    return {name: keras.ops.convert_to_numpy(value) for name, value in outputs.items()}


def strongest_channels(maps: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` channels of one image's maps (H, W, C) with the largest mean.

    Ties keep the lower index first. Introduced in chapter 01.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (height, width, channels) for one image, got {maps.shape}.")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    means = maps.mean(axis=(0, 1))
    return np.argsort(-means, kind="stable")[: min(k, len(means))]


# --------------------------------------------------------------------------- several blocks


def cut_model(base: keras.Model, block: str) -> keras.Model:
    """The part of a VGG16 base up to ``{block}_pool``, as a new model.

    The new model shares the base's layers, and so their weights.
    ``weights.load_vgg16(cut_at=...)`` cuts the same way. Introduced in
    chapter 03.
    """
    if block not in models.VGG16_BLOCKS:
        raise ValueError(f"block must be one of {models.VGG16_BLOCKS}, got {block!r}.")
    output = base.get_layer(f"{block}_pool").output
    return keras.Model(base.inputs, output, name=f"vgg16_{block}")


def extract_block_features(
    base: keras.Model,
    images: np.ndarray,
    image_size: int,
    blocks: str | Iterable[str] = ("block3", "block4", "block5"),
    batch_size: int = 128,
    preprocess: bool = True,
    use_cache: bool = True,
) -> dict[str, np.ndarray]:
    """Features after several blocks of a VGG16 base, from **one** pass over the images.

    ``blocks`` is one block name (``"block3"``) or several. Returns
    ``{block: (N, height, width, channels)}``: ``features.extract_features``
    of the base cut at each block, all from one pass, so the features are
    cached under the keys they have alone, and only the blocks missing from the
    cache are computed. Introduced in chapter 01.
    """
    blocks = [blocks] if isinstance(blocks, str) else list(blocks)
    if not blocks:
        raise ValueError("blocks is empty.")
    cuts = [cut_model(base, block) for block in blocks]
    extracted = features.extract_features(
        cuts, images, image_size, batch_size=batch_size, preprocess=preprocess, use_cache=use_cache
    )
    return dict(zip(blocks, extracted, strict=True))


def linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    epochs: int = 30,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> tuple[float, keras.Model]:
    """Train ``models.linear_head`` on frozen features; return its test accuracy and itself.

    The same recipe as chapter 00's probe (standardised features, one softmax
    layer, Adam), seeded, with one log line at the end. It runs 16 training
    steps per call into TensorFlow (``steps_per_execution``), which saves
    Python's overhead per step and gives the same weights. Introduced in
    chapter 01.
    """
    from utils import training

    training.seed_everything(seed)
    probe = models.linear_head(train_features)
    probe.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=16,
    )
    training.fit(
        probe, train_features, train_labels, epochs=epochs, batch_size=batch_size, log_every=epochs
    )
    return training.accuracy(probe, test_features, test_labels), probe
