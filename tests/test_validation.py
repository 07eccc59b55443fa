"""Tests of utils.validation: the argument checks every helper shares."""

import math

import numpy as np
import pytest

from utils.validation import finite_number, flag, positive_number, row_numbers, whole_number


@pytest.mark.parametrize("value", [0, 7, np.int64(7), np.uint8(3)])
def test_whole_numbers_come_back_as_int(value):
    result = whole_number(value, "n", low=0)
    assert result == value and type(result) is int


@pytest.mark.parametrize("value", [2.0, 2.5, "2", None, True, np.bool_(True)])
def test_anything_else_is_not_a_whole_number(value):
    with pytest.raises(ValueError, match=r"^n must be a whole number, got "):
        whole_number(value, "n")


def test_whole_number_bounds_are_inclusive_and_named():
    assert whole_number(32, "size", low=32, high=224) == 32
    assert whole_number(224, "size", low=32, high=224) == 224
    with pytest.raises(ValueError, match=r"size must be a whole number from 32 to 224, got 31\."):
        whole_number(31, "size", low=32, high=224)
    with pytest.raises(ValueError, match="of at least 1, got 0"):
        whole_number(0, "batch_size", low=1)
    with pytest.raises(ValueError, match="of at most 5, got 6"):
        whole_number(6, "blocks", high=5)


@pytest.mark.parametrize("value", [1e-5, 3, np.float32(0.5), np.int64(2)])
def test_positive_numbers_come_back_as_float(value):
    result = positive_number(value, "rate")
    assert result == pytest.approx(float(value)) and type(result) is float


@pytest.mark.parametrize("value", [0, -1.0, math.inf, math.nan, "1", None, True])
def test_anything_else_is_not_a_positive_number(value):
    with pytest.raises(ValueError, match=r"^rate must be a positive number, got "):
        positive_number(value, "rate")


def test_flags_are_true_or_false_only():
    assert flag(True, "shuffle") is True and flag(np.bool_(False), "shuffle") is False
    for value in (0, 1, "yes", None):
        with pytest.raises(ValueError, match="shuffle must be True or False"):
            flag(value, "shuffle")


def test_row_numbers_come_back_as_an_integer_array():
    rows = row_numbers([3, 0, 2], 4)
    assert rows.tolist() == [3, 0, 2] and rows.dtype.kind == "i"
    assert row_numbers(np.array([], dtype=np.int64), 4).size == 0


@pytest.mark.parametrize(
    "rows, message",
    [
        ([0.0, 1.0], "1-D array of row numbers"),
        ([[0, 1]], "1-D array of row numbers"),
        ([True, False], "1-D array of row numbers"),
        ([0, 4], r"train must lie in \[0, 4\), got values from 0 to 4"),
        ([-1, 2], r"must lie in \[0, 4\)"),
    ],
)
def test_anything_else_is_not_row_numbers(rows, message):
    with pytest.raises(ValueError, match=message):
        row_numbers(rows, 4, "train")


@pytest.mark.parametrize("value", [0, 0.0, -2.5, np.float32(0.5), np.int64(-3)])
def test_finite_numbers_come_back_as_float(value):
    result = finite_number(value, "dropout")
    assert result == pytest.approx(float(value)) and type(result) is float


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, "0.5", None, True])
def test_anything_else_is_not_a_finite_number(value):
    with pytest.raises(ValueError, match=r"^dropout must be a finite number, got "):
        finite_number(value, "dropout")
