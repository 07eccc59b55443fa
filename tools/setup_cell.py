"""Write the Colab set-up cell into every chapter, or check that it is there and current.

    python -m tools.setup_cell           # insert or update the cell in each chapter
    python -m tools.setup_cell --check   # exit 1, naming the chapters, if any is not current

Each chapter listed in ``_toc.yml`` gets one code cell right after its title,
with the cell id ``colab-setup`` and the tag ``remove-cell`` (Jupyter Book
leaves it off the website). Only when ``COLAB_RELEASE_TAG`` is set, which
Google Colab sets in every runtime, it clones the repository
(``repository.url`` in ``_config.yml``) at the book's version tag (``v`` +
``version`` in ``pyproject.toml``) and calls ``tools.colab.set_up``.
Everywhere it then imports ``utils``, before the chapter's imports start
TensorFlow: ``utils`` sets TensorFlow's log level and checks Keras's backend
(``utils/__init__.py``), which must happen before TensorFlow and Keras start.
``TLBOOK_REPO``, ``TLBOOK_TAG`` and ``TLBOOK_DIR`` override the repository,
the tag and the folder it is cloned into (tests/test_colab_path.py points them
at a local copy). Run this again after changing the version or the URL; the
notebooks are written as they are committed (one-space indent, no outputs),
and a chapter whose cell is already current is not rewritten.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

import yaml

from tools import toc

ROOT = Path(__file__).resolve().parent.parent
CELL_ID = "colab-setup"
TAGS = ["remove-cell"]
CLONE_DIR = "/content/transfer-learning-hands-on"  # /content is Colab's working folder

TEMPLATE = """\
# Set-up. On Google Colab this cell clones the book at its version tag,
# installs only what Colab lacks (never TensorFlow or Keras) and checks the
# data and the weights (see the README). Anywhere, it then imports utils
# before TensorFlow starts, so that however Jupyter was started, TensorFlow's
# log level hides most of its start-up messages and a Keras backend other
# than TensorFlow is stopped with a message that says what to change.
import os
import subprocess
import sys

if "COLAB_RELEASE_TAG" in os.environ:  # Colab sets it; nothing else does
    BOOK_REPO = os.getenv(
        "TLBOOK_REPO", "{url}"
    )
    BOOK_TAG = os.getenv("TLBOOK_TAG", "{tag}")
    BOOK_DIR = os.getenv("TLBOOK_DIR", "{clone_dir}")
    if not os.path.isdir(BOOK_DIR):
        git = ["git", "-c", "advice.detachedHead=false", "clone", "-q"]
        git += ["--depth=1", "--branch", BOOK_TAG, BOOK_REPO, BOOK_DIR]
        subprocess.run(git, check=True)
    sys.path.insert(0, BOOK_DIR)
    from tools.colab import set_up

    set_up(BOOK_DIR)
    os.chdir(BOOK_DIR)

import utils  # noqa: F401
"""


def repository_url(root: Path = ROOT) -> str:
    """The repository's URL: ``repository.url`` in ``_config.yml``, the one place that names it."""
    return yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"]


def version_tag(root: Path = ROOT) -> str:
    """The git tag of this version of the book: ``v`` + ``project.version`` of pyproject.toml."""
    return "v" + tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def cell_source(root: Path = ROOT) -> str:
    """The set-up cell's code for this repository and version."""
    return TEMPLATE.format(url=repository_url(root), tag=version_tag(root), clone_dir=CLONE_DIR)


def setup_cell(root: Path = ROOT) -> dict:
    """The set-up cell as it is stored in a notebook (no outputs)."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": CELL_ID,
        "metadata": {"tags": list(TAGS)},
        "outputs": [],
        "source": cell_source(root).rstrip("\n").splitlines(keepends=True),
    }


def with_setup_cell(notebook: dict, cell: dict) -> dict:
    """``notebook`` with ``cell`` right after its title cell, replacing any earlier copy."""
    cells = [c for c in notebook["cells"] if c.get("id") != CELL_ID]
    return {**notebook, "cells": [*cells[:1], cell, *cells[1:]]}


def dumps(notebook: dict) -> str:
    """The notebook's JSON as the chapters are committed."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def outdated(root: Path = ROOT) -> list[Path]:
    """Chapters whose set-up cell is missing, not right after the title, or not current."""
    cell = setup_cell(root)
    stale = []
    for path in toc.chapters(root):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if notebook != with_setup_cell(notebook, cell):
            stale.append(path)
    return stale


def write(root: Path = ROOT) -> list[Path]:
    """Insert or update the set-up cell in every chapter; return the chapters changed."""
    cell = setup_cell(root)
    changed = []
    for path in toc.chapters(root):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        updated = with_setup_cell(notebook, cell)
        if updated != notebook:
            path.write_text(dumps(updated), encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; change nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = outdated()
        for path in stale:
            print(f"{path.relative_to(ROOT)}: the Colab set-up cell is missing or not current")
        if stale:
            print("Run `python -m tools.setup_cell` to write it.")
        return 1 if stale else 0
    for path in write():
        print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
