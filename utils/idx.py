"""The IDX file format of MNIST and Fashion-MNIST: gzip-compressed arrays with a small header.

:func:`read_idx` reads a file and checks its header against its payload;
:func:`idx_bytes` encodes an array (``utils.data`` hashes the full set with it,
``tools/make_subset.py`` writes the bundled subset with it). Introduced in
chapter 00.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from utils.assets import FIX_COMMAND, AssetError

# IDX type codes (http://yann.lecun.com/exdb/mnist/); values are stored big-endian.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike, fix: str = FIX_COMMAND) -> np.ndarray:
    """Read a gzip-compressed IDX file (the MNIST format) into a NumPy array.

    The header is checked against the payload: a truncated or damaged file raises
    :class:`~utils.assets.AssetError` naming the file and ``fix``, the command that
    repairs it. Introduced in chapter 00.
    """
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"Missing file: {path}", fix)
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as error:
        raise AssetError(f"{path} is not a complete gzip file ({error}).", fix) from error
    try:
        return _parse_idx(raw)
    except ValueError as error:
        raise AssetError(f"{path} is not a valid IDX file: {error}", fix) from error


def idx_bytes(array: np.ndarray) -> bytes:
    """The uncompressed IDX encoding of ``array``: magic, dimensions, big-endian values.

    ``full_set.verify`` hashes it; ``tools/make_subset.py`` compresses and writes it.
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}.")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}.")
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()


def _parse_idx(raw: bytes) -> np.ndarray:
    """Decode uncompressed IDX bytes; ValueError if header and payload disagree."""
    if len(raw) < 4:
        raise ValueError(f"only {len(raw)} bytes, shorter than the 4-byte magic number.")
    zero1, zero2, code, ndim = struct.unpack(">BBBB", raw[:4])
    if zero1 or zero2:
        raise ValueError(f"bad magic number 0x{raw[:4].hex()} (must start with 0x0000).")
    if code not in _IDX_DTYPES:
        raise ValueError(f"unknown type code 0x{code:02x} in the magic number.")
    if ndim == 0:
        raise ValueError("the header declares 0 dimensions.")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"header declares {ndim} dimensions but the file ends inside it.")
    shape = struct.unpack(f">{ndim}I", raw[4:offset])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(
            f"header declares shape {shape} ({expected} bytes of data) "
            f"but the file holds {len(raw) - offset} bytes."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native byte order, writable copy
