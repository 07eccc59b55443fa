"""What a network is built of: layer and block tables, receptive fields, costs.

Chapter 03 reads VGG16 with these: parameters and multiply-adds per layer and
per block, how far each layer sees (its receptive field), how large VGG16's
classifier top would be, and what each freeze depth costs per epoch. Nothing
here needs trained weights except ``freeze_depth_costs``, which times real
training steps. Introduced in chapter 03.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Mapping, Sequence

import keras
import numpy as np

from utils import models
from utils.validation import whole_number

# --------------------------------------------------------------------------- tables


def _shape(layer: keras.layers.Layer) -> tuple:
    return tuple(layer.output.shape[1:])


def multiply_adds(layer: keras.layers.Layer) -> int:
    """Multiply-add operations a Conv2D or Dense layer performs for one input (others: 0).

    A convolution does one multiply-add per output position, kernel weight and
    input-output channel pair: ``height * width * k * k * c_in * c_out``.
    Biases and activations are left out. Introduced in chapter 03.
    """
    if isinstance(layer, keras.layers.Conv2D):
        kernel = layer.kernel.shape  # (k_h, k_w, c_in, c_out)
        return int(np.prod(layer.output.shape[1:3]) * np.prod(kernel))
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(layer.kernel.shape))
    return 0


def layer_table(model: keras.Model) -> list[dict]:
    """One row per layer: name, block, kind, output shape, parameters, multiply-adds.

    The output shape leaves out the batch dimension. Introduced in chapter 03.
    """
    rows = []
    for layer in model.layers:
        rows.append(
            {
                "layer": layer.name,
                "block": models.block_of(layer) or "-",
                "kind": type(layer).__name__,
                "output shape": _shape(layer),
                "parameters": int(layer.count_params()),
                "multiply-adds": multiply_adds(layer),
            }
        )
    return rows


def block_table(model: keras.Model) -> list[dict]:
    """One row per VGG16 block: convolutions, parameters, multiply-adds, output shape.

    The output shape is that of the block's last layer (its pooling layer).
    Layers outside the five blocks (the input, a classifier top) are left out.
    Introduced in chapter 03.
    """
    rows: dict[str, dict] = {}
    for layer in model.layers:
        block = models.block_of(layer)
        if block is None:
            continue
        row = rows.setdefault(
            block,
            {"block": block, "convolutions": 0, "parameters": 0, "multiply-adds": 0},
        )
        row["convolutions"] += isinstance(layer, keras.layers.Conv2D)
        row["parameters"] += int(layer.count_params())
        row["multiply-adds"] += multiply_adds(layer)
        row["output shape"] = _shape(layer)
    return list(rows.values())


def format_table(
    rows: Sequence[Mapping],
    columns: Sequence[str] | None = None,
    decimals: Mapping[str, int] | None = None,
) -> str:
    """A plain-text table of ``rows`` (dicts), numbers right-aligned with thousands separators.

    Floats get 2 decimals below 10, 1 below 100 and none above, unless
    ``decimals`` names a column's number of decimals. Introduced in chapter 03.
    """
    if not rows:
        raise ValueError("format_table needs at least one row.")
    columns = list(columns or rows[0].keys())
    decimals = dict(decimals or {})

    def text(value, column):
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, (int, np.integer)):
            return f"{int(value):,}"
        if isinstance(value, (float, np.floating)):
            size = abs(float(value))
            places = decimals.get(column, 2 if size < 10 else 1 if size < 100 else 0)
            return f"{float(value):,.{places}f}"
        if isinstance(value, tuple):
            return " x ".join(str(v) for v in value)
        return str(value)

    cells = [[text(row[column], column) for column in columns] for row in rows]
    numeric = [
        all(isinstance(row[column], (int, float, np.number)) for row in rows) for column in columns
    ]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(columns)]

    def line(values):
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(columns), rule, *(line(values) for values in cells)])


# --------------------------------------------------------------------------- receptive field


def receptive_field_growth(specs: Iterable[tuple[str, int, int]]) -> list[dict]:
    """Receptive field after each layer of a chain of convolutions and poolings.

    ``specs`` lists ``(name, kernel size, stride)``. A unit's receptive field
    is the square of input pixels that can change it. Each layer widens it by
    ``(kernel - 1) * jump`` pixels, where the *jump* is the product of the
    strides before it (the input-pixel distance between neighbouring units).
    Returns rows with ``layer``, ``kernel``, ``stride``, ``jump`` (after the
    layer) and ``receptive field``. Introduced in chapter 03.
    """
    size, jump, rows = 1, 1, []
    for name, kernel, stride in specs:
        if kernel < 1 or stride < 1:
            raise ValueError(f"{name}: kernel and stride must be positive, got {kernel}, {stride}.")
        size += (kernel - 1) * jump
        jump *= stride
        row = {"layer": name, "kernel": kernel, "stride": stride, "jump": jump}
        rows.append({**row, "receptive field": size})
    return rows


def _square(value, name: str, what: str) -> int:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(set(values)) != 1:
        raise ValueError(f"{name}: only square {what} are supported, got {values}.")
    return int(values[0])


def layer_specs(model: keras.Model) -> list[tuple[str, int, int]]:
    """``(name, kernel size, stride)`` of each convolution and pooling layer of ``model``.

    Dilated convolutions count with their effective kernel size. Layers that do
    not move or mix pixels (activations, normalisation) are skipped; the list
    stops at the first layer that leaves the image grid (Flatten, Dense, global
    pooling). Introduced in chapter 03.
    """
    specs = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            kernel = _square(layer.kernel_size, layer.name, "kernels")
            dilation = _square(layer.dilation_rate, layer.name, "dilations")
            stride = _square(layer.strides, layer.name, "strides")
            specs.append((layer.name, dilation * (kernel - 1) + 1, stride))
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            kernel = _square(layer.pool_size, layer.name, "pools")
            stride = _square(layer.strides, layer.name, "strides")
            specs.append((layer.name, kernel, stride))
        elif len(layer.output.shape) != 4:
            break
    return specs


def receptive_fields(model: keras.Model) -> list[dict]:
    """:func:`receptive_field_growth` for the layers of a Keras model (chapter 03)."""
    return receptive_field_growth(layer_specs(model))


# --------------------------------------------------------------------------- the top


def dense_parameters(n_inputs: int, n_units: int) -> int:
    """Parameters of a Dense layer: one weight per input and unit, plus one bias per unit.

    Introduced in chapter 03.
    """
    if n_inputs < 1 or n_units < 1:
        raise ValueError(f"n_inputs and n_units must be positive, got {n_inputs}, {n_units}.")
    return n_inputs * n_units + n_units


def vgg16_top_parameters(image_size: int = 224, n_classes: int = 1000, hidden: int = 4096) -> dict:
    """Parameters of VGG16's classifier top (Flatten, fc1, fc2, predictions) by layer.

    The five poolings halve the image five times (rounding down), and the top
    flattens the last 512 feature maps, so fc1's size depends on the input size
    while the convolution base's does not. Introduced in chapter 03.
    """
    if image_size < 32:
        raise ValueError(f"VGG16 needs images of at least 32x32, got {image_size}.")
    side = image_size
    for _ in range(5):
        side //= 2
    flat = side * side * 512
    return {
        "fc1": dense_parameters(flat, hidden),
        "fc2": dense_parameters(hidden, hidden),
        "predictions": dense_parameters(hidden, n_classes),
    }


# --------------------------------------------------------------------------- freeze depth


def freeze_depth_costs(
    base: keras.Model,
    model: keras.Model,
    batches: Sequence[tuple[np.ndarray, np.ndarray]],
    epoch_size: int,
    optimizer=lambda: keras.optimizers.SGD(1e-3),
    loss: str = "sparse_categorical_crossentropy",
) -> list[dict]:
    """Measure, for 0 to 5 frozen blocks, the parameters that train and the cost per epoch.

    ``model`` contains ``base`` (for example ``models.transfer_model(base)``).
    For each freeze depth the lower blocks are frozen with
    ``models.set_trainable_blocks``, the model is compiled again (by default
    with plain SGD, which keeps no state per parameter, so the measurement
    needs little memory), one training step runs to warm up (it includes
    tracing the graph), and then one step per batch in ``batches`` is timed.
    The fastest step counts, since other programs on the machine can only
    slow a step down; the cost per epoch is its time per image times
    ``epoch_size``.
    **The model's weights change** (it trains on the batches): use a
    throw-away model. Returns one row per depth.
    Introduced in chapter 03.
    """
    if not batches:
        raise ValueError("batches is empty.")
    whole_number(epoch_size, "epoch_size", low=1)
    n_blocks = len(models.VGG16_BLOCKS)
    rows = []
    for n_frozen in range(n_blocks + 1):
        models.set_trainable_blocks(base, n_blocks - n_frozen)
        counts = models.parameter_counts(model)
        model.compile(optimizer=optimizer(), loss=loss)
        model.train_on_batch(*batches[0])  # warm-up: traces the training step
        per_image = []
        for x, y in batches:
            start = time.perf_counter()
            model.train_on_batch(x, y)
            per_image.append((time.perf_counter() - start) / len(x))
        seconds_per_image = min(per_image)  # the step least disturbed by other programs
        gc.collect()  # release the previous depth's graph before building the next
        rows.append(
            {
                "frozen blocks": n_frozen,
                "trainable": counts["trainable"],
                "frozen": counts["frozen"],
                "ms per image": 1000.0 * seconds_per_image,
                "s per epoch": seconds_per_image * epoch_size,
            }
        )
    models.set_trainable_blocks(base, n_blocks)
    return rows
