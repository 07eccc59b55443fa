"""Check cells: one ``check(condition, claim)`` for every claim a chapter makes.

A chapter's text states what its experiments show, for the settings it ships
with. Each such claim is guarded by a check cell. Under CI and the tests (where
the settings are the chapter's own) a claim that no longer holds must stop the
run: ``check`` raises :class:`ClaimNotMet`. A reader who changed a setting may
legitimately see another outcome; for them ``check`` shows a visible warning
that names the claim, the settings it was written for and the reader's values,
and the chapter runs on. Introduced in chapter 00.

Strict mode (raise) is on when ``TLBOOK_CHECKS=strict``, when ``CI`` is set to
a true value, or inside pytest; ``TLBOOK_CHECKS=warn`` forces warnings.

Claims about wall-clock time go through :func:`check_timing` instead, which
warns everywhere and never raises: a timing depends on the machine and on what
else runs on it, so one slow step is not a wrong claim (a benchmark, not a
check cell, measures speed).
"""

from __future__ import annotations

import html
import inspect
import os

_TRUE = {"1", "true", "yes", "on"}
_written_for: dict[str, object] = {}


class ClaimNotMet(AssertionError):
    """A chapter's claim does not hold for the settings it was written for."""


def strict() -> bool:
    """True where a failed check must stop the run (CI, tests, the site build)."""
    mode = os.environ.get("TLBOOK_CHECKS", "").strip().lower()
    if mode in ("strict", "warn"):
        return mode == "strict"
    if mode:
        raise ValueError(f"TLBOOK_CHECKS must be 'strict' or 'warn', got {mode!r}.")
    ci = os.environ.get("CI", "").strip().lower() in _TRUE
    return ci or "PYTEST_CURRENT_TEST" in os.environ


def written_for(**settings) -> None:
    """Record the settings the chapter's claims were written for (its defaults).

    Call it once, after the settings cell, with the default values written out;
    a failed check then lists every setting the reader changed.
    """
    _written_for.clear()
    _written_for.update(settings)


def changed_settings(namespace: dict) -> dict[str, tuple[object, object]]:
    """Settings whose value in ``namespace`` differs from the recorded default."""
    return {
        name: (default, namespace[name])
        for name, default in _written_for.items()
        if name in namespace and namespace[name] != default
    }


class _Notice:
    """A warning box that renders in JupyterLab and on the website, and as text."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        body = html.escape(self.text).replace("\n", "<br>")
        return (
            '<div class="tlbook-check-warning" style="border-left:4px solid #d97706;'
            'background:#fff7ed;color:#3b2a12;padding:0.5em 0.8em;margin:0.4em 0">'
            f"{body}</div>"
        )


def _message(claim: str, observed: str | None, changed: dict) -> str:
    lines = [f"This claim does not hold in your run: {claim}"]
    if observed:
        lines.append(f"Observed: {observed}")
    if _written_for:
        defaults = ", ".join(f"{name}={value!r}" for name, value in _written_for.items())
        lines.append(f"The text was written for {defaults}.")
    if changed:
        yours = ", ".join(
            f"{name}={new!r} (default {old!r})" for name, (old, new) in changed.items()
        )
        lines.append(f"You changed {yours}: a different outcome can be a real finding.")
    else:
        lines.append(
            "Your settings look like the defaults: if you did not change anything else, "
            "please report this."
        )
    return "\n".join(lines)


def _require_claim(claim, function: str) -> None:
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(
            f"{function}() needs the claim in words, for example 'fine-tuning beats ...'."
        )


def _show(message: str) -> None:
    try:
        from IPython.display import display

        display(_Notice(message))
    except ImportError:  # plain Python: print instead
        print(message)


def check(condition, claim: str, observed: str | None = None) -> None:
    """Guard one claim of the text: raise in CI and tests, warn a reader and go on.

    ``claim`` says in words what the text claims; ``observed`` (optional) gives
    the numbers that were measured. Returns nothing, like ``assert``, so that
    a check at the end of a cell adds no output to the page.
    """
    _require_claim(claim, "check")
    if bool(condition):
        return
    caller = inspect.currentframe().f_back
    changed = changed_settings(caller.f_globals) if caller is not None else {}
    message = _message(claim, observed, changed)
    if strict():
        raise ClaimNotMet(message)
    _show(message)


def check_timing(condition, claim: str, observed: str | None = None) -> None:
    """Guard a claim about wall-clock time: warn when it fails, everywhere.

    Like :func:`check`, but it never raises, not even in CI: timings vary
    with the machine and its load (on the book's 2-core machine, chapter 03's
    timing of the head-only step varied by more than half over three runs),
    so a failed timing claim is shown as a warning and the chapter runs on.
    """
    _require_claim(claim, "check_timing")
    if bool(condition):
        return
    _show(
        f"This timing claim does not hold in this run: {claim}\n"
        + (f"Observed: {observed}\n" if observed else "")
        + "Timings depend on the machine and on what else runs on it; "
        "run the cell again on a quiet machine to see whether it holds there."
    )


def load_average() -> float | None:
    """The machine's load average over the last minute, or None where the system keeps
    none (Windows). A timing taken while other programs ran is not a measurement."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def describe_load() -> str:
    """``"load average 0.4 on 2 cores"``, for the line printed beside a timing."""
    load = load_average()
    average = "no load average" if load is None else f"load average {load:.1f}"
    return f"{average} on {os.cpu_count()} cores"
