"""Tests of utils.results.record: keys and values are checked before they are stored."""

import sys

import numpy as np
import pytest

from utils import results


def test_record_returns_the_value():
    assert results.record("ch00_probe_imagenet", 0.85) == 0.85
    assert results.record("ch04_source", "ImageNet") == "ImageNet"


def test_record_takes_numpy_numbers_as_python_numbers():
    value = results.record("ch04_x", np.float32(0.9))
    assert type(value) is float and value == pytest.approx(0.9)
    assert type(results.record("ch04_n", np.int64(3))) is int
    with pytest.raises(ValueError):
        results.record("ch04_b", np.bool_(True))


@pytest.mark.parametrize("key", ["probe", "ch0_x", "ch00-x", "CH00_x", "ch00_"])
def test_bad_keys_are_rejected(key):
    with pytest.raises(ValueError, match="keys"):
        results.record(key, 1.0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, [1, 2], True])
def test_bad_values_are_rejected(value):
    with pytest.raises(ValueError):
        results.record("ch00_x", value)


# --------------------------------------------------------------------------- runs kept on disk

SETTINGS = {"train_per_class": 300, "seeds": (0, 1, 2), "lr": 1e-4}


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_saved_runs_come_back_with_the_same_settings(private_cache):
    correct = np.array([[True, False], [True, True]])
    path = results.save_runs("ch05_demo", SETTINGS, {"fine-tuning": correct})
    assert path.parent == private_cache / "runs" and path.name.startswith("ch05_demo-")
    arrays, message = results.load_runs("ch05_demo", dict(SETTINGS))
    np.testing.assert_array_equal(arrays["fine-tuning"], correct)
    assert "read from" in message
    assert not list((private_cache / "runs").glob("*.part"))


def test_runs_with_other_settings_or_none_are_refused_with_a_reason(private_cache):
    arrays, message = results.load_runs("ch05_demo", SETTINGS)
    assert arrays is None and "no runs" in message
    results.save_runs("ch05_demo", SETTINGS, {"a": np.zeros(3)})
    arrays, message = results.load_runs("ch05_demo", {**SETTINGS, "lr": 1e-3})
    assert arrays is None and "with these settings" in message


def test_a_readers_runs_never_replace_the_books(private_cache):
    results.save_runs("ch05_demo", SETTINGS, {"a": np.ones(2)})
    results.save_runs("ch05_demo", {**SETTINGS, "seeds": (3,)}, {"a": np.zeros(2)})
    arrays, _ = results.load_runs("ch05_demo", SETTINGS)
    np.testing.assert_array_equal(arrays["a"], np.ones(2))


def test_unreadable_runs_are_refused_with_a_reason(private_cache):
    path = results.save_runs("ch05_demo", SETTINGS, {"a": np.ones(2)})
    path.write_bytes(b"not an npz file")
    arrays, message = results.load_runs("ch05_demo", SETTINGS)
    assert arrays is None and "cannot be read" in message


def test_a_failed_save_warns_and_keeps_the_old_file(private_cache, monkeypatch):
    results.save_runs("ch05_demo", SETTINGS, {"a": np.ones(2)})

    def fail(path, payload):
        raise OSError("disk full")

    monkeypatch.setattr("utils.assets.atomic_write_bytes", fail)
    with pytest.warns(UserWarning, match="TLBOOK_CACHE_DIR"):
        assert results.save_runs("ch05_demo", SETTINGS, {"a": np.zeros(2)}) is None
    arrays, _ = results.load_runs("ch05_demo", SETTINGS)
    np.testing.assert_array_equal(arrays["a"], np.ones(2))


def test_bad_run_names_are_rejected():
    with pytest.raises(ValueError, match="run names"):
        results.save_runs("../escape", SETTINGS, {})


def test_record_works_without_myst_nb(monkeypatch):
    # Colab has no myst-nb: record checks the value and returns it
    monkeypatch.setitem(sys.modules, "myst_nb", None)
    assert results.record("ch00_colab_value", 0.5) == 0.5
    with pytest.raises(ValueError, match="result keys"):
        results.record("bad key", 0.5)
