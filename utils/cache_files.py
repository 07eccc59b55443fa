"""Files of the feature cache: a float32 array and its checksum, written in one step.

``<key>.npy`` holds the array and ``<key>.sha256`` a sha256 of its dtype, shape
and bytes, checked on every load: a damaged or edited file is computed again,
never trusted. Every file is replaced in one step (a temporary file, then a
rename), and the checksum is written last, so a write that fails half-way
leaves a file that reads as missing. A cache that cannot be written costs only
the cache, with one warning per process. ``utils.features`` decides what is
cached and under which key; this module only reads and writes the files.
Introduced in chapter 00.
"""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from pathlib import Path

import numpy as np

from utils.assets import CACHE_DIR_VARIABLE, atomic_replace, atomic_write_bytes

_warned = set()  # the one-time warnings already given in this process


def warn_once(topic: str, message: str, stacklevel: int) -> None:
    """Warn about ``topic`` once per process (``stacklevel`` as for ``warnings.warn``)."""
    if topic not in _warned:
        _warned.add(topic)
        warnings.warn(message, stacklevel=stacklevel + 1)


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
        warn_once(
            "write",
            f"Could not save features in the cache folder {path.parent} ({error}); "
            f"continuing without caching them. To keep features between runs, set "
            f"{CACHE_DIR_VARIABLE} to a folder you can write to.",
            stacklevel=4,  # the line that called extract_features
        )
        return False
    return True


def stream_to_cache(paths: list[Path], chunks, shapes: list[tuple[int, ...]]) -> None:
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
