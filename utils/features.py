"""Run a frozen base once and keep its features, so heads train in seconds.

Features are cached on disk under ``cache_dir()/features``. The cache key is
made from what determines the result: the base's weights (their bytes, so
ImageNet and random weights never mix), its output layer, the image size, the
preprocessing, the images themselves and the numerical settings (TensorFlow
version, oneDNN on or off). Change any of them and the features are computed
again. Introduced in chapter 00.
"""

from __future__ import annotations

import hashlib
import json
import os
from io import BytesIO

import keras
import numpy as np
import tensorflow as tf

from utils import data
from utils.assets import atomic_write_bytes, cache_dir

# The oneDNN switch takes effect when TensorFlow is imported, so read it then, not
# later. TensorFlow treats "0" and "false" as off and anything else (or unset) as on.
_ONEDNN_VALUE = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
ONEDNN_SETTING_AT_IMPORT = "off" if _ONEDNN_VALUE in ("0", "false") else "on"


def cache_key(base: keras.Model, images: np.ndarray, image_size: int, preprocess: bool) -> str:
    """The name of the cache file for these features: weights, cut, size, images, numerics."""
    digest = hashlib.sha256()
    for weight in base.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    # The TensorFlow build and the oneDNN switch change the last bits of the features.
    numerics = [tf.__version__, ONEDNN_SETTING_AT_IMPORT]
    settings = [base.layers[-1].name, list(base.input_shape), image_size, preprocess, numerics]
    digest.update(json.dumps(settings).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()[:32]


def extract_features(
    base: keras.Model,
    images: np.ndarray,
    image_size: int,
    batch_size: int = 128,
    preprocess: bool = True,
    use_cache: bool = True,
) -> np.ndarray:
    """Features of ``base`` for 28x28 grey ``images``, computed once and cached.

    Returns a float32 array of shape (N, *base.output_shape[1:]). A damaged
    cache file is reported and recomputed, never trusted.
    """
    data.check_images(images)
    if tuple(base.input_shape[1:3]) != (image_size, image_size):
        raise ValueError(
            f"the base expects {base.input_shape[1:3]} images but image_size is {image_size}"
        )
    path = cache_dir() / "features" / f"{cache_key(base, images, image_size, preprocess)}.npy"
    expected_shape = (len(images), *base.output_shape[1:])
    if use_cache and path.exists():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape == expected_shape:
                return cached
            print(f"Cached features {path.name} have the wrong shape; computing them again.")
        except (ValueError, OSError, EOFError):
            print(f"Cached features {path.name} are damaged; computing them again.")
    dataset = data.make_dataset(
        images, image_size=image_size, batch_size=batch_size, preprocess=preprocess
    )
    features = base.predict(dataset, verbose=0).astype(np.float32)
    if use_cache:
        buffer = BytesIO()
        np.save(buffer, features, allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
    return features
