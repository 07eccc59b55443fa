"""``.keras`` model files: saving them without breaking them, and loading them safely.

- :func:`save_model` writes a model so that an interrupted save never destroys
  the file saved before (chapter 06 writes it out and saves its fine-tuned
  model with it);
- :func:`weights_only_copy` is a model without optimizer state, so that a
  file it is saved to holds only what predicting needs (chapter 08's serving
  model; chapter 09 weighs its models that way);
- :func:`load_model` reads a saved model for predicting (chapter 08's
  ``predict.predict_images``). Unlike ``keras.models.load_model`` it keeps the
  loaded model while the file is unchanged, so classifying file after file
  does not reload it; it says what is wrong with a file that exists but is not
  a ``.keras`` archive (empty, truncated, a legacy ``.h5`` file renamed),
  which Keras reports as missing; and it refuses every file once
  ``keras.config.enable_unsafe_deserialization()`` has been called in the
  process, because Keras then runs the Python code a file may carry.

Keras is imported inside the functions, not with the module. Introduced in
chapter 06 (saving); chapter 08 adds the copy and the loading.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from utils.assets import atomic_replace

if TYPE_CHECKING:
    import keras

_MODEL_CACHE: dict[tuple, object] = {}


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save ``model`` as one ``.keras`` file at ``path``, never a broken one.

    ``model.save`` empties its target before writing it, so a save cut short
    (an error, Ctrl-C, a kernel restart) would destroy the model saved there
    before. Here the model goes to a temporary file beside ``path``, which
    replaces ``path`` in one step once the save has succeeded
    (``assets.atomic_replace``). Introduced in chapter 06.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"save_model writes .keras files, not {path}")
    with atomic_replace(path, suffix=".part.keras") as tmp_path:
        model.save(tmp_path)
    return path


def weights_only_copy(model):
    """The same network with the same weights, without optimizer state.

    The copy is rebuilt from the model's serialized configuration without any
    compile settings, a nested model's included (``clone_model`` compiles its
    copy, and ``from_config`` compiles again a nested model that was
    compiled), so a file it is saved to holds the architecture and the weights
    only. Introduced in chapter 08.
    """
    import keras

    config = _without_compile_config(keras.saving.serialize_keras_object(model))
    copy = keras.saving.deserialize_keras_object(config)  # same architecture, not compiled
    copy.set_weights(model.get_weights())
    return copy


def _without_compile_config(config):
    """A serialized model's config without any (nested) compile settings."""
    if isinstance(config, dict):
        return {k: _without_compile_config(v) for k, v in config.items() if k != "compile_config"}
    if isinstance(config, list):
        return [_without_compile_config(v) for v in config]
    return config


def load_model(path: str | os.PathLike):
    """Load a ``.keras`` model saved with ``model.save``, once per file version.

    The loaded model is kept in memory and reused until the file changes, so
    predicting file after file does not reload it. Keras's safe mode refuses
    files whose layers hold Python code (``Lambda``), which would run on
    loading; after ``keras.config.enable_unsafe_deserialization()``, anywhere
    in the process, Keras runs that code even with ``safe_mode=True``, so this
    function then refuses to load any file (:class:`UnsafeLoadingError`).
    A missing file raises ``FileNotFoundError``; a file that exists but is
    empty, truncated, damaged or not a ``.keras`` zip archive (a legacy
    ``.h5`` file renamed, a text file) raises :class:`ModelFileError`.
    Introduced in chapter 08.
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}. Save one with model.save(path).")
    if path.suffix != ".keras":
        raise ValueError(
            f"{path} is not a .keras file; save the model with model.save('name.keras')."
        )
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _MODEL_CACHE:
        if unsafe_deserialization_enabled():
            raise UnsafeLoadingError(path)
        _check_keras_archive(path)
        _MODEL_CACHE.clear()  # one model at a time: they are large
        try:
            _MODEL_CACHE[key] = keras.models.load_model(path)
        except zipfile.BadZipFile as error:  # a damaged member: bad CRC, bad compressed data
            raise ModelFileError(path, f"is damaged ({error})") from None
    return _MODEL_CACHE[key]


class ModelFileError(ValueError):
    """A model file that exists but is not a valid ``.keras`` file (chapter 08)."""

    def __init__(self, path, problem: str):
        super().__init__(
            f"{path} is not a valid .keras file: it exists but {problem}. Save the model "
            "again with model.save('name.keras'), or copy the file again if it was cut short."
        )
        self.path = str(path)
        self.problem = problem


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the first bytes of a legacy .h5 model file


def _check_keras_archive(path: Path) -> None:
    """Raise :class:`ModelFileError` unless ``path`` is a zip archive, as ``.keras`` files are.

    Keras reports such a file as "File not found", although it exists.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        start = handle.read(len(HDF5_SIGNATURE))
    if size == 0:
        raise ModelFileError(path, "is empty (0 bytes)")
    if start == HDF5_SIGNATURE:
        raise ModelFileError(
            path,
            "is a legacy HDF5 (.h5) model renamed to .keras; give it back its .h5 name, "
            "load it with keras.models.load_model, and save it as .keras",
        )
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            path, f"is not a zip archive ({size:,} bytes): truncated, or another kind of file"
        )


class UnsafeLoadingError(RuntimeError):
    """Loading refused: Keras's safe mode was switched off in this process (chapter 08)."""

    def __init__(self, path):
        super().__init__(
            f"Refusing to load {path}: keras.config.enable_unsafe_deserialization() was called "
            "earlier in this Python process, so Keras would run any Python code stored in the "
            "file (Lambda layers), even with safe_mode=True. Restart the kernel (or the "
            "program) and load the model without calling enable_unsafe_deserialization(); "
            "call it only to load a file you made yourself."
        )
        self.path = str(path)


def unsafe_deserialization_enabled() -> bool:
    """Whether ``keras.config.enable_unsafe_deserialization()`` is in effect in this process.

    Keras has no public way to ask, so this reads the flag that
    ``enable_unsafe_deserialization`` sets and that ``load_model`` obeys over
    its own ``safe_mode`` argument (``serialization_lib.in_safe_mode()``: None
    unless set, False once unsafe deserialization is on; Keras 3.15). If a
    later Keras moves it, this raises ``RuntimeError`` rather than guess, so
    nothing is loaded unchecked (``tests/test_reliability_more.py`` fails too).
    """
    import keras

    try:
        from keras.src.saving import serialization_lib

        return serialization_lib.in_safe_mode() is False
    except (ImportError, AttributeError) as error:
        raise RuntimeError(
            f"Cannot tell whether Keras {keras.__version__} is in safe mode ({error}); "
            "utils.model_files reads keras.src.saving.serialization_lib.in_safe_mode(), "
            "which this version lacks. Use the Keras version that constraints.txt pins."
        ) from None
