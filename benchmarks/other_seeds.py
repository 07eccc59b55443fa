"""A study: run chapters with seeds the book did not choose; list the claims that warned.

    .venv/bin/python benchmarks/other_seeds.py 3,4,5                 # every chapter
    .venv/bin/python benchmarks/other_seeds.py 2 04_feature_extraction

Each chapter runs once in a reader's session (``TLBOOK_CHECKS=warn``: a check
whose claim does not hold warns and the chapter runs on), with only its seed
settings changed: ``SEED`` becomes the first seed given, ``SEEDS`` and
``STUDENT_SEEDS`` all of them, where the chapter has them. The lines go at
the end of the settings cell, as a reader would type them. For each chapter
the script prints how long it ran and the claims that did not hold, and it
keeps the executed notebooks in ``_build/other_seeds/``. A claim that holds
only with the default seeds should say so ("with the default seeds"); any
other warning is a claim the text makes that these seeds do not support.
Chapters take as long as in ``make bench`` (about 15 minutes for all).
"""

from __future__ import annotations

import html
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "_build" / "other_seeds"


def seed_lines(settings_source: str, seeds: tuple[int, ...]) -> list[str]:
    """The lines that give a settings cell these seeds."""
    names = set(re.findall(r"^([A-Z_]+) = ", settings_source, re.M))
    lines = [f"SEED = {seeds[0]}"] if "SEED" in names else []
    lines += [f"{name} = {seeds!r}" for name in ("SEEDS", "STUDENT_SEEDS") if name in names]
    return lines


def warnings_in(notebook) -> list[str]:
    """The text of every check warning in an executed notebook."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            page = output.get("data", {}).get("text/html", "")
            if "tlbook-check-warning" in page:
                text = html.unescape(re.sub(r"<[^>]+>", " ", page))
                found.append(re.sub(r"\s+", " ", text).strip())
    return found


def run(chapter: str, seeds: tuple[int, ...]) -> None:
    path = ROOT / "notebooks" / f"{chapter}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    settings = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "checks.written_for(" in cell.source
    ]
    if len(settings) != 1:
        raise SystemExit(f"{chapter}: expected one settings cell with checks.written_for")
    lines = seed_lines(settings[0].source, seeds)
    settings[0].source += "\n# seeds the book did not choose\n" + "\n".join(lines)
    start = time.perf_counter()
    client = NotebookClient(
        notebook,
        timeout=1200,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
        status = "ran to the end"
    except Exception as error:  # a crash is a finding too: report it and go on
        status = f"stopped: {type(error).__name__}"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, OUT_DIR / f"{chapter}.ipynb")
    found = warnings_in(notebook)
    print(
        f"{chapter} with {', '.join(lines) or 'no seed settings'}: {status} in "
        f"{time.perf_counter() - start:.0f} s; {len(found)} claims did not hold",
        flush=True,
    )
    for text in found:
        print(f"  - {text[:400]}", flush=True)


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    seeds = tuple(int(seed) for seed in argv[0].split(","))
    chapters = argv[1:] or sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    os.environ.update(TLBOOK_CHECKS="warn", MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
    for chapter in chapters:
        run(chapter, seeds)


if __name__ == "__main__":
    main(sys.argv[1:])
