"""The book's table of contents, ``_toc.yml``: its pages in reading order.

The one reader of that file for the scripts and tests that need the list (the
Colab set-up cell, the chapter benchmark, the structure and browser tests).
Jupyter Book reads it itself.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pages(root: Path = ROOT) -> list[str]:
    """Every page ``_toc.yml`` lists, in reading order: the root page, then each part's
    chapters with their sections, as written there (relative to ``root``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks among the pages, in reading order."""
    notebooks = (root / f"{Path(page).with_suffix('')}.ipynb" for page in pages(root))
    return [notebook for notebook in notebooks if notebook.is_file()]
