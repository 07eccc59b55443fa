"""Argument checks shared by the helpers, with one message style.

Each check returns the value as a plain Python ``int``, ``float`` or ``bool``,
or raises ``ValueError`` naming the argument, what it must be and what it got.
NumPy numbers are accepted; ``True`` and ``False`` are not numbers here.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def _bounds(low, high) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" of at least {low}"
    if high is not None:
        return f" of at most {high}"
    return ""


def whole_number(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int``, if it is a whole number within ``low`` and ``high`` (inclusive)."""
    whole = isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))
    if not whole or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be a whole number{_bounds(low, high)}, got {value!r}.")
    return int(value)


def _finite(value) -> bool:
    """A real number (NumPy's too, not a bool), neither NaN nor infinite."""
    real = isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
    return real and math.isfinite(value)


def finite_number(value, name: str) -> float:
    """``value`` as a ``float``, if it is a finite number (NaN and infinities are not)."""
    if not _finite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def positive_number(value, name: str) -> float:
    """``value`` as a ``float``, if it is a finite number above zero."""
    if not _finite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def flag(value, name: str) -> bool:
    """``value`` as a ``bool``, if it is True or False (NumPy's too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def row_numbers(rows, n: int, name: str = "rows") -> np.ndarray:
    """``rows`` as a 1-D integer array, if every entry is a row number in ``[0, n)``."""
    index = np.asarray(rows)
    if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(
            f"{name} must be a 1-D array of row numbers, got {index.dtype} {index.shape}."
        )
    if len(index) and (index.min() < 0 or index.max() >= n):
        raise ValueError(
            f"{name} must lie in [0, {n}), got values from {index.min()} to {index.max()}."
        )
    return index
