"""Regenerate the bundled Fashion-MNIST subset, byte-for-byte, from the official files.

    python -m tools.make_subset                     # Debian package, else Keras's cache
    python -m tools.make_subset --source DIR --out DIR

Takes 600 training images per class from the official training split and 200
test images per class from the official test split (seed 0), keeps them in
their original order, and writes the four IDX files gzip-compressed without
time stamps, so the output is identical on every run. See data/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from utils import data, full_set, idx
from utils.assets import AssetError, atomic_write_bytes, sha256_file

_GZIP_LEVEL = 9
# Fixed gzip header: deflate, no flags (no file name), mtime 0, "best" (2), OS unknown (255).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as a gzip-compressed IDX file, byte-for-byte reproducibly.

    The gzip header carries no file name and no time stamp, and the write goes
    through a temporary file and a rename, so an existing file is never left
    half-written. ``utils.idx.read_idx`` reads the file back.
    """
    path = atomic_write_bytes(path, _gzip_bytes(idx.idx_bytes(array)))
    path.chmod(0o644)  # the temporary file was private (0600); make it an ordinary file
    return path


def _gzip_bytes(payload: bytes) -> bytes:
    """gzip ``payload`` with a fixed header, so the same input gives the same bytes."""
    compressor = zlib.compressobj(
        _GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY
    )
    body = compressor.compress(payload) + compressor.flush()
    trailer = struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)
    return _GZIP_HEADER + body + trailer


def default_source() -> Path:
    """The Debian package's folder if it holds the four files, else Keras's cache."""
    if all((full_set.DEBIAN_DIR / name).is_file() for name in data.FILE_NAMES):
        return full_set.DEBIAN_DIR
    return full_set.KERAS_CACHE_DIR


def make_subset(source: Path, out: Path, seed: int = data.BUNDLED_SEED) -> dict[str, str]:
    """Write the subset of the official files in ``source`` to ``out``; return the sha256s.

    The files are first written to a temporary folder next to ``out`` and only then
    renamed into place, so a failure leaves any existing subset untouched.
    """
    arrays = data.read_idx_folder(source, fix=full_set.FIX)
    full_set.verify(arrays)
    (x_train, y_train), (x_test, y_test) = arrays
    x_train, y_train = data.stratified_sample(
        x_train, y_train, data.BUNDLED_PER_CLASS["train"], seed
    )
    x_test, y_test = data.stratified_sample(x_test, y_test, data.BUNDLED_PER_CLASS["test"], seed)

    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    try:
        for name, array in zip(data.FILE_NAMES, (x_train, y_train, x_test, y_test), strict=True):
            write_idx(staging / name, array)
        for name in data.FILE_NAMES:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {name: sha256_file(out / name) for name in data.FILE_NAMES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help=f"folder with the four official .gz files (default: {full_set.DEBIAN_DIR} "
        f"if present, else {full_set.KERAS_CACHE_DIR})",
    )
    parser.add_argument(
        "--out", type=Path, default=data.BUNDLED_DIR, help="output folder (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    source = args.source or default_source()
    print(f"source: {source}")
    print(f"output: {args.out}")
    print(
        f"subset: {data.BUNDLED_PER_CLASS['train']} train + {data.BUNDLED_PER_CLASS['test']} test "
        f"images per class, seed {data.BUNDLED_SEED}"
    )
    try:
        checksums = make_subset(source, args.out)
    except AssetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    total = 0
    for name, digest in checksums.items():
        size = (args.out / name).stat().st_size
        total += size
        same = "same as BUNDLED_SHA256" if digest == data.BUNDLED_SHA256[name] else "DIFFERENT"
        print(f"{digest}  {name}  {size:>9} bytes  ({same})")
    print(f"total: {total} bytes")
    if checksums != data.BUNDLED_SHA256:
        print(
            "warning: the checksums differ from BUNDLED_SHA256 in utils/data.py "
            "(a different zlib can compress the same data differently).",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
