"""Tests of utils.assets: where the cache lives (TLBOOK_CACHE_DIR) and atomic writes.

The repository root and ``data/`` are replaced by temporary folders, so no
test creates anything inside the repository.
"""

import os
from pathlib import Path

import pytest

from utils import assets


@pytest.fixture()
def book(tmp_path, monkeypatch):
    """A stand-in repository root with a notebooks/ folder; the tests run from notebooks/."""
    root = tmp_path / "book"
    (root / "notebooks").mkdir(parents=True)
    monkeypatch.setattr(assets, "REPO_ROOT", root)
    monkeypatch.setattr(assets, "DATA_DIR", root / "data")
    monkeypatch.chdir(root / "notebooks")
    return root


def test_default_is_data_cache(book, monkeypatch):
    monkeypatch.delenv("TLBOOK_CACHE_DIR", raising=False)
    assert assets.cache_dir() == book / "data" / "cache"
    assert (book / "data" / "cache").is_dir()


def test_an_absolute_folder_is_used_as_it_is(book, tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path / "shared" / "cache"))
    assert assets.cache_dir() == tmp_path / "shared" / "cache"
    assert (tmp_path / "shared" / "cache").is_dir()


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_value_is_refused(book, monkeypatch, value):
    monkeypatch.setenv("TLBOOK_CACHE_DIR", value)
    with pytest.raises(ValueError, match="TLBOOK_CACHE_DIR is set but empty"):
        assets.cache_dir()
    assert not list((book / "notebooks").iterdir())  # nothing in the working folder


def test_a_tilde_is_expanded(book, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TLBOOK_CACHE_DIR", "~/tlcache")
    assert assets.cache_dir() == tmp_path / "home" / "tlcache"
    assert (tmp_path / "home" / "tlcache").is_dir()
    assert not (book / "notebooks" / "~").exists()


def test_a_relative_value_is_relative_to_the_repository_root(book, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE_DIR", "relcache")
    from_notebooks = assets.cache_dir()
    monkeypatch.chdir(book)  # where `make data` runs
    assert assets.cache_dir() == from_notebooks == book / "relcache"
    assert not (book / "notebooks" / "relcache").exists()


def test_an_existing_file_is_refused_with_the_variable_named(book, tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path / "a_file"))
    with pytest.raises(ValueError, match="TLBOOK_CACHE_DIR=.*a_file.* is a file, not a folder"):
        assets.cache_dir()


def test_a_folder_that_cannot_be_created_names_the_variable(book, tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path / "a_file" / "cache"))
    with pytest.raises(OSError, match=r"Cannot create the cache folder .*\(from TLBOOK_CACHE_DIR="):
        assets.cache_dir()


# --------------------------------------------------------------------------- atomic writes


def test_atomic_replace_keeps_the_old_file_when_the_block_fails(tmp_path):
    path = assets.atomic_write_bytes(tmp_path / "f.bin", b"old")
    with pytest.raises(KeyboardInterrupt), assets.atomic_replace(path) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_replace_renames_a_readable_file_into_place(tmp_path):
    path = tmp_path / "sub" / "f.keras"
    with assets.atomic_replace(path, suffix=".part.keras") as tmp:
        assert tmp.parent == path.parent and tmp.name.endswith(".part.keras")
        tmp.write_bytes(b"new")
    assert Path(path).read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["f.keras"]
