"""Models of the book: the VGG16 base, heads, freezing by block, a small CNN.

The base itself comes from :func:`utils.weights.load_vgg16`, which knows where
the ImageNet weights are. This module builds what goes on top of it and
decides which layers learn. Introduced in chapter 00.
"""

from __future__ import annotations

import keras
import numpy as np

from utils import feature_rows
from utils.validation import whole_number

VGG16_BLOCKS = ("block1", "block2", "block3", "block4", "block5")
# Added to the variance before its square root when standardising features.
STANDARDIZATION_EPSILON = 1e-6


def recipe_head(
    input_shape: tuple[int, ...],
    n_classes: int = 10,
    hidden_units: int = 1024,
    dropout: float = 0.0,
    name: str = "head",
) -> keras.Sequential:
    """The recipe's head: Flatten -> Dense(hidden, relu) -> Dense(n, softmax).

    The head of the feature-extraction recipe that chapter 04 takes from the
    source article (there with 1,024 hidden units and 10 classes). ``dropout``
    > 0 adds a Dropout layer between the two dense layers. Introduced in
    chapter 04, which explains it line by line.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    hidden_units = whole_number(hidden_units, "hidden_units", low=1)
    layers = [
        keras.Input(shape=input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(hidden_units, activation="relu"),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(n_classes, activation="softmax"))
    return keras.Sequential(layers, name=name)


def standardization_stats(features, rows=None):
    """Each flattened feature's mean and variance over the training ``rows``
    of ``features`` (all rows if None), for standardising.

    A feature that never varies on those images (a ReLU that never fires
    there) has variance 0, and dividing by its square root would turn any
    non-zero value on a new image into a huge number. So the variance is
    floored at 1 % of the average feature's. The rows are read a chunk at a
    time (``feature_rows.mean_and_variance``), so that a memory-mapped cache
    file is never read whole. Introduced in chapter 02.
    """
    mean, variance = feature_rows.mean_and_variance(features, rows)
    return mean, np.maximum(variance, 0.01 * variance.mean())


def standardization_layer(mean, variance, epsilon=STANDARDIZATION_EPSILON):
    """A layer computing (u - mean) / sqrt(variance + epsilon) per feature.

    It is a BatchNormalization layer with nothing to learn, frozen
    (``trainable = False``): frozen, it only applies the two statistics it
    holds as weights, so they can be replaced later, as
    ``finetune.start_over`` does. Introduced in chapter 02.
    """
    layer = keras.layers.BatchNormalization(center=False, scale=False,
                                            epsilon=epsilon)
    layer.trainable = False
    layer.build((None, len(mean)))
    layer.set_weights([mean, variance])
    return layer


def standardize(features, mean, variance, epsilon=STANDARDIZATION_EPSILON):
    """What :func:`standardization_layer` computes, in NumPy (float32)."""
    flat = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    return ((flat - mean) / np.sqrt(variance + epsilon)).astype(np.float32)


def linear_head(train_features, n_classes=10, weight_decay=0.0,
                kernel_initializer="glorot_uniform", name="linear_probe"):
    """Flatten -> standardise -> Dense(n_classes, softmax), with an L2 penalty
    of ``weight_decay`` on the kernel W.

    Standardising with the training features' mean and spread puts features
    of any scale on the same footing (a random network's and an ImageNet
    one's differ wildly). Used from chapter 00 (the probe); written out in
    chapter 02.
    """
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    mean, variance = standardization_stats(train_features)
    penalty = keras.regularizers.L2(weight_decay) if weight_decay else None
    return keras.Sequential([
        keras.Input(shape=train_features.shape[1:]),
        keras.layers.Flatten(),
        standardization_layer(mean, variance),
        keras.layers.Dense(n_classes, activation="softmax",
                           kernel_initializer=kernel_initializer,
                           kernel_regularizer=penalty),
    ], name=name)


def standardized_head(features, rows=None, n_classes=10, hidden_units=1024,
                      dropout=0.5, name="head"):
    """Flatten -> standardise -> Dense(relu) -> Dropout -> Dense(softmax).

    Each feature is standardised with its mean and floored variance over the
    training ``rows`` of ``features`` (all rows if None), as in chapter 02's
    linear head. Introduced in chapter 05.
    """
    mean, variance = standardization_stats(features, rows)
    return keras.Sequential(
        [
            keras.Input(shape=features.shape[1:]),
            keras.layers.Flatten(),
            standardization_layer(mean, variance),
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(n_classes, activation="softmax"),
        ],
        name=name,
    )


def transfer_model(
    base: keras.Model, n_classes: int = 10, hidden_units: int = 1024, dropout: float = 0.0
) -> keras.Model:
    """Base and the recipe's head joined into one model (chapter 04's recipe).

    Introduced in chapter 03, which times it for each freeze depth.
    """
    head = recipe_head(base.output_shape[1:], n_classes, hidden_units, dropout)
    inputs = keras.Input(shape=base.input_shape[1:])
    return keras.Model(inputs, head(base(inputs)), name=f"{base.name}_with_head")


def leaf_layers(model: keras.Model):
    """Every layer of ``model`` that is not itself a model, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def block_of(layer: keras.layers.Layer) -> str | None:
    """The VGG16 block a layer belongs to ('block3'), or None for other layers."""
    prefix = layer.name.split("_")[0]
    return prefix if prefix in VGG16_BLOCKS else None


def set_trainable_blocks(base: keras.Model, n_trainable: int) -> dict[str, int]:
    """Freeze the VGG16 base except its top ``n_trainable`` blocks.

    ``0`` freezes everything (feature extraction), ``5`` trains every block
    (full fine-tuning). Blocks the base does not contain (a base cut at block3
    has no block4) are simply absent. ``base`` may also be a model that
    contains the base (``transfer_model(base)``): layers outside the VGG16
    blocks, such as the head, keep their own trainable setting. A model
    without VGG16 blocks raises ValueError. Remember to ``compile()`` again
    after calling this. Returns the trainable and frozen parameter counts.
    Introduced in chapter 02, used again in chapter 03.
    """
    n_trainable = whole_number(n_trainable, "n_trainable", low=0, high=len(VGG16_BLOCKS))
    layers = list(leaf_layers(base))
    if not any(block_of(layer) for layer in layers):
        raise ValueError(
            f"{base.name} has no VGG16 block layers (block1_conv1, ...): pass the VGG16 base "
            "(weights.load_vgg16) or a model that contains it"
        )
    trainable_blocks = set(VGG16_BLOCKS[len(VGG16_BLOCKS) - n_trainable :])
    kept = [layer.trainable for layer in layers]
    base.trainable = True  # Keras sets every nested layer too; the loop below decides
    for layer, was in zip(layers, kept, strict=True):
        block = block_of(layer)
        layer.trainable = was if block is None else block in trainable_blocks
    return parameter_counts(base)


def parameter_counts(model: keras.Model) -> dict[str, int]:
    """Trainable and frozen (non-trainable) parameter counts of a model."""

    def count(weights):
        return int(sum(np.prod(w.shape) for w in weights))

    trainable = count(model.trainable_weights)
    frozen = count(model.non_trainable_weights)
    return {"trainable": trainable, "frozen": frozen, "total": trainable + frozen}


def small_cnn(input_shape: tuple[int, int, int] = (32, 32, 3), n_classes: int = 10) -> keras.Model:
    """A small CNN trained from scratch: the baseline transfer must beat.

    Two convolution blocks and a dense layer; inputs are the same
    VGG16-preprocessed images the transfer models see. Introduced in
    chapter 04.
    """
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Rescaling(1.0 / 128.0),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(n_classes, activation="softmax"),
        ],
        name="small_cnn",
    )
