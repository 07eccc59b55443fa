"""Run a frozen base once and keep its features, so heads train in seconds.

Features are cached on disk under ``cache_dir()/features``: ``<key>.npy`` holds
the array and ``<key>.sha256`` its checksum, checked on every load (reading
and writing the files is ``utils/cache_files.py``'s job). The cache key is made
from what determines the result: the base's weights (their bytes, so ImageNet
and random weights never mix), its output layer, the image size, the
preprocessing, the images themselves and the numerical settings (TensorFlow
version, oneDNN on or off as TensorFlow reports it). Change any of them and
the features are computed again. A cache that cannot be written (read-only,
full disk) costs only the cache: the features are still returned, with one
warning.

Features larger than memory: ``extract_features(..., memory_map=True)`` runs
the base ``chunk_size`` images at a time, streams each chunk into the cache
file and returns the file memory-mapped (read-only), so the process holds
one chunk of features at a time (twice that while Keras joins the chunk's
batches), however many images there are; the checksum is computed and checked
chunk by chunk too. Several cuts of one network (VGG16 after block2 and after
block3) come from one pass over the images: ``extract_features((bottom, kept),
...)``. Introduced in chapter 00.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from utils import data
from utils.assets import cache_dir
from utils.cache_files import load_cached, save_cached, stream_to_cache, warn_once
from utils.validation import whole_number

# Only for TensorFlow builds that cannot report the oneDNN setting (see onednn_setting).
_ONEDNN_VARIABLE_AT_IMPORT = os.environ.get("TF_ENABLE_ONEDNN_OPTS")


def onednn_setting() -> str:
    """Whether TensorFlow runs its oneDNN operations in this process (``"on"`` or ``"off"``).

    TensorFlow fixes the setting once, when it starts, from the CPU and the
    variable ``TF_ENABLE_ONEDNN_OPTS``; changing the variable later has no
    effect. So the answer comes from TensorFlow itself (a private function of
    TensorFlow 2.x). A build without that function gets, with a warning, the
    variable's value when this module was imported (``"TF_ENABLE_ONEDNN_OPTS=None"``
    if unset): what can be known, but not the setting in effect if the variable
    changed after TensorFlow was imported.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port

        return "on" if _pywrap_util_port.IsMklEnabled() else "off"
    except (ImportError, AttributeError):
        pass
    variable = f"TF_ENABLE_ONEDNN_OPTS={_ONEDNN_VARIABLE_AT_IMPORT!r}"
    warn_once(
        "onednn",
        f"This TensorFlow cannot say whether oneDNN is on, so the feature cache is keyed on "
        f"{variable} as utils.features found it, which is not the setting in effect if the "
        "variable changed after TensorFlow was imported.",
        stacklevel=2,
    )
    return variable


def numerical_settings() -> list[str]:
    """The settings that change the last bits of the features: TensorFlow version, oneDNN."""
    return [tf.__version__, onednn_setting()]


def cache_key(base: keras.Model, images: np.ndarray, image_size: int, preprocess: bool) -> str:
    """The name of the cache file for these features: weights, cut, size, images, numerics."""
    digest = hashlib.sha256()
    for weight in base.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    settings = [
        base.layers[-1].name, list(base.input_shape), image_size, preprocess, numerical_settings()
    ]
    digest.update(json.dumps(settings).encode())
    digest.update(np.ascontiguousarray(images))  # its buffer, without a copy
    return digest.hexdigest()[:32]


def cache_path(base: keras.Model, images: np.ndarray, image_size: int, preprocess: bool) -> Path:
    """Where ``extract_features(base, images, image_size, preprocess=preprocess)`` caches."""
    key = cache_key(base, images, image_size, preprocess)
    return cache_dir() / "features" / f"{key}.npy"


def _chunks(model, images, image_size, batch_size, preprocess, chunk_size):
    """Yield the model's float32 outputs, a list of one array per output, per ``chunk_size`` images.

    Each chunk is a whole number of batches, so the batches are those of one
    ``predict`` over all the images, and so are the features, to the last bit.
    """
    step = -(-chunk_size // batch_size) * batch_size
    for start in range(0, len(images), step):
        dataset = data.make_dataset(
            images[start : start + step],
            image_size=image_size,
            batch_size=batch_size,
            preprocess=preprocess,
        )
        outputs = model.predict(dataset, verbose=0)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        yield [output.astype(np.float32, copy=False) for output in outputs]


def extract_features(
    base: keras.Model | Sequence[keras.Model],
    images: np.ndarray,
    image_size: int,
    batch_size: int = 128,
    preprocess: bool = True,
    use_cache: bool = True,
    memory_map: bool = False,
    chunk_size: int = 2048,
) -> np.ndarray | list[np.ndarray]:
    """Features of ``base`` for 28x28 grey ``images``, computed once and cached.

    Returns a float32 array of shape (N, *base.output_shape[1:]); no images
    (N = 0) give an empty array, without running the base. A cache file that
    is damaged or does not match its checksum is reported and recomputed,
    never trusted (see :func:`load_cached`). If the cache cannot be written,
    the features are returned anyway (see :func:`save_cached`).

    ``base`` may also be a list or tuple of models cut from the same input to
    different layers of one network, such as VGG16 after block2 and after
    block3. The result is then a list, one array per model, from one pass over
    the images (the layers they share run once per image), each cached under
    the key it has alone; only the models missing from the cache run.

    The base runs on ``chunk_size`` images at a time (rounded up to whole
    batches). With ``memory_map=True`` each chunk goes straight to the cache
    file and the result is that file, memory-mapped read-only: index it
    (``features[rows]``) to get rows in memory. Then the cache is required:
    ``use_cache=False`` is a ValueError, and a cache folder that cannot be
    written raises the OSError that says why.
    """
    several = isinstance(base, (list, tuple))
    cuts = list(base) if several else [base]
    _check_arguments(cuts, images, image_size, use_cache, memory_map)
    chunk_size = whole_number(chunk_size, "chunk_size", low=1)
    shapes = [(len(images), *cut.output_shape[1:]) for cut in cuts]
    if len(images) == 0:  # Keras's predict cannot run on no batches
        found = [np.zeros(shape, np.float32) for shape in shapes]
    elif use_cache:
        paths, found = [], []
        for cut, shape in zip(cuts, shapes, strict=True):  # a loop: warnings name the caller
            paths.append(cache_path(cut, images, image_size, preprocess))
            found.append(load_cached(paths[-1], shape, memory_map))
    else:
        paths, found = [None] * len(cuts), [None] * len(cuts)
    missing = [i for i, features in enumerate(found) if features is None]
    if missing:
        model = cuts[missing[0]]
        if len(missing) > 1:  # one model with an output per missing cut
            model = keras.Model(model.inputs, [cuts[i].output for i in missing])
        chunks = _chunks(model, images, image_size, batch_size, preprocess, chunk_size)
        computed = _fill(
            chunks, [shapes[i] for i in missing], [paths[i] for i in missing], memory_map
        )
        for i, features in zip(missing, computed, strict=True):
            found[i] = features
    return found if several else found[0]


def _check_arguments(cuts, images, image_size, use_cache, memory_map) -> None:
    data.check_images(images)
    if not cuts or any(cut.inputs[0] is not cuts[0].inputs[0] for cut in cuts):
        raise ValueError("base must be a model, or models cut from the same input")
    for cut in cuts:
        if tuple(cut.input_shape[1:3]) != (image_size, image_size):
            raise ValueError(
                f"the base expects {cut.input_shape[1:3]} images but image_size is {image_size}"
            )
    if memory_map and not use_cache:
        raise ValueError(
            "memory_map=True returns the cache file memory-mapped, so it needs use_cache=True."
        )


def _fill(chunks, shapes, paths, memory_map: bool) -> list[np.ndarray]:
    """The chunks as one array per output: streamed to ``paths`` and memory-mapped,
    or in memory and cached at ``paths`` (each None when the cache is not used)."""
    if memory_map:
        stream_to_cache(paths, chunks, shapes)
        return [np.load(path, allow_pickle=False, mmap_mode="r") for path in paths]
    arrays = _in_memory(chunks, shapes)
    for path, features in zip(paths, arrays, strict=True):
        if path is not None:  # None: the cache is not used
            save_cached(path, features)
    return arrays


def _in_memory(chunks, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The chunks, filled into one array per output (in memory: those and the chunk being made)."""
    arrays = [np.empty(shape, np.float32) for shape in shapes]
    start = 0
    for outputs in chunks:
        for array, chunk in zip(arrays, outputs, strict=True):
            array[start : start + len(chunk)] = chunk
        start += len(outputs[0])
    return arrays
