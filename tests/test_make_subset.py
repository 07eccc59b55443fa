"""Tests for tools/make_subset.py: the IDX writer and the regeneration of the bundled subset."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tools import make_subset
from utils import assets, data, idx
from utils.assets import sha256_file

REPO = Path(__file__).resolve().parent.parent

needs_full = pytest.mark.skipif(
    not all((make_subset.default_source() / name).is_file() for name in data.FILE_NAMES),
    reason="the official IDX files are not installed "
    "(sudo apt-get install dataset-fashion-mnist, or copy them into Keras's cache)",
)


# --------------------------------------------------------------------------- the IDX writer


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip(tmp_path, dtype):
    array = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    path = make_subset.write_idx(tmp_path / "a.gz", array)
    back = idx.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_write_idx_is_deterministic(tmp_path):
    x = np.arange(5 * 28 * 28, dtype=np.uint8).reshape(5, 28, 28)
    first = make_subset.write_idx(tmp_path / "a.gz", x).read_bytes()
    second = make_subset.write_idx(tmp_path / "b.gz", x).read_bytes()
    assert first == second
    assert gzip.decompress(first)[:4] == b"\x00\x00\x08\x03"


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        make_subset.write_idx(tmp_path / "a.gz", np.zeros(3, dtype=np.int64))
    assert not (tmp_path / "a.gz").exists()


def test_failed_write_leaves_existing_file_untouched(tmp_path, monkeypatch):
    path = make_subset.write_idx(tmp_path / "labels.gz", np.arange(10, dtype=np.uint8))
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(assets.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        make_subset.write_idx(path, np.zeros(10, dtype=np.uint8))
    monkeypatch.undo()
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- the subset


@needs_full
def test_make_subset_reproduces_committed_bytes(tmp_path):
    out = tmp_path / "subset"
    result = subprocess.run(
        [sys.executable, "-m", "tools.make_subset", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    for name in data.FILE_NAMES:
        made, committed = out / name, data.BUNDLED_DIR / name
        assert gzip.decompress(made.read_bytes()) == gzip.decompress(committed.read_bytes()), (
            f"{name}: different images or labels than the committed subset"
        )
        assert made.read_bytes() == committed.read_bytes(), (
            f"{name}: same data, different gzip bytes (different zlib?)"
        )
        assert data.BUNDLED_SHA256[name] in result.stdout
    assert not list(out.glob(".staging-*")), "the staging folder was left behind"


def test_make_subset_failure_leaves_existing_subset_untouched(tmp_path, capsys):
    source, out = tmp_path / "source", tmp_path / "out"
    shutil.copytree(data.BUNDLED_DIR, source)
    shutil.copytree(data.BUNDLED_DIR, out)
    (source / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    assert make_subset.main(["--source", str(source), "--out", str(out)]) == 1
    assert "t10k-images-idx3-ubyte.gz" in capsys.readouterr().err
    for name in data.FILE_NAMES:
        assert sha256_file(out / name) == data.BUNDLED_SHA256[name]
    assert sorted(p.name for p in out.iterdir()) == sorted(data.FILE_NAMES)
