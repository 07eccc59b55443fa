"""Run a frozen base once and keep its features, so heads train in seconds.

Features are cached on disk under ``cache_dir()/features``: ``<key>.npy`` holds
the array and ``<key>.sha256`` a checksum of its dtype, shape and bytes, checked
on every load. The cache key is made from what determines the result: the
base's weights (their bytes, so ImageNet and random weights never mix), its
output layer, the image size, the preprocessing, the images themselves and the
numerical settings (TensorFlow version, oneDNN on or off as TensorFlow reports
it). Change any of them and the features are computed again. A cache that
cannot be written (read-only, full disk) costs only the cache: the features are
still returned, with one warning.

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

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from utils import data
from utils.assets import CACHE_DIR_VARIABLE, atomic_replace, atomic_write_bytes, cache_dir
from utils.validation import whole_number

# Only for TensorFlow builds that cannot report the oneDNN setting (see onednn_setting).
_ONEDNN_VARIABLE_AT_IMPORT = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
_warned = set()  # the one-time warnings already given in this process


def _warn_once(topic: str, message: str, stacklevel: int) -> None:
    if topic not in _warned:
        _warned.add(topic)
        warnings.warn(message, stacklevel=stacklevel + 1)


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
    _warn_once(
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


def _checksum_start(dtype: np.dtype, shape: tuple[int, ...]):
    """A sha256 that has read the dtype and shape; the bytes follow (see :func:`checksum`)."""
    return hashlib.sha256(f"{np.dtype(dtype).str} {tuple(shape)}\n".encode())


def checksum(array: np.ndarray) -> str:
    """Hex sha256 of an array's dtype, shape and bytes (what ``<key>.sha256`` holds)."""
    digest = _checksum_start(array.dtype, array.shape)
    digest.update(np.ascontiguousarray(array))  # its buffer, without a copy
    return digest.hexdigest()


def _checksum_path(path: Path) -> Path:
    return path.with_suffix(".sha256")


_READ_BYTES = 1 << 24  # a checksum reads a memory-mapped file 16 MiB at a time


def _file_checksum(path: Path, array: np.ndarray) -> str:
    """``checksum(array)`` for an array memory-mapped from ``path``, read in pieces.

    Reading the file, not the mapping, keeps the bytes out of the process's
    memory (they pass through the page cache only).
    """
    digest = _checksum_start(array.dtype, array.shape)
    with open(path, "rb") as handle:
        handle.seek(array.offset)
        while piece := handle.read(_READ_BYTES):
            digest.update(piece)
    return digest.hexdigest()


def load_cached(path: Path, shape: tuple[int, ...], memory_map: bool = False) -> np.ndarray | None:
    """The float32 array cached at ``path``, or None if it must be computed again.

    None, silently, when there is no file or no checksum beside it (a cache
    written by an older version of the book). None, with one printed line, when
    the file cannot be read or has another shape. None, with a warning naming
    the file, when its content does not match its checksum (a flipped bit,
    edited values, another dtype). With ``memory_map=True`` the array is a
    read-only ``np.memmap`` of the file, checked without reading it into memory.
    """
    try:
        expected = _checksum_path(path).read_text().strip()
    except OSError:
        return None
    try:
        cached = np.load(path, allow_pickle=False, mmap_mode="r" if memory_map else None)
    except (ValueError, OSError, EOFError):
        print(f"Cached features {path.name} are damaged; computing them again.")
        return None
    if cached.shape != shape:
        print(f"Cached features {path.name} have the wrong shape; computing them again.")
        return None
    if cached.dtype != np.float32:
        actual = None
    elif memory_map:
        actual = _file_checksum(path, cached)
    else:
        actual = checksum(cached)
    if actual != expected:
        warnings.warn(
            f"Cached features {path} do not match the checksum saved with them: the file "
            "was damaged or changed. Computing them again.",
            stacklevel=3,  # the line that called extract_features
        )
        return None
    return cached


def save_cached(path: Path, features: np.ndarray) -> bool:
    """Cache ``features`` at ``path`` with their checksum; False if the cache cannot be written.

    Each file is replaced in one step (a temporary file, then a rename). The
    old checksum is removed first, so a write that fails half-way leaves a
    file that later reads as missing, never as valid. An ``OSError`` (a
    read-only or full disk) gives one warning per process, naming
    ``TLBOOK_CACHE_DIR``, and the caller keeps its result.
    """
    try:
        _checksum_path(path).unlink(missing_ok=True)
        with atomic_replace(path) as tmp_path, open(tmp_path, "wb") as handle:
            np.save(handle, features, allow_pickle=False)  # no copy in memory
        atomic_write_bytes(_checksum_path(path), f"{checksum(features)}\n".encode())
    except OSError as error:
        _warn_once(
            "write",
            f"Could not save features in the cache folder {path.parent} ({error}); "
            f"continuing without caching them. To keep features between runs, set "
            f"{CACHE_DIR_VARIABLE} to a folder you can write to.",
            stacklevel=4,  # the line that called extract_features
        )
        return False
    return True


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


def _stream_to_cache(paths: list[Path], chunks, shapes: list[tuple[int, ...]]) -> None:
    """Write each output's chunks to its path as one .npy file, and its checksum, chunk by chunk.

    Raises OSError when the cache cannot be written; every path then keeps its
    old content (see ``atomic_replace``) and no checksum, so it reads as missing.
    """
    digests = [_checksum_start(np.float32, shape) for shape in shapes]
    for path in paths:
        _checksum_path(path).unlink(missing_ok=True)
    with contextlib.ExitStack() as files:
        handles = []
        for path, shape in zip(paths, shapes, strict=True):
            handle = files.enter_context(open(files.enter_context(atomic_replace(path)), "wb"))
            header = {"descr": np.dtype(np.float32).str, "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(handle, header)
            handles.append(handle)
        for outputs in chunks:
            for handle, digest, chunk in zip(handles, digests, outputs, strict=True):
                chunk = np.ascontiguousarray(chunk)
                digest.update(chunk)
                handle.write(chunk.data)
    for path, digest in zip(paths, digests, strict=True):
        atomic_write_bytes(_checksum_path(path), f"{digest.hexdigest()}\n".encode())


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
        _stream_to_cache(paths, chunks, shapes)
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
