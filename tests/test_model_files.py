"""Tests for utils.model_files: loading ``.keras`` files with clear errors, once per version.

The model is a tiny stand-in (the ``grey_model`` fixture of conftest.py), so
the whole file runs in seconds. ``tests/test_reliability_more.py`` checks that
no file is loaded while Keras's unsafe deserialization is on.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import pytest

from utils import model_files


def test_damaged_keras_files_are_not_called_missing(tmp_path, grey_model, saved_grey_model):
    whole = Path(saved_grey_model).read_bytes()
    damaged = bytearray(whole)
    with zipfile.ZipFile(saved_grey_model) as archive:
        weights_at = archive.getinfo("model.weights.h5").header_offset
    damaged[weights_at + 200] ^= 0xFF  # inside the stored weights: a bad CRC
    grey_model.save(tmp_path / "legacy.h5")
    files = {
        "truncated.keras": (whole[: len(whole) // 2], "not a zip archive"),
        "empty.keras": (b"", "empty"),
        "text.keras": (b"hello\n", "not a zip archive"),
        "legacy.keras": ((tmp_path / "legacy.h5").read_bytes(), "legacy HDF5"),
        "bad_crc.keras": (bytes(damaged), "damaged"),
    }
    for name, (content, problem) in files.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(model_files.ModelFileError) as caught:
            model_files.load_model(tmp_path / name)
        message = str(caught.value)
        assert f"{tmp_path / name} is not a valid .keras file: it exists" in message, message
        assert problem in message and "File not found" not in message
        assert isinstance(caught.value, ValueError)


def test_saved_model_is_loaded_once_then_reloaded_when_the_file_changes(
    tmp_path, grey_model, saved_grey_model
):
    first = model_files.load_model(saved_grey_model)
    assert model_files.load_model(saved_grey_model) is first
    copy = tmp_path / "copy.keras"
    grey_model.save(copy)
    loaded = model_files.load_model(copy)
    assert loaded is not first
    Path(copy).unlink()
    keras.utils.set_random_seed(1)
    other = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    other.save(copy)
    assert model_files.load_model(copy) is not loaded
