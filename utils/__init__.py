"""Helpers for the book "Transfer Learning, Hands-On".

Chapters import modules by name, for example ``from utils import data, models``.
The modules here are shared infrastructure, in layers; a module imports only
from its own layer and those above it in this list
(``tests/test_structure.py`` checks it):

1. ``checks``, ``scale``, ``validation``: the check helper, scale presets and
   argument checks, used everywhere;
2. ``assets``, ``cache_files``: the cache folder, checksums, atomic writes,
   the feature cache's files;
3. ``data``, ``idx``, ``full_set``, ``weights``: images, labels, splits and
   VGG16's ImageNet weights;
4. ``features``, ``feature_rows``, ``models``, ``finetune``, ``training``,
   ``model_files``: the feature cache, shared model builders, training and
   saved models;
5. ``plots``, ``learning_curves``, ``network_plots``, ``inspection``,
   ``architecture``, ``results``: figures, tables and the results page.

``utils.widgets`` holds the interactive panels, and ``utils.chapters`` the
code that serves one chapter only (see their docstrings).
Importing the package before TensorFlow quietens TensorFlow's C++ start-up
messages (the Makefile sets the same variables for JupyterLab, the tests and
the website build), so notebook outputs stay clean. It also pins Keras to its
TensorFlow backend, which the helpers need (another KERAS_BACKEND stops the
import with a message that says what to change), and says how to install
TensorFlow when it is missing or older than Keras 3 needs.
"""

import importlib.metadata
import importlib.util
import os
import re
import sys

# This book's package, not another one named `utils` (a common name): tools/check_utils.py,
# run by `make setup`, `make lab` and Binder's postBuild, looks for this marker.
BOOK = "transfer-learning-hands-on"

# Level 3 hides TensorFlow's C++ log lines up to ERROR. TensorFlow 2.21 logs a
# harmless "NodeDef mentions attribute use_unbounded_threadpool" ERROR whenever
# Keras fits on arrays whose last batch is partial, and level 2 lets it through.
# Real failures still raise Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# oneDNN stays on (TensorFlow's default): on a 2-core AVX-512 CPU it trains VGG16
# about 3 times faster than with TF_ENABLE_ONEDNN_OPTS=0 and, with op determinism
# (training.seed_everything), two seeded runs still give identical weights.
# TensorFlow prints a one-line "oneDNN custom operations are on" notice to stderr.


def _require_tensorflow_backend() -> None:
    """Pin Keras to its TensorFlow backend, or stop with a message that says how.

    The helpers call TensorFlow directly (tf.data, tf.GradientTape, tf.function),
    so they need Keras's TensorFlow backend. KERAS_BACKEND, if set, must say so;
    when it is unset (or empty) it is set here, before Keras is imported, which
    also overrides a ``"backend"`` in ``~/.keras/keras.json`` for this process.
    """
    value = os.environ.get("KERAS_BACKEND", "")
    if value not in ("", "tensorflow"):
        raise ImportError(
            f"KERAS_BACKEND is set to {value!r}, but this book's code needs Keras's TensorFlow "
            "backend. Unset KERAS_BACKEND (`unset KERAS_BACKEND` in the terminal that starts "
            "Jupyter or Python) or set it to tensorflow (`export KERAS_BACKEND=tensorflow`), "
            "then restart the kernel."
        )
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "config", None), "backend", None)
    if callable(backend) and backend() != "tensorflow":
        raise ImportError(
            f"Keras was imported before utils with its {backend()!r} backend (from "
            "KERAS_BACKEND or ~/.keras/keras.json), but this book's code needs the TensorFlow "
            "backend. Set KERAS_BACKEND=tensorflow (or import utils first) and restart the kernel."
        )
    os.environ["KERAS_BACKEND"] = "tensorflow"


def _tensorflow_version() -> str | None:
    """TensorFlow's version, read without importing it; "" if unknown, None if not installed."""
    if "tensorflow" in sys.modules:
        return getattr(sys.modules["tensorflow"], "__version__", "")
    if importlib.util.find_spec("tensorflow") is None:
        return None
    for name in ("tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-macos"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return ""


def _require_tensorflow(version: str | None) -> None:
    """Stop with a message that says how to install TensorFlow if it is missing or too old.

    TensorFlow is not a requirement of the package (``pip install .`` keeps the
    TensorFlow a machine has), so this is where a missing one is reported.
    Keras 3 needs TensorFlow 2.16 or later; the book is tested with 2.21.
    """
    numbers = tuple(int(n) for n in re.findall(r"\d+", version or "")[:2])
    if version is not None and (len(numbers) < 2 or numbers >= (2, 16)):
        return
    found = "it is not installed" if version is None else f"this Python has TensorFlow {version}"
    raise ImportError(
        f"This book needs TensorFlow 2.16 or later (Keras 3 runs on it), but {found}. In the "
        "book's folder, install it with `make setup`, or into your own environment with "
        '`pip install -c constraints.txt -e ".[tensorflow]"`; then restart the kernel.'
    )


_require_tensorflow_backend()
_require_tensorflow(_tensorflow_version())
