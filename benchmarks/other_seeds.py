"""A study: run chapters with seeds the book did not choose; list the claims that warned.

    .venv/bin/python benchmarks/other_seeds.py 3,4,5                 # every chapter
    .venv/bin/python benchmarks/other_seeds.py 2 04_feature_extraction

Each chapter runs once, as ``make run`` runs it (``tools/run_chapter.py``: the
laptop preset, a fresh kernel, papermill), with only its seed settings
changed: ``SEED`` becomes the first seed given, ``SEEDS`` and
``STUDENT_SEEDS`` all of them, where the chapter's settings cell has them.
With changed settings the checks warn instead of stopping the chapter
(``TLBOOK_CHECKS=warn``), so every claim is tried. For each chapter the
script prints how long it ran and the claims that did not hold; the executed
notebooks and their JSON records go to ``_build/other_seeds/``. A claim that
holds only with the default seeds should say so ("with the default seeds");
any other warning is a claim the text makes that these seeds do not support.
Chapters take as long as in ``make bench`` (about 15 minutes for all).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from tools import run_chapter  # noqa: E402

OUT_DIR = ROOT / "_build" / "other_seeds"


def seed_parameters(chapter: str, seeds: tuple[int, ...]) -> dict:
    """The chapter's seed settings, set to ``seeds``."""
    notebook = nbformat.read(run_chapter.find_chapter(chapter), as_version=4)
    _, names = run_chapter.settings_cell(notebook)
    parameters = {"SEED": seeds[0]} if "SEED" in names else {}
    parameters |= {name: seeds for name in ("SEEDS", "STUDENT_SEEDS") if name in names}
    return parameters


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    seeds = tuple(int(seed) for seed in argv[0].split(","))
    chapters = argv[1:] or sorted(run_chapter.chapters())
    os.environ.update(MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
    for chapter in chapters:
        parameters = seed_parameters(chapter, seeds)
        if not parameters:
            print(f"{chapter}: no seed settings, not run", flush=True)
            continue
        record, _ = run_chapter.run(chapter, "laptop", parameters, out=OUT_DIR)
        claims = record["claims_not_held"]
        print(
            f"{record['chapter']}: {record['status']} in {record['wall_seconds']:.0f} s; "
            f"{len(claims)} claims did not hold",
            flush=True,
        )
        for claim in claims:
            print(f"  - {claim[:400]}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
