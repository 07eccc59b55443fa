"""VGG16's arithmetic, a plain-text table, and what each freeze depth costs.

Chapter 03 writes out how it reads VGG16 (layer and block tables, receptive
fields, the size of the classifier top). Kept here: ``multiply_adds``, which
chapter 03 defines and chapter 09 reuses to count a whole model's arithmetic;
``format_table``, which prints chapter 03's tables; and
``freeze_depth_costs``, the timing harness behind chapter 03's freeze-depth
table and panel. Introduced in chapter 03.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping, Sequence

import keras
import numpy as np

from utils import models
from utils.validation import whole_number


def multiply_adds(layer):
    """Multiply-adds a Conv2D or Dense layer performs for one input (other
    layers: 0); biases and activations are left out."""
    if isinstance(layer, keras.layers.Conv2D):
        kernel = layer.kernel.shape  # (k_h, k_w, c_in, c_out)
        return int(np.prod(layer.output.shape[1:3]) * np.prod(kernel))
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(layer.kernel.shape))
    return 0


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
