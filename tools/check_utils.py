"""Check that a chapter's ``import utils`` finds this book's helper package.

    python tools/check_utils.py     # silent if so; otherwise a message and exit status 1

``utils`` is a common name. Another installed package called ``utils``, or a
``utils.py`` or ``utils/`` folder on PYTHONPATH or in ``notebooks/``, comes
before the book's package on Python's path (the editable install's finder
comes last), so a chapter's ``from utils import data`` fails or runs someone
else's code. This script looks ``utils`` up as a kernel started in
``notebooks/`` does (that folder first on the path, not the repository),
without importing it, and checks that it is the package in this folder; a
``utils`` elsewhere that carries the book's marker (``BOOK`` in
``utils/__init__.py``) is another copy of the book. ``make setup``,
``make lab`` and Binder's ``postBuild`` run it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = 'BOOK = "transfer-learning-hands-on"'  # in this book's utils/__init__.py


def problem(root: Path = ROOT) -> str | None:
    """What is wrong with ``import utils`` in a chapter of the book in ``root``, or None."""
    sys.path[0] = str(root / "notebooks")  # not this script's folder: a kernel's working folder
    spec = importlib.util.find_spec("utils")
    if spec is None:
        return (
            f"this Python ({sys.executable}) cannot import the book's package `utils`: it is "
            "not installed, or installed from a folder that moved. Rebuild the environment: "
            "`rm -rf .venv && make setup` (or `pip install -e .` in the book's folder)."
        )
    # The package's folder (utils/__init__.py or a folder without one), or the module utils.py.
    if spec.origin:
        origin = Path(spec.origin)
        found = origin.parent if origin.name == "__init__.py" else origin
    else:
        found = Path(next(iter(spec.submodule_search_locations or []), "utils"))
    if found.resolve() == (root / "utils").resolve():
        return None
    try:
        book_copy = MARKER in (found / "__init__.py").read_text(errors="replace")
    except OSError:
        book_copy = False
    if book_copy:
        return (
            f"`import utils` in a chapter finds the book's package in another copy of the book "
            f"({found}), not this one ({root / 'utils'}): this environment was installed from "
            "there. Give this copy its own: `rm -rf .venv && make setup` in this folder."
        )
    owners = [
        name
        for name in sorted(set(importlib.metadata.packages_distributions().get("utils", [])))
        if Path(importlib.metadata.distribution(name).locate_file("")).resolve()
        == found.parent.resolve()
    ]
    remedy = (
        f"uninstall it (`pip uninstall {' '.join(owners)}`)"
        if owners
        else "move it off Python's path (PYTHONPATH, notebooks/)"
    )
    return (
        f"`import utils` in a chapter finds {found}, not this book's helper package "
        f"({root / 'utils'}): another package named `utils` comes first on Python's path, and "
        f"the chapters would fail or run its code. To use the book here, {remedy}."
    )


def main() -> int:
    message = problem()
    if message:
        print(f"check_utils: {message}", file=sys.stderr)
    return 1 if message else 0


if __name__ == "__main__":
    sys.exit(main())
