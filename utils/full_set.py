"""The full Fashion-MNIST set (60,000 + 10,000 images): where to find it, and a check.

``data.load_fashion_mnist("full")`` calls :func:`load`: it reads the four
official files from the Debian package or Keras's cache, or lets Keras
download them, and accepts them only if their data are exactly the official
ones. The chapters' ``gpu`` preset reads the full set; ``tools/make_subset.py``
makes the bundled subset from it. Introduced in chapter 00.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from utils import data
from utils.assets import AssetError
from utils.idx import idx_bytes

# Where the full set may already be on disk, tried in this order.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = (
    Path(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")))
    / "datasets"
    / "fashion-mnist"
)
FIX = "sudo apt-get install dataset-fashion-mnist"
# sha256 of the *decompressed* official files. The .gz bytes differ between copies
# (Debian rewrites the gzip header), the data inside does not.
IDX_SHA256 = dict(
    zip(
        data.FILE_NAMES,
        (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",  # train images
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",  # train labels
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",  # test images
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",  # test labels
        ),
        strict=True,
    )
)


def verify(arrays) -> None:
    """Raise AssetError unless ``arrays`` are exactly the official full data set.

    Compares the sha256 of the uncompressed IDX data, so any gzip packaging of the
    official files passes. Introduced in chapter 00.
    """
    (x_train, y_train), (x_test, y_test) = arrays
    for name, array in zip(data.FILE_NAMES, (x_train, y_train, x_test, y_test), strict=True):
        actual = hashlib.sha256(idx_bytes(array)).hexdigest()
        if actual != IDX_SHA256[name]:
            raise AssetError(
                f"{name} is not the official Fashion-MNIST file "
                f"(data sha256 {actual[:12]}..., expected {IDX_SHA256[name][:12]}...).",
                FIX,
            )


def _download_with_keras():
    """Let Keras download (or find in its cache) the full set; needs internet."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    return (x_train, y_train), (x_test, y_test)


def load():
    tried = []
    for folder in (DEBIAN_DIR, KERAS_CACHE_DIR):
        missing = [name for name in data.FILE_NAMES if not (folder / name).is_file()]
        if missing:
            tried.append(f"{folder}: missing {', '.join(missing)}")
            continue
        try:
            arrays = data.read_idx_folder(folder, fix=FIX)
            verify(arrays)
            return arrays
        except AssetError as error:
            tried.append(f"{folder}: {error.problem}")
    try:
        arrays = _download_with_keras()
        for x, y in arrays:
            data._check_pair(x, y)
        verify(arrays)
        return arrays
    except Exception as error:  # any failure (no network, bad file) means no download
        tried.append(f"download with keras.datasets.fashion_mnist: {type(error).__name__}: {error}")
    raise AssetError(
        "The full Fashion-MNIST data set was not found.\n  Tried:\n    - "
        + "\n    - ".join(tried)
        + f"\n  Install it with `{FIX}`, or copy the four files "
        f"({', '.join(data.FILE_NAMES)}) into {KERAS_CACHE_DIR}.",
        FIX,
    )
