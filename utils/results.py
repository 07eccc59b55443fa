"""Headline numbers of each chapter, collected on the book's results page.

A chapter calls :func:`record` for the few numbers worth collecting; the
results page (``book/results.md``) pastes them with MyST-NB's cross-page
``glue`` role, so the page shows what the chapters computed when they last
ran, never retyped numbers. In JupyterLab ``record`` only stores the value
invisibly in the notebook. Introduced in chapter 00.
"""

from __future__ import annotations

import math
import re

KEY_PATTERN = re.compile(r"^ch\d\d_[a-z0-9_]+$")


def record(key: str, value: float | int | str) -> float | int | str:
    """Store ``value`` under ``key`` (such as ``"ch00_probe_imagenet"``) and return it."""
    if not KEY_PATTERN.match(key):
        raise ValueError(f"result keys look like 'ch04_test_accuracy', got {key!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"record numbers or short text, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key} is {value}: only finite numbers can be recorded")
    from myst_nb import glue

    glue(key, value, display=False)
    return value
