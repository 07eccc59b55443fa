"""One knob for the size of every experiment: the scale preset.

Each chapter's settings cell (tagged ``parameters``, papermill's convention)
takes its scale-dependent values, such as the image size, the labels per
class and the epochs, from :func:`pick`, for the preset named by the
environment variable ``TLBOOK_SCALE``:

- ``laptop`` (the default, and what CI runs): the values the text and its
  checks were written for, sized for a 2-core laptop;
- ``workstation``: many CPU cores, no GPU: larger images, more labels, more
  epochs;
- ``gpu``: one or more GPUs: larger still, epochs to convergence.

Values set after the settings cell (a reader's edit, or the cell papermill
inserts for ``tools/run_chapter.py -p NAME VALUE``) override the preset.
Introduced in chapter 00.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PRESETS = ("laptop", "workstation", "gpu")
VARIABLE = "TLBOOK_SCALE"
ROOT = Path(__file__).resolve().parent.parent  # the book's folder
_KEEP = object()  # pick(): "this preset was left out"


def name() -> str:
    """The preset in ``TLBOOK_SCALE``: ``"laptop"`` when unset or empty.

    Case and surrounding spaces are ignored; any other name raises ValueError.
    """
    value = os.environ.get(VARIABLE, "").strip().lower()
    if not value:
        return PRESETS[0]
    if value not in PRESETS:
        raise ValueError(
            f"{VARIABLE}={os.environ[VARIABLE]!r} is not a scale preset: "
            f"use one of {', '.join(PRESETS)} (or leave it unset for laptop)."
        )
    return value


def pick(*, laptop, workstation=_KEEP, gpu=_KEEP):
    """The value for the current preset (see :func:`name`).

    ``laptop`` is required. A preset left out keeps the value of the next
    smaller preset: without ``gpu`` the gpu preset gets the ``workstation``
    value, and without both every preset gets the ``laptop`` value. So
    ``pick(laptop=32, workstation=64)`` is 32, 64 and 64. A chapter leaves a
    preset out on purpose, where a larger value would not suit its code or
    its experiment; its settings cell says why.
    """
    values = {"laptop": laptop}
    values["workstation"] = laptop if workstation is _KEEP else workstation
    values["gpu"] = values["workstation"] if gpu is _KEEP else gpu
    return values[name()]


def devices() -> list[str]:
    """The devices TensorFlow finds, such as ``["CPU:0", "GPU:0"]``.

    Uses ``tf.config.list_physical_devices`` only, which creates no logical
    device, so ``tf.config.set_logical_device_configuration`` still works
    afterwards (chapter 11 splits the CPU into two).
    """
    import tensorflow as tf

    found = tf.config.list_physical_devices()
    return [device.name.removeprefix("/physical_device:") for device in found]


def _measured_costs(chapter: str, root: Path) -> dict[str, str]:
    """What running ``chapter`` cost, by preset, as measured on this copy of the book.

    laptop: the row of ``benchmarks/results.json`` (``make bench``); any
    preset: the newest successful record of ``make run`` in ``_build/runs``.
    """
    costs = {}
    bench = root / "benchmarks" / "results.json"
    try:
        measured = json.loads(bench.read_text())
        machine = measured["machine"]
        row = next(r for r in measured["chapters"] if r["chapter"] == chapter)
        if row["status"] == "ok":
            when = row.get("date", machine["date"])  # rows measured on another day keep theirs
            costs["laptop"] = (
                f"{row['seconds'] / 60:.1f} min and {row['peak_mib'] / 1024:.1f} GiB "
                f"on {machine['cpu_cores']} CPU cores (make bench, {when})"
            )
    except (OSError, ValueError, KeyError, StopIteration):
        pass  # not measured on this copy: the line says so
    for record_path in sorted((root / "_build" / "runs").glob(f"{chapter}-*.json")):
        try:
            record = json.loads(record_path.read_text())
            if record["status"] == "ok" and record["preset"] in PRESETS:
                shown = ", ".join(record["devices"]) or "no device"
                costs[record["preset"]] = (
                    f"{record['wall_seconds'] / 60:.1f} min and "
                    f"{record['peak_memory_mib'] / 1024:.1f} GiB on {shown} "
                    f"(make run, {record['started'][:10]})"
                )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # an unreadable record is no measurement
    return costs


def describe(chapter: str, root: Path | None = None) -> str:
    """The lines :func:`report` prints for ``chapter``, measured in ``root`` (the book)."""
    if not isinstance(chapter, str) or not chapter.strip():
        raise ValueError(f"name the chapter, like '05_fine_tuning'; got {chapter!r}")
    preset = name()
    how = f"{VARIABLE}={preset}" if os.environ.get(VARIABLE, "").strip() else "the default"
    found = devices()
    cores = os.cpu_count() or 1
    shown = ", ".join(found) if found else "none"
    line = f"Scale preset: {preset} ({how}); devices: {shown} ({cores} CPU cores)"
    costs = _measured_costs(chapter, ROOT if root is None else root)
    if preset in costs:
        return f"{line}\nMeasured cost at {preset}: {costs[preset]}"
    known = "; ".join(f"{key}: {text}" for key, text in costs.items())
    return f"{line}\nCost at {preset}: not measured yet" + (f" ({known})" if known else "")


def report(chapter: str) -> None:
    """Print the preset, the devices TensorFlow found and what the chapter costs there.

    The cost is a measurement, never a guess: ``make bench`` measures every
    chapter at the laptop preset, and ``make run`` records each run at any
    preset; where neither has run, the line says so. Returns nothing, so
    that the settings cell shows only the printed lines.
    """
    print(describe(chapter))
