"""Tests of utils.results.record: keys and values are checked before they are stored."""

import pytest

from utils import results


def test_record_returns_the_value():
    assert results.record("ch00_probe_imagenet", 0.85) == 0.85
    assert results.record("ch04_source", "ImageNet") == "ImageNet"


@pytest.mark.parametrize("key", ["probe", "ch0_x", "ch00-x", "CH00_x", "ch00_"])
def test_bad_keys_are_rejected(key):
    with pytest.raises(ValueError, match="keys"):
        results.record(key, 1.0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, [1, 2], True])
def test_bad_values_are_rejected(value):
    with pytest.raises(ValueError):
        results.record("ch00_x", value)
