"""Fine-tuning helpers: train the top of VGG16 on cached features, and watch its weights move.

When the lower blocks of VGG16 are frozen, their output for a given image never
changes, so it can be computed once (``features.extract_features``) and the
rest of the network trained on it: :func:`base_part` runs VGG16 between two
cuts, :func:`block_on_features` gives one block a copy of its ImageNet weights.

The other helpers measure what training did to the pretrained weights (bit for
bit, or as a relative change per block), train a compiled model again from a
new start (:func:`restart`, :func:`start_over`), and name the file a chapter
model is saved to in the cache folder (:func:`model_path`). Introduced in
chapter 05, used again in chapters 06 and 07.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from utils.assets import cache_dir
from utils.models import VGG16_BLOCKS, leaf_layers


def _layer_index(base: keras.Model, name: str) -> int:
    names = [layer.name for layer in base.layers]
    if name not in names:
        raise ValueError(f"{base.name} has no layer {name!r}; its layers are {names}")
    return names.index(name)


def base_part(
    base: keras.Model, after: str = "block3_pool", until: str | None = None
) -> keras.Model:
    """The layers of ``base`` after layer ``after`` up to and including ``until``.

    The returned model takes the output of ``after`` (for example cached
    block3 features) as input and shares its layers, and so its weights, with
    ``base``. ``until=None`` runs to the end of the base. Introduced in chapter 06.
    """
    start = _layer_index(base, after)
    stop = len(base.layers) - 1 if until is None else _layer_index(base, until)
    if stop <= start:
        raise ValueError(
            f"{after!r} is the last layer of {base.name}: there is nothing after it to run"
            if until is None
            else f"until={until!r} must come after after={after!r} in {base.name}"
        )
    inputs = keras.Input(shape=base.layers[start].output.shape[1:], name=f"{after}_features")
    x = inputs
    for layer in base.layers[start + 1 : stop + 1]:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{base.name}_after_{after}")


def block_on_features(vgg, block, input_shape):
    """One VGG16 block as a model that reads cached features.

    The layers are new copies holding the block's ImageNet weights, so every
    run starts from the same pretrained block. Introduced in chapter 05.
    """
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for layer in vgg.layers:
        if layer.name.startswith(f"{block}_"):
            copy = layer.__class__.from_config(layer.get_config())
            x = copy(x)
            copy.set_weights(layer.get_weights())
    return keras.Model(inputs, x, name=block)


# --------------------------------------------------------------------------- weights


def snapshot(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """A copy of every layer's weights, by layer name: the "before" picture.

    Nested models (the base inside a full model) are walked through. Introduced
    in chapter 05.
    """
    saved = {}
    for layer in leaf_layers(model):
        if not layer.weights:
            continue
        saved[layer.name] = [np.array(w, copy=True) for w in layer.get_weights()]
    return saved


def restore(model: keras.Model, saved: dict[str, list[np.ndarray]]) -> None:
    """Put the weights of a :func:`snapshot` back into the layers of ``model`` it names.

    Introduced in chapter 06.
    """
    layers = {layer.name: layer for layer in leaf_layers(model)}
    missing = sorted(set(saved) - set(layers))
    if missing:
        raise ValueError(f"layers {missing} of the snapshot are not in {model.name}")
    for name, weights in saved.items():
        layers[name].set_weights(weights)


def unchanged_layers(model: keras.Model, before: dict[str, list[np.ndarray]]) -> dict[str, bool]:
    """For each layer in ``before``: are its weights now bit-identical to the snapshot?

    Introduced in chapter 05.
    """
    now = snapshot(model)
    missing = sorted(set(before) - set(now))
    if missing:
        raise ValueError(f"layers {missing} of the snapshot are not in {model.name}")
    return {
        name: all(np.array_equal(a, b) for a, b in zip(now[name], weights, strict=True))
        for name, weights in before.items()
    }


def relative_change_by_block(
    model: keras.Model, before: dict[str, list[np.ndarray]]
) -> dict[str, float]:
    """How far each VGG16 block's weights moved: ||W - W0|| / ||W0|| over the whole block.

    ``W0`` are the weights in ``before`` (a :func:`snapshot`, for example of the
    ImageNet base), ``W`` the current ones; kernels and biases of all the
    block's layers count together. 0 means untouched; 1 means the change is as
    large as the weights themselves. Introduced in chapter 05.
    """
    now = snapshot(model)
    changes = {}
    for block in VGG16_BLOCKS:
        names = [name for name in before if name.split("_")[0] == block]
        if not names:
            continue
        diff = sum(
            float(np.sum((a.astype(np.float64) - b) ** 2))
            for name in names
            for a, b in zip(now[name], before[name], strict=True)
        )
        norm = sum(float(np.sum(b.astype(np.float64) ** 2)) for name in names for b in before[name])
        changes[block] = float(np.sqrt(diff / norm))
    return changes


# --------------------------------------------------------------------------- optimiser


def restart(optimizer: keras.optimizers.Optimizer, learning_rate: float | None = None):
    """Put an optimiser back in its initial state, to train again as if it were new.

    Step count and per-weight state (Adam's moment estimates, SGD's momentum)
    go back to zero, and ``learning_rate`` (if given) replaces the learning
    rate. Reusing one optimiser for several runs over the *same* weights saves
    allocating its state again each time (for Adam, two numbers per trained
    weight). Works for optimisers whose state starts at zero, such as Adam and
    SGD. Introduced in chapter 05.
    """
    rate = float(optimizer.learning_rate) if learning_rate is None else float(learning_rate)
    for variable in optimizer.variables:
        variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
    optimizer.learning_rate = rate
    return optimizer


def start_over(model: keras.Model, fresh: keras.Model, learning_rate: float | None = None):
    """Train ``model`` again from ``fresh``'s start, without compiling it again.

    ``fresh`` is a new, uncompiled model of the same architecture (built after
    seeding, so it holds that seed's initial weights). Every variable of
    ``model`` (weights, and the random state of layers such as ``Dropout``)
    takes ``fresh``'s value and the optimiser is restarted (:func:`restart`):
    fitting ``model`` now trains exactly as fitting ``fresh`` compiled with a
    new optimiser would. Why not compile ``fresh``: with TensorFlow 2.21 each
    model that is compiled and trained keeps memory of the size of its
    optimiser's state after it is gone (about 150 MB for VGG16 and a head,
    measured on the book's machine; keras-team/keras#17458), so chapters that
    repeat a run for several seeds compile one model per architecture and
    start it over. Introduced in chapter 05.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError(f"model {model.name!r} is not compiled: compile() it once first")
    if len(model.variables) != len(fresh.variables):
        raise ValueError(
            f"model {model.name!r} has {len(model.variables)} variables and fresh "
            f"{fresh.name!r} {len(fresh.variables)}: they are not the same architecture"
        )
    for target, source in zip(model.variables, fresh.variables, strict=True):
        if tuple(target.shape) != tuple(source.shape):
            raise ValueError(
                f"variable {target.path} has shape {tuple(target.shape)} in {model.name!r} "
                f"and {tuple(source.shape)} in {fresh.name!r}: not the same architecture"
            )
        target.assign(source)
    return restart(model.optimizer, learning_rate)


# --------------------------------------------------------------------------- saving


def model_path(name: str) -> Path:
    """Where chapter models are saved: ``cache_dir()/models/<name>.keras`` (chapter 06)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"model name must be a plain file name, got {name!r}")
    folder = cache_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.keras"
