"""The one check helper: raises in CI and tests, warns a reader and goes on."""

import os

import pytest

from utils import checks


@pytest.fixture
def reader(monkeypatch):
    """A reader's session: no CI, no pytest marker, no override.

    pytest sets PYTEST_CURRENT_TEST again when the test body starts, so each
    test calls the function this fixture yields to remove it there.
    """
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("TLBOOK_CHECKS", raising=False)
    checks.written_for(SEED=0, IMAGE_SIZE=32)
    yield lambda: monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    checks.written_for()


def test_a_claim_that_holds_returns_true(reader):
    reader()
    assert checks.check(1 > 0, "one is positive") is None  # no output in a cell


def test_inside_pytest_a_failed_claim_raises_with_the_claim():
    with pytest.raises(checks.ClaimNotMet, match="fine-tuning beats feature extraction"):
        checks.check(False, "fine-tuning beats feature extraction", observed="-0.01")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_ci_makes_checks_strict(reader, monkeypatch, value):
    reader()
    monkeypatch.setenv("CI", value)
    with pytest.raises(checks.ClaimNotMet):
        checks.check(False, "a claim")


def test_a_reader_gets_a_warning_naming_claim_and_changed_settings(reader, capsys):
    reader()
    globals()["IMAGE_SIZE"] = 64  # the reader changed it; check() reads the caller's globals
    try:
        held = checks.check(False, "block3 beats block5", observed="0.81 vs 0.84")
    finally:
        del globals()["IMAGE_SIZE"]
    out = capsys.readouterr().out
    assert held is None
    assert "block3 beats block5" in out and "0.81 vs 0.84" in out
    assert "SEED=0, IMAGE_SIZE=32" in out
    assert "IMAGE_SIZE=64 (default 32)" in out


def test_default_settings_ask_the_reader_to_report(reader, capsys):
    reader()
    checks.check(False, "a claim")
    assert "report" in capsys.readouterr().out


def test_warn_mode_overrides_ci(reader, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("TLBOOK_CHECKS", "warn")
    assert checks.check(False, "a claim") is None


def test_bad_mode_and_empty_claim_are_errors(monkeypatch):
    with pytest.raises(ValueError, match="claim in words"):
        checks.check(True, " ")
    monkeypatch.setenv("TLBOOK_CHECKS", "loud")
    with pytest.raises(ValueError, match="TLBOOK_CHECKS"):
        checks.strict()


def test_the_warning_renders_as_html():
    notice = checks._Notice("a < b\nsecond line")
    assert "a &lt; b<br>second line" in notice._repr_html_()


def test_a_timing_claim_warns_even_in_ci(monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    assert checks.check_timing(False, "A is twice as fast", observed="1.4x") is None
    out = capsys.readouterr().out
    assert "A is twice as fast" in out and "1.4x" in out and "quiet machine" in out
    assert checks.check_timing(True, "A is twice as fast") is None
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="claim in words"):
        checks.check_timing(True, "")


def test_load_is_described_where_the_system_keeps_it(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.42, 0.3, 0.2))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert checks.load_average() == 0.42
    assert checks.describe_load() == "load average 0.4 on 2 cores"


def test_no_load_average_on_windows(monkeypatch):
    monkeypatch.delattr(os, "getloadavg")  # Windows has none
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert checks.load_average() is None
    assert checks.describe_load() == "no load average on 4 cores"
