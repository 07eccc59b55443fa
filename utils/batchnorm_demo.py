"""A tiny network with BatchNormalization, to watch what freezing does to it.

VGG16 has no BatchNormalization, but ResNet, MobileNet, EfficientNet and most
modern bases do, and their BatchNormalization layers behave differently when
frozen, unfrozen, or called with ``training=False``. These helpers build a
small base with such a layer and read its moving statistics before and after
training, so a chapter can show the mechanics in seconds. Introduced in
chapter 09.
"""

from __future__ import annotations

import keras
import numpy as np

from utils.models import leaf_layers


def tiny_bn_base(
    input_shape: tuple[int, int, int] = (8, 8, 3),
    filters: int = 4,
    momentum: float = 0.99,
    name: str = "bn_base",
) -> keras.Model:
    """Conv2D -> BatchNormalization -> ReLU -> global average pooling.

    The smallest base with a BatchNormalization layer: its moving mean and
    variance start at 0 and 1, like any fresh layer; ``momentum`` is the
    layer's (Keras's default 0.99). Introduced in chapter 09.
    """
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=momentum, name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, outputs, name=name)


def classifier_on(
    base: keras.Model, n_classes: int = 2, training: bool | None = None, name: str = "classifier"
) -> keras.Model:
    """``base`` followed by a softmax Dense layer.

    ``training=None`` calls the base the ordinary way (BatchNormalization
    follows ``fit`` and ``predict``); ``training=False`` calls it as
    ``base(inputs, training=False)``, as the Keras transfer-learning guide
    recommends, which keeps its BatchNormalization layers in inference mode
    even while ``fit`` trains. Introduced in chapter 09.
    """
    inputs = keras.Input(shape=base.input_shape[1:])
    features = base(inputs) if training is None else base(inputs, training=training)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="dense")(features)
    return keras.Model(inputs, outputs, name=name)



def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer of ``model``, nested models included."""
    batchnorm = keras.layers.BatchNormalization
    return [layer for layer in leaf_layers(model) if isinstance(layer, batchnorm)]


def bn_state(model: keras.Model) -> dict[str, dict[str, np.ndarray]]:
    """A copy of each BatchNormalization layer's four variables, by layer name.

    ``{"bn": {"gamma": ..., "beta": ..., "moving_mean": ..., "moving_variance": ...}}``:
    gamma and beta are trainable; the moving mean and variance are not, and are
    updated only when the layer runs in training mode. Introduced in chapter 09.
    """
    state = {}
    for layer in batchnorm_layers(model):
        state[layer.name] = {
            name: np.array(keras.ops.convert_to_numpy(getattr(layer, name)), copy=True)
            for name in ("gamma", "beta", "moving_mean", "moving_variance")
        }
    if not state:
        raise ValueError(f"{model.name} has no BatchNormalization layer")
    return state


def changed(before: dict, after: dict) -> dict[str, bool]:
    """Which variables differ between two :func:`bn_state` pictures (any element, any layer)."""
    names = ("gamma", "beta", "moving_mean", "moving_variance")
    return {
        name: any(not np.array_equal(before[layer][name], after[layer][name]) for layer in before)
        for name in names
    }


def input_statistics(base: keras.Model, x: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per-channel mean and variance of what each BatchNormalization layer receives on ``x``.

    ``{"bn": {"mean": ..., "variance": ...}}``, with ``base`` run in inference
    mode: the statistics a layer would see in its batches if it were
    trained on data like ``x``. ``base`` must be a functional model.
    Introduced in chapter 09.
    """
    x = np.asarray(x, dtype=np.float32)
    stats = {}
    for layer in batchnorm_layers(base):
        probe = keras.Model(base.input, layer.input)
        inputs = keras.ops.convert_to_numpy(probe(x, training=False))
        axes = tuple(range(inputs.ndim - 1))
        stats[layer.name] = {"mean": inputs.mean(axis=axes), "variance": inputs.var(axis=axes)}
    return stats


def set_moving_statistics(base: keras.Model, x: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Set every BatchNormalization layer's moving mean and variance to those of ``x``.

    Layer by layer, from the input up, each layer gets the statistics of its
    own inputs (:func:`input_statistics`): as if the base had been trained on
    data like ``x`` for a long time. Returns :func:`bn_state`.
    Introduced in chapter 09.
    """
    for layer in batchnorm_layers(base):
        stats = input_statistics(base, x)[layer.name]
        layer.moving_mean.assign(stats["mean"])
        layer.moving_variance.assign(stats["variance"])
    return bn_state(base)


def inference_mode_gap(model: keras.Model, x: np.ndarray) -> float:
    """Largest difference between ``model(x, training=True)`` and ``model(x, training=False)``.

    0 means the model computes the same thing in both modes (every
    BatchNormalization layer uses its moving statistics). Calling the model
    with ``training=True`` outside ``fit`` updates the moving statistics of
    BatchNormalization layers that run in training mode, so this function
    restores them afterwards. Introduced in chapter 09.
    """
    saved = [
        (variable, keras.ops.convert_to_numpy(variable))
        for layer in batchnorm_layers(model)
        for variable in (layer.moving_mean, layer.moving_variance)
    ]
    train_mode = keras.ops.convert_to_numpy(model(x, training=True))
    for variable, value in saved:
        variable.assign(value)
    inference = keras.ops.convert_to_numpy(model(x, training=False))
    return float(np.abs(train_mode - inference).max())
