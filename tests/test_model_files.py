"""Tests for utils.model_files: saving without breaking the old file, copies without
optimizer state, and loading ``.keras`` files with clear errors, once per version.

The model is a tiny stand-in (the ``grey_model`` fixture of conftest.py), so
the whole file runs in seconds. ``tests/test_reliability_more.py`` checks that
no file is loaded while Keras's unsafe deserialization is on.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
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


def test_weights_only_copy_leaves_out_every_optimizer_nested_ones_too(tmp_path):
    keras.utils.set_random_seed(0)
    head = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(4, "softmax")],
        name="head",
    )
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).random((16, 6)), np.arange(16) % 4
    head.fit(x, y, epochs=1, verbose=0)  # the head now carries Adam's state
    outer = keras.Sequential([keras.Input((6,)), head], name="outer")
    outer.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")

    copy = model_files.weights_only_copy(outer)
    assert not copy.compiled and not copy.layers[0].compiled  # from_config compiles the head
    assert [layer.name for layer in copy.layers] == ["head"]
    for a, b in zip(copy.get_weights(), outer.get_weights(), strict=True):
        assert np.array_equal(a, b)
    copy.save(tmp_path / "copy.keras")
    with zipfile.ZipFile(tmp_path / "copy.keras") as archive:
        assert "optimizer" not in archive.read("config.json").decode()
        with archive.open("model.weights.h5") as handle:
            names = []
            h5py.File(handle, "r").visit(names.append)
    assert not [n for n in names if "optimizer" in n], names


# --------------------------------------------------------------------------- saving models


class _InterruptedSave:
    """A model whose save starts like Keras's (empties the file) and is then interrupted."""

    def save(self, path):
        Path(path).write_bytes(b"PK")  # the start of a zip archive, then Ctrl-C
        raise KeyboardInterrupt


def _small_model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])


def test_save_model_writes_a_keras_file_that_loads(tmp_path):
    model = _small_model(0)
    path = model_files.save_model(model, tmp_path / "new" / "m.keras")
    assert path == tmp_path / "new" / "m.keras"
    for a, b in zip(keras.models.load_model(path).get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the temporary file's 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.keras"]


def test_save_model_replaces_the_old_file_only_when_the_new_one_is_complete(tmp_path):
    path = model_files.save_model(_small_model(0), tmp_path / "m.keras")
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        model_files.save_model(_InterruptedSave(), path)
    assert path.read_bytes() == before  # the old model is intact ...
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]  # ... and no temporary file is left
    keras.models.load_model(path)
    newer = _small_model(1)
    model_files.save_model(newer, path)
    np.testing.assert_array_equal(
        keras.models.load_model(path).get_weights()[0], newer.get_weights()[0]
    )


def test_save_model_wants_a_keras_file_name(tmp_path):
    with pytest.raises(ValueError, match="writes .keras files, not"):
        model_files.save_model(_small_model(0), tmp_path / "m.h5")
    assert not list(tmp_path.iterdir())


def test_a_chapter_model_keeps_the_old_model_when_interrupted(tmp_path, monkeypatch):
    from utils import finetune

    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path))
    path = model_files.save_model(_small_model(0), finetune.model_path("ch06_model"))
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        model_files.save_model(_InterruptedSave(), finetune.model_path("ch06_model"))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["ch06_model.keras"]
