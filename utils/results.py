"""Headline numbers of each chapter, collected on the book's results page.

A chapter calls :func:`record` for the few numbers worth collecting; the
results page (``book/results.md``) pastes them with MyST-NB's cross-page
``glue`` role, so the page shows what the chapters computed when they last
ran, never retyped numbers. In JupyterLab ``record`` only stores the value
invisibly in the notebook. Introduced in chapter 00.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import warnings

import numpy as np

KEY_PATTERN = re.compile(r"^ch\d\d_[a-z0-9_]+$")


def record(key: str, value: float | int | str) -> float | int | str:
    """Store ``value`` under ``key`` (such as ``"ch00_probe_imagenet"``) and return it.

    A NumPy number (``np.float32(0.9)``) is stored and returned as the Python number.
    The website build reads the stored values (myst-nb's ``glue``); where myst-nb
    is not installed, as on Colab, the value is checked and returned only.
    """
    if not KEY_PATTERN.match(key):
        raise ValueError(f"result keys look like 'ch04_test_accuracy', got {key!r}")
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"record numbers or short text, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key} is {value}: only finite numbers can be recorded")
    try:
        from myst_nb import glue
    except ImportError:  # no site build here (Colab, a bare kernel): nothing collects it
        return value
    glue(key, value, display=False)
    return value


def _runs_path(name: str, settings: dict):
    from utils import assets

    if not re.fullmatch(r"ch\d\d_[a-z0-9_]+", name):
        raise ValueError(f"run names look like 'ch05_three_ways', got {name!r}")
    text = json.dumps(settings, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return assets.cache_dir() / "runs" / f"{name}-{digest}.npz", text


def save_runs(name: str, settings: dict, arrays: dict[str, np.ndarray]):
    """Keep a chapter's per-run outcomes on disk for a later chapter.

    ``arrays`` (for example one row of correct/incorrect per seed and test
    image, per method) are saved in the cache folder under ``name`` and
    ``settings``, the values they were measured with: runs made with other
    settings (a reader's experiment) go to another file and never replace
    them. The file is written to a temporary name and renamed. If it cannot
    be written (a read-only or full disk) the chapter goes on with a warning,
    and a later chapter says that the runs are missing. Returns the path, or
    None. Introduced in chapter 05.
    """
    path, text = _runs_path(name, settings)
    buffer = io.BytesIO()
    np.savez(buffer, settings=text, **arrays)
    try:
        from utils import assets

        return assets.atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        warnings.warn(
            f"could not keep the runs {name!r} in {path.parent} ({error}); "
            "set TLBOOK_CACHE_DIR to a writable folder to share them with later chapters",
            stacklevel=2,
        )
        return None


def load_runs(name: str, settings: dict) -> tuple[dict[str, np.ndarray] | None, str]:
    """The arrays :func:`save_runs` kept under ``name``, if measured with ``settings``.

    Returns ``(arrays, message)``: the arrays and where they came from, or
    ``None`` and why not (never saved with these settings on this computer,
    or unreadable). Introduced in chapter 07.
    """
    path, text = _runs_path(name, settings)
    if not path.is_file():
        return None, f"no runs {name!r} with these settings here: run the chapter that makes them"
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["settings"]) != text:
                raise ValueError("the settings stored in the file differ from its name")
            arrays = {key: stored[key] for key in stored.files if key != "settings"}
    except (OSError, ValueError, KeyError) as error:
        return None, f"the saved runs {name!r} in {path} cannot be read ({error})"
    return arrays, f"runs {name!r} with these settings, read from the cache folder"
